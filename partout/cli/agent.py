"""`partout agent`: run the agent daemon (enrol, follow the policy, apply, watch, report),
or apply once and exit with `--once`. Imports the agent only when run."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from partout.cli.common import reports_errors


@click.command(name="agent", short_help="Run the agent: enrol, receive policies, apply, watch, report.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="TOML configuration (see config/agent.toml); options given here override it.")
@click.option("--nats", "servers", multiple=True, metavar="URL",
              help="NATS URL of partout-nats (repeat for a cluster). Default: nats://127.0.0.1:4222.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Key, pinned master key, policies and backups. Default: <partout state dir>/agent.")
@click.option("--master-key", metavar="KEY", help="The master's public nkey to pin (else trusted on first use).")
@click.option("--token", metavar="TOKEN", help="Pre-shared enrolment token, for the master's auto-approval.")
@click.option("--interval", type=float, help="Seconds between re-applies of the policy (plus up to 10% splay). "
              "Default: 1800.")
@click.option("--enrol-interval", type=float,
              help="First wait between enrolment attempts while pending (doubles up to 30 s). Default: 1.")
@click.option("--once", is_flag=True, help="Apply the current policy once, publish the report and exit.")
@click.option("--wait", type=float, default=300.0, show_default=True,
              help="With --once: seconds to wait for approval and the policy.")
@click.option("--hostname", help="Use this hostname instead of the machine's (tests, several agents per host).")
@click.option("--facts", "facts_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Use these facts (JSON or YAML) instead of this machine's.")
@click.option("--no-watch", is_flag=True, help="Do not repair drift between runs.")
@reports_errors
def command(config_file: Path | None, servers: tuple[str, ...], state_dir: Path | None, master_key: str | None, token: str | None,
            interval: float | None, enrol_interval: float | None, once: bool, wait: float, hostname: str | None,
            facts_file: Path | None, no_watch: bool) -> None:
    """Enrol with the master, then apply the environment's policy, repair drift and report.

    Exit status with --once: 0 all resources ok, 1 some failed, 2 no usable policy
    (refused bundle, compile error, none published)."""
    from partout.agent.config import load_agent_config
    from partout.agent.daemon import Agent, EXIT_REFUSED
    from partout.agent.enrolment import EnrolmentRefused, EnrolmentTimeout
    from partout.state import ensure_state_dir
    from partout.statelock import lock_state_dir

    config = load_agent_config(
        config_file, servers=servers or None, state_dir=state_dir, master_key=master_key, token=token,
        interval=interval, enrol_interval=enrol_interval, hostname=hostname, facts_file=facts_file,
        watch=False if no_watch else None,
    )
    # one agent per state dir: two would share a key, policies and the applied sequence
    lock = lock_state_dir(ensure_state_dir(config.state_dir, private=True), command="partout agent")
    lock.describe(nats_url=config.servers[0])
    agent = Agent(config)
    if once:
        try:
            code = agent.run_once(wait=wait)
        except (EnrolmentRefused, EnrolmentTimeout) as error:
            click.echo(f"partout: error: {error}", err=True)
            sys.exit(EXIT_REFUSED)
        sys.exit(code)
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.start()
    click.echo(f"partout agent {agent.public_key} started; state in {config.state_dir}", err=True)
    while not stopping.wait(0.5):
        if agent.wait_stopped(0):
            break
    agent.stop()
    if agent.error:
        click.echo(f"partout: error: {agent.error}", err=True)
        sys.exit(EXIT_REFUSED if agent.state == "refused" else 1)

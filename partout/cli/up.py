"""`partout up`: NATS, a master and a local agent on this machine, in one process.

    <dir>/nats           partout-nats state (keys, JetStream), the server's log in nats/logs
    <dir>/master         the master's store (SQLite)
    <dir>/environments   one folder per environment; `production` is copied from the example
    <dir>/agent          the local agent's key, pinned master key, policies and backups
    <dir>/facts.d        the agent's custom facts: where the example policy may write
    <dir>/managed        the files the example policy manages

The local agent is approved by an enrolment token only `up` knows (<dir>/up-token).
"""

from __future__ import annotations

import secrets
import shutil
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from partout.cli.common import reports_errors

if TYPE_CHECKING:
    from partout.wire.fleet import RunReport

ENVIRONMENT = "production"
FALLBACK_POLICY = '''# The example environment of `partout up` (edit me and save).
managed = facts.custom.get("partout_up", {}).get("managed_dir", "/tmp/partout-example")
(p2
  .file(managed, ensure="directory", mode="0755")
  .file(f"{managed}/motd", content="Welcome to {{ facts.hostname }}\\n", is_template=True, watch=True))
'''


def example_environment() -> Path | None:
    """examples/environments/production of this checkout, if Partout runs from one."""
    import partout

    candidate = Path(partout.__file__).resolve().parent.parent / "examples" / "environments" / ENVIRONMENT
    return candidate if (candidate / "site.p2").is_file() else None


def prepare(directory: Path) -> tuple[Path, str]:
    """Create what the stack needs on first start; (environments dir, enrolment token)."""
    import json

    from partout.state import ensure_state_dir, read_secret, write_secret

    ensure_state_dir(directory)
    environments = directory / "environments"
    target = environments / ENVIRONMENT
    if not target.exists():
        environments.mkdir(parents=True, exist_ok=True)
        source = example_environment()
        if source is not None:
            shutil.copytree(source, target)
        else:
            target.mkdir()
            (target / "site.p2").write_text(FALLBACK_POLICY)
    facts_d = directory / "facts.d"
    facts_d.mkdir(exist_ok=True)
    managed = directory / "managed"
    (facts_d / "partout-up.json").write_text(json.dumps({"partout_up": {"managed_dir": str(managed)}}) + "\n")
    token_file = directory / "up-token"
    if not token_file.exists():
        write_secret(token_file, secrets.token_urlsafe(24).encode() + b"\n")
    return environments, read_secret(token_file).decode().strip()


def _line(report: RunReport) -> str:
    summary = report.report.summary_line()
    if report.report.failed:
        failed = [f"{r.id}: {r.summary}" for r in report.report.results if r.status == "failed"]
        summary += "\n    " + "\n    ".join(failed[:5])
    return f"{datetime.now():%H:%M:%S} {report.report.trigger:<8} policy {report.sequence}: {summary}"


@click.command(name="up", short_help="Run NATS, a master and a local agent on this machine.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where everything lives. Default: <partout state dir>/up.")
@click.option("--port", type=int, default=4222, show_default=True,
              help="NATS client port; 0 picks a free one. If the default is taken, a free one is used.")
@click.option("--interval", type=float, default=1800.0, show_default=True,
              help="Seconds between the agent's re-applies of the policy.")
@reports_errors
def command(state_dir: Path | None, port: int, interval: float) -> None:
    """Start partout-nats, a master serving the example environment, and a local agent
    approved against it; print where everything is; stop all on Ctrl-C."""
    from partout.agent.config import AgentConfig
    from partout.agent.daemon import Agent
    from partout.master.config import AutoApproveRule, MasterConfig
    from partout.master.daemon import Master
    from partout.nats.launcher import PortInUseError, start_backbone
    from partout.state import default_state_dir

    directory = (state_dir or default_state_dir() / "up").absolute()
    environments, token = prepare(directory)
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        backbone = start_backbone(directory / "nats", port=port, log_to_files=True)
    except PortInUseError:
        if port != 4222:
            raise
        backbone = start_backbone(directory / "nats", port=0, log_to_files=True)
    master: Any = None
    agent: Any = None
    output = threading.Lock()

    def on_report(report: RunReport) -> None:
        with output:
            click.echo(_line(report))

    try:
        master = Master(MasterConfig(
            nats_urls=tuple(backbone.urls), nats_state=directory / "nats", state_dir=directory / "master",
            environments=environments, auto_approve=(AutoApproveRule(environment=ENVIRONMENT, token=token),),
        )).start()
        agent = Agent(AgentConfig(servers=tuple(backbone.urls), state_dir=directory / "agent",
                                  master_key=master.public_key, token=token, interval=interval,
                                  facts_d=directory / "facts.d"), on_report=on_report)
        agent.start()
        for _ in range(100):  # approval takes one round trip; the banner wants the agent id
            if agent.agent_id or stopping.wait(0.1) or agent.wait_stopped(0):
                break
        _banner(directory, backbone.urls[0], environments, agent)
        while not stopping.wait(0.5):
            if agent.wait_stopped(0):
                click.echo(f"partout: the local agent stopped: {agent.error}", err=True)
                break
    finally:
        click.echo("stopping: agent, master, NATS", err=True)
        if agent is not None:
            agent.stop()
        if master is not None:
            master.stop()
        backbone.stop()
    click.echo("stopped", err=True)
    sys.exit(0 if agent is None or agent.error is None else 1)


def _banner(directory: Path, url: str, environments: Path, agent: Any) -> None:
    nats_state = directory / "nats"
    operator = f"--nats {url} --nats-state {nats_state}"
    site = environments / ENVIRONMENT / "site.p2"
    click.echo("\n".join([
        "partout up: NATS, master and a local agent are running",
        f"  NATS            {url}  (state and keys in {nats_state})",
        f"  master          state in {directory / 'master'}",
        f"  environments    {environments}  (the policy: {site})",
        f"  agent           {agent.agent_id or 'not approved yet'}, state in {directory / 'agent'}",
        f"  managed files   {directory / 'managed'}",
        "",
        f"Edit {site} and save: the agent applies it at once; each run is printed below.",
        f"  partout agents list {operator}",
        f"  partout reports {operator} {agent.agent_id or '<agent id>'}",
        "Ctrl-C stops everything.",
        "",
    ]), err=True)

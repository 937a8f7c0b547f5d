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
    from partout.statelock import StateDirLock
    from partout.wire.fleet import RunReport

ENVIRONMENT = "production"
DEFAULT_PORT = 4222
FALLBACK_POLICY = '''# The example environment of `partout up` (edit me and save).
managed = facts.custom.get("partout_up", {}).get("managed_dir", "/tmp/partout-example")
(p2
  .file(managed, ensure="directory", mode="0755")
  .file(f"{managed}/motd", content="Welcome to {{ facts.hostname }}\\n", is_template=True, watch=True))
'''


def example_environment(name: str = ENVIRONMENT) -> Path | None:
    """examples/environments/<name> of this checkout, if Partout runs from one."""
    from partout.cli.up_agents import example_source

    return example_source(name)


def prepare(directory: Path, example: str = ENVIRONMENT, role: str | None = None) -> tuple[Path, str]:
    """Create what the stack needs on first start; (environments dir, enrolment token)."""
    import json

    from partout.state import ensure_state_dir, read_secret, write_secret

    ensure_state_dir(directory)
    environments = directory / "environments"
    target = environments / ENVIRONMENT
    if not target.exists():
        environments.mkdir(parents=True, exist_ok=True)
        source = example_environment(example)
        if source is not None:
            shutil.copytree(source, target)
        else:
            target.mkdir()
            (target / "site.p2").write_text(FALLBACK_POLICY)
    facts_d = directory / "facts.d"
    facts_d.mkdir(exist_ok=True)
    managed = directory / "managed"
    (facts_d / "partout-up.json").write_text(json.dumps({"partout_up": {"managed_dir": str(managed)}}) + "\n")
    from partout.cli.up_agents import write_role

    write_role(facts_d, role)
    token_file = directory / "up-token"
    if not token_file.exists():
        write_secret(token_file, secrets.token_urlsafe(24).encode() + b"\n")
    return environments, read_secret(token_file).decode().strip()


MAX_LISTED = 5


def report_lines(report: RunReport, now: datetime | None = None) -> list[str]:
    """What `up` prints for one report. A drift repair names each resource and its change
    (`repaired file:/etc/motd: content changed`); a run gives its summary, then the changed
    and failed resources (at most MAX_LISTED of each)."""
    stamp = f"{(now or datetime.now()):%H:%M:%S}"
    results = report.report.results
    changed = [result for result in results if result.status == "changed"]
    failed = [result for result in results if result.status == "failed"]
    if report.report.trigger == "watch" and (changed or failed):
        return ([f"{stamp} repaired {result.id}: {result.summary}" for result in changed]
                + [f"{stamp} repair failed {result.id}: {result.summary}" for result in failed])
    lines = [f"{stamp} {report.report.trigger:<8} policy {report.sequence}: {report.report.summary_line()}"]
    for label, listed in (("changed", changed), ("failed", failed)):
        lines += [f"    {label:<8} {result.id}: {result.summary}" for result in listed[:MAX_LISTED]]
        if len(listed) > MAX_LISTED:
            lines.append(f"    ... and {len(listed) - MAX_LISTED} more {label}")
    return lines


class Console:
    """One lock for everything `up` prints: run lines that arrive before the banner wait
    for it, so the banner always comes first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[str] | None = []

    def report(self, report: RunReport) -> None:
        lines = report_lines(report)
        with self._lock:
            if self._held is not None:
                self._held.extend(lines)
                return
            for line in lines:
                click.echo(line)

    def banner(self, text: str) -> None:
        with self._lock:
            click.echo(text, err=True)
            sys.stderr.flush()
            for line in self._held or []:
                click.echo(line)
            self._held = None


def lock_everything(directory: Path) -> list[StateDirLock]:
    """Lock the up dir and each part's own dir: a second `up`, or a `partout agent`/`master`/
    `partout-nats` pointed inside this one, exits 2 instead of sharing its state."""
    from partout.state import ensure_state_dir
    from partout.statelock import lock_state_dir

    locks = [lock_state_dir(ensure_state_dir(directory), command="partout up")]
    try:
        for part in ("nats", "master", "agent"):
            locks.append(lock_state_dir(ensure_state_dir(directory / part, private=part == "agent"),
                                        command="partout up"))
    except BaseException:
        for lock in locks:
            lock.release()
        raise
    return locks


@click.command(name="up", short_help="Run NATS, a master and a local agent on this machine.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where everything lives. Default: <partout state dir>/up.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True,
              help="NATS client port; 0 picks a free one. If the default is taken, a free one is used (and said).")
@click.option("--interval", type=float, default=1800.0, show_default=True,
              help="Seconds between the agent's re-applies of the policy.")
@click.option("--example", default=ENVIRONMENT, show_default=True, metavar="NAME",
              help="Serve examples/environments/NAME as the production environment (on first start of the "
                   "state dir), e.g. webfarm.")
@click.option("--role", help="The local agent's custom fact `role` (the webfarm example: lb or web).")
@click.option("--extra-agent", "extra_roles", multiple=True, metavar="ROLE",
              help="Start another local agent with this role (repeat for more), e.g. --extra-agent web.")
@reports_errors
def command(state_dir: Path | None, port: int, interval: float, example: str, role: str | None,
            extra_roles: tuple[str, ...]) -> None:
    """Start partout-nats, a master serving the example environment, and a local agent
    approved against it; print where everything is; stop all on Ctrl-C.

    The webfarm example (p2.nodes, data-changed) with a load balancer and two web nodes:
    partout up --example webfarm --role lb --extra-agent web --extra-agent web
    """
    from partout.agent.config import AgentConfig
    from partout.agent.daemon import Agent
    from partout.master.config import AutoApproveRule, MasterConfig
    from partout.master.daemon import Master
    from partout.nats.discovery import BACKBONE_FILE, connection_details, write_backbone_file
    from partout.nats.launcher import PortInUseError, start_backbone
    from partout.state import default_state_dir

    from partout.cli.up_agents import checked_example, extra_agents
    from partout.cli.up_events import agent_events, master_events

    if example != ENVIRONMENT:
        checked_example(example)
    directory = (state_dir or default_state_dir() / "up").absolute()
    locks = lock_everything(directory)
    environments, token = prepare(directory, example, role)
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    port_note = ""
    try:
        backbone = start_backbone(directory / "nats", port=port, log_to_files=True)
    except PortInUseError:
        if port != DEFAULT_PORT:
            raise
        backbone = start_backbone(directory / "nats", port=0, log_to_files=True)
        port_note = f"port {DEFAULT_PORT} is taken; NATS listens on port {backbone.nodes[0].config.port} instead"
    url = backbone.urls[0]
    for lock in locks:
        lock.describe(nats_url=url)
    write_backbone_file(directory / "nats", connection_details(backbone.keys, backbone.urls, backbone.replicas))
    master: Any = None
    agent: Any = None
    extras: list[Any] = []
    console = Console()
    try:
        master = Master(MasterConfig(
            nats_urls=tuple(backbone.urls), nats_state=directory / "nats", state_dir=directory / "master",
            environments=environments, auto_approve=(AutoApproveRule(environment=ENVIRONMENT, token=token),),
            events=master_events(),
        )).start()
        agent = Agent(AgentConfig(servers=tuple(backbone.urls), state_dir=directory / "agent",
                                  master_key=master.public_key, token=token, interval=interval,
                                  facts_d=directory / "facts.d", events=agent_events()), on_report=console.report)
        agent.start()
        extras = extra_agents(directory, extra_roles, servers=backbone.urls, master_key=master.public_key,
                              token=token, interval=interval, on_report=console.report)
        for _ in range(100):  # approval takes one round trip; the banner wants the agent id
            if agent.agent_id or stopping.wait(0.1) or agent.wait_stopped(0):
                break
        console.banner(banner(directory, url, environments, agent.agent_id, port_note))
        while not stopping.wait(0.5):
            if agent.wait_stopped(0):
                click.echo(f"partout: the local agent stopped: {agent.error}", err=True)
                break
    finally:
        click.echo("stopping: agent, master, NATS", err=True)
        for extra in extras:
            extra.stop()
        if agent is not None:
            agent.stop()
        if master is not None:
            master.stop()
        backbone.stop()
        (directory / "nats" / BACKBONE_FILE).unlink(missing_ok=True)  # operator commands stop finding it
    click.echo("stopped", err=True)
    sys.exit(0 if agent is None or agent.error is None else 1)


def banner(directory: Path, url: str, environments: Path, agent_id: str | None, port_note: str = "") -> str:
    from partout.cli.up_events import EVENT_PERIOD
    from partout.nats.discovery import candidate_state_dirs

    nats_state = directory / "nats"
    site = environments / ENVIRONMENT / "site.p2"
    # operator commands find this backbone by themselves when it sits where they look
    flags = "" if nats_state in [path.absolute() for path in candidate_state_dirs()] else f" --nats {url} --nats-state {nats_state}"
    return "\n".join([
        "partout up: NATS, master and a local agent are running",
        *([f"  note            {port_note}"] if port_note else []),
        f"  NATS            {url}  (state and keys in {nats_state})",
        f"  master          state in {directory / 'master'}",
        f"  environments    {environments}  (the policy: {site})",
        f"  agent           {agent_id or 'not approved yet'}, state in {directory / 'agent'}",
        f"  managed files   {directory / 'managed'}",
        "",
        f"Edit {site} and save: the agent applies it at once; each run is printed below.",
        f"  partout agents list{flags}",
        f"  partout reports{flags} {agent_id or '<agent id>'} --results",
        f"  partout events --follow{flags}   # a repair shows within {EVENT_PERIOD} s (the event period, "
        "longer under a storm)",
        "Ctrl-C stops everything.",
        "",
    ])

"""`partout agents list/show/approve/revoke`: the operator CLI against a running master."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from partout.cli.common import reports_errors
from partout.cli.terminal import safe, sanitised

if TYPE_CHECKING:
    from partout.operator import OperatorClient


def connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--nats, --nats-state and --operator-key, shared by every operator command. Without them,
    a running local `partout-nats` or `partout up` is found by itself (its backbone.json)."""
    function = click.option("--operator-key", type=click.Path(dir_okay=False, path_type=Path),
                            help="The operator's nkey seed file. Default: <nats state>/keys/operator.nk.")(function)
    function = click.option("--nats-state", type=click.Path(file_okay=False, path_type=Path),
                            help="partout-nats' state dir (to find operator.nk). Default: that of the "
                                 "partout-nats or partout up running here.")(function)
    function = click.option("--nats", "nats_urls", multiple=True, metavar="URL",
                            help="NATS server URL. Default: that of the partout-nats or partout up running "
                                 "here, else nats://127.0.0.1:4222.")(function)
    return function


@contextmanager
def operator_client(nats_urls: Sequence[str], nats_state: Path | None, operator_key: Path | None) -> Iterator[OperatorClient]:
    from partout.nats.discovery import operator_connection
    from partout.operator import OperatorClient

    servers, key_file = operator_connection(tuple(nats_urls), nats_state, operator_key)
    client = OperatorClient.connect(servers, key_file=key_file)
    try:
        yield client
    finally:
        client.close()


def table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain aligned text table; every cell made safe for a terminal."""
    cells = [[safe(value) for value in row] for row in ([list(headers)] + [list(row) for row in rows])]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells)


def short_time(value: str | None) -> str:
    return (value or "-").replace("T", " ")[:19]


def described(agent: dict[str, Any]) -> str:
    """Hostname and the key it stands for (a hostname is only the agent's claim), and how the
    operator's words matched it when that was by hostname."""
    how = ", matched by hostname" if agent.get("matched") == "hostname" else ""
    return f"{agent.get('hostname') or '-'} (key {agent.get('public_key')}{how})"


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


@click.group(short_help="List, show, approve and revoke agents on a running master.")
def command() -> None:
    """Manage the agents of a running master over NATS, with the operator's nkey."""


@command.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "revoked"]), help="Only agents in this state.")
@click.option("--env", "environment", help="Only agents of this environment.")
@click.option("--where", metavar="QUERY", help="Only agents this inventory query selects, e.g. 'role == \"web\"'.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@connection_options
@reports_errors
def list_agents(status: str | None, environment: str | None, where: str | None, as_json: bool,
                nats_urls: tuple[str, ...], nats_state: Path | None, operator_key: Path | None) -> None:
    """List agents, oldest enrolment first."""
    from partout.cli.inventory import checked_query, echo_warnings

    query = checked_query(where) if where is not None else None  # before connecting
    with operator_client(nats_urls, nats_state, operator_key) as client:
        if query is None:
            agents = client.agents(status=status, environment=environment)
        else:
            agents, warnings = client.agents_where(query, status=status, environment=environment)
            echo_warnings(warnings)
    if as_json:
        echo_json(agents)
        return
    agents = sanitised(agents)
    rows = [(agent.get("agent_id") or agent["public_key"][:16] + "...", agent.get("hostname", ""),
             agent.get("status", ""), agent.get("environment") or "-", short_time(agent.get("last_seen")))
            for agent in agents]
    click.echo(table(rows, ("ID", "HOSTNAME", "STATUS", "ENVIRONMENT", "LAST SEEN")) if rows else "no agents")


@command.command("show")
@click.argument("agent")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@connection_options
@reports_errors
def show_agent(agent: str, as_json: bool, nats_urls: tuple[str, ...], nats_state: Path | None,
               operator_key: Path | None) -> None:
    """Show one agent (id, public key, unique prefix or hostname): facts summary, last report."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        data = client.show(agent)
    if as_json:
        echo_json(data)
        return
    data = sanitised(data)
    if data.get("matched") == "hostname":
        click.echo(f"matched by hostname: key {data['public_key']}")
    for field in ("agent_id", "public_key", "hostname", "status", "environment", "enrolled_at", "approved_at",
                  "revoked_at", "last_seen"):
        click.echo(f"{field.replace('_', ' ')}: {data.get(field) or '-'}")
    facts = data.get("facts") or {}
    click.echo(f"facts: {data.get('facts_count', 0)} top-level keys")
    for key, value in facts.items():
        shown = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else (
            ", ".join(map(str, value)) if isinstance(value, list) else value)
        click.echo(f"  {key}: {shown}")
    report = data.get("last_report")
    if report is None:
        click.echo("last report: none")
    else:
        counts = ", ".join(f"{count} {status}" for status, count in sorted((report.get("counts") or {}).items()))
        click.echo(f"last report: {short_time(report.get('started_at'))} {report.get('report_id')} "
                   f"({counts or 'no resources'})")
    dependencies = data.get("dependencies") or []
    click.echo(f"policy depends on: {'nothing from the inventory' if not dependencies else ''}".rstrip())
    for entry in dependencies:
        fields = ", ".join(entry.get("fields") or [])
        scope = " (all environments)" if entry.get("scope") == "all" else ""
        click.echo(f"  p2.nodes({entry.get('query')}) fields {fields or '-'}{scope}: asked "
                   f"{short_time(entry.get('asked_at'))}, answer last changed {short_time(entry.get('changed_at'))}")


@command.command("approve")
@click.argument("agent")
@click.option("--env", "environment", help="Environment to put it in. Default: the master's default.")
@connection_options
@reports_errors
def approve_agent(agent: str, environment: str | None, nats_urls: tuple[str, ...], nats_state: Path | None,
                  operator_key: Path | None) -> None:
    """Approve a pending agent (or move an approved one to another environment)."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        data = sanitised(client.approve(agent, environment))
    click.echo(f"approved {described(data)} as {data['agent_id']} in environment {data['environment']}")


@command.command("revoke")
@click.argument("agent")
@connection_options
@reports_errors
def revoke_agent(agent: str, nats_urls: tuple[str, ...], nats_state: Path | None, operator_key: Path | None) -> None:
    """Revoke an agent: its connections are closed and it is refused from then on."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        data = sanitised(client.revoke(agent))
    click.echo(f"revoked {data.get('agent_id') or '-'} {described(data)}; "
               f"{data.get('disconnected', 0)} connection(s) closed")


@command.command("apply")
@click.argument("agent")
@connection_options
@reports_errors
def apply_agent(agent: str, nats_urls: tuple[str, ...], nats_state: Path | None, operator_key: Path | None) -> None:
    """Have an approved agent apply its policy now (a control message)."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        data = sanitised(client.apply_now(agent))
    click.echo(f"asked {data['agent_id']} {described(data)} to apply its policy now")


@command.command("policy-errors")
@click.option("--env", "environment", help="Only this environment.")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@connection_options
@reports_errors
def policy_errors(environment: str | None, limit: int, as_json: bool, nats_urls: tuple[str, ...],
                  nats_state: Path | None, operator_key: Path | None) -> None:
    """Policies the master could not compile (and so did not publish), newest first."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        errors = client.policy_errors(environment, limit)
    if as_json:
        echo_json(errors)
        return
    errors = sanitised(errors)
    if not errors:
        click.echo("no policy errors")
        return
    for error in errors:
        where = f"{error['file']}:{error['line']}" if error.get("line") else (error.get("file") or "")
        click.echo(f"{short_time(error.get('time'))} {error['environment']}: {where}: {error['message']}")

"""`partout events`: what agents' resources did, from a running master (and, with
--follow, as it happens, from the node events it republishes)."""

from __future__ import annotations

import json
import queue
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from partout.cli.agents import connection_options, echo_json, operator_client, short_time, table
from partout.cli.common import reports_errors
from partout.cli.terminal import safe, sanitised

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
STATUSES = ("ok", "changed", "failed", "skipped")


def since_time(text: str | None, *, now: datetime | None = None) -> str | None:
    """`--since` as an ISO time: an age (`90s`, `15m`, `1h`, `2d`, `1w`) or an ISO 8601 time."""
    if not text:
        return None
    found = _AGO.match(text.strip())
    if found is not None:
        age = timedelta(**{_UNITS[found.group(2)]: float(found.group(1))})
        return ((now or datetime.now(UTC)) - age).isoformat()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither an age (30s, 15m, 1h, 2d, 1w) nor an ISO 8601 time",
                                 param_hint="--since") from None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def event_row(event: dict[str, Any]) -> tuple[object, ...]:
    return (short_time(event.get("received_at")), event.get("agent_id", ""), event.get("module", ""),
            event.get("status", ""), event.get("count", 0), event.get("title") or "-", event.get("message") or "")


HEADERS = ("RECEIVED", "AGENT", "MODULE", "STATUS", "COUNT", "TITLE", "MESSAGE")
TRIGGER_HEADERS = ("TIME", "TRIGGER", "SENDER", "STATUS", "WHERE", "REACHED", "REASON")
REACHED_SHOWN = 3  # agent ids shown per trigger; --json has them all


def trigger_row(trigger: dict[str, Any]) -> tuple[object, ...]:
    reached = list(trigger.get("reached") or [])
    listed = ", ".join(reached[:REACHED_SHOWN]) + (", ..." if len(reached) > REACHED_SHOWN else "")
    return (short_time(trigger.get("received_at")), trigger.get("name", ""), trigger.get("sender") or "-",
            trigger.get("status", ""), trigger.get("where") or "-",
            f"{len(reached)}: {listed}" if reached else "-", trigger.get("reason") or "")


def event_line(event: dict[str, Any]) -> str:
    """One node event as one terminal-safe line (--follow)."""
    row = [safe(value) for value in event_row(event)]
    return "  ".join(row).rstrip()


@click.command(short_help="Show agents' events from a running master.")
@click.option("--agent", help="Only this agent (id, public key, unique prefix or hostname).")
@click.option("--module", help="Only this module, e.g. file ('_all' for batches too coarse to name one).")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--since", help="Only events received since: an age (30s, 15m, 1h, 2d, 1w) or an ISO time.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="How many raw events at most.")
@click.option("--follow", is_flag=True, help="Then print events as the master stores them, until interrupted.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --follow: one node event per line).")
@connection_options
@reports_errors
def command(agent: str | None, module: str | None, status: str | None, since: str | None, limit: int, follow: bool,
            as_json: bool, nats_urls: tuple[str, ...], nats_state: Path | None, operator_key: Path | None) -> None:
    """Show stored events, newest first, and the totals of every count kept (raw events for a
    day, then hourly, daily and weekly sums); then the triggers received (fired or refused:
    who sent them, the query, the agents they reached; with --agent, those that reached it). With --follow, print each new event as the
    master republishes it on partout.node.<agent>.<module>.<status>."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        found = client.events(agent=agent, module=module, status=status, since=since_time(since), limit=limit)
        if as_json and not follow:
            echo_json(found)
            return
        if not as_json:
            _print_stored(found)
        if not follow:
            return
        heard: queue.Queue[bytes] = queue.Queue()
        client.follow(found["subject"], lambda message: heard.put(message.data))
        if not as_json:
            click.echo(f"following {found['subject']} (Ctrl-C to stop)")
        try:
            while True:
                data = heard.get()
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                click.echo(json.dumps(event, sort_keys=True) if as_json else event_line(sanitised(event)))
        except KeyboardInterrupt:
            pass


def _print_stored(found: dict[str, Any]) -> None:
    found = sanitised(found)
    subject = found.get("agent")
    if subject and found.get("matched") == "hostname":
        click.echo(f"agent {subject.get('agent_id') or '-'} {subject.get('hostname') or '-'} "
                   f"(key {subject.get('public_key')}, matched by hostname)")
    events = found.get("events") or []
    click.echo(table([event_row(event) for event in events], HEADERS) if events else "no raw events")
    if found.get("truncated"):
        click.echo("(more raw events than one answer holds: narrow with --agent, --module, --status or --since)")
    totals = found.get("totals") or {}
    by_status = ", ".join(f"{name} {count}" for name, count in sorted((totals.get("by_status") or {}).items()))
    by_tier = ", ".join(f"{name} {count}" for name, count in (totals.get("by_tier") or {}).items())
    click.echo(f"total {totals.get('count', 0)} events" + (f" ({by_status}; kept as {by_tier})" if by_status else ""))
    triggers = found.get("triggers") or []
    if triggers:
        click.echo("")
        click.echo(table([trigger_row(trigger) for trigger in triggers], TRIGGER_HEADERS))

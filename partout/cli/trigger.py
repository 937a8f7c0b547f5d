"""`partout trigger NAME --where QUERY --data JSON`: have the matching agents apply now, with
the trigger's data given to their policies' `p2.on_trigger("NAME")` blocks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from partout.cli.agents import connection_options, echo_json, operator_client
from partout.cli.common import reports_errors
from partout.cli.terminal import safe
from partout.wire.triggers import MAX_TRIGGER_BYTES, TRIGGER_NAME_PATTERN

SHOWN_IDS = 10  # agent ids printed; --json lists them all


def trigger_name(text: str) -> str:
    if not re.match(TRIGGER_NAME_PATTERN, text):
        raise click.BadParameter(f"{text!r} is not a trigger name: 1 to 100 letters, digits, '-' and '_'",
                                 param_hint="NAME")
    return text


def trigger_data(text: str | None) -> dict[str, Any]:
    """--data: a JSON object (what the policy's p2.on_trigger blocks get)."""
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as error:
        raise click.BadParameter(f"not JSON: {error}", param_hint="--data") from None
    if not isinstance(data, dict):
        raise click.BadParameter("give a JSON object, e.g. '{\"version\": \"1.2\"}'", param_hint="--data")
    if len(json.dumps(data)) > MAX_TRIGGER_BYTES // 2:
        raise click.BadParameter(f"more than {MAX_TRIGGER_BYTES // 2} bytes of JSON", param_hint="--data")
    return data


def reached_text(reached: list[str]) -> str:
    shown = ", ".join(reached[:SHOWN_IDS])
    more = f" (and {len(reached) - SHOWN_IDS} more)" if len(reached) > SHOWN_IDS else ""
    return f": {shown}{more}" if reached else ""


@click.command(short_help="Have the agents a query selects apply now, with the trigger's data.")
@click.argument("name")
@click.option("--where", default="true", show_default=True,
              help="Inventory query selecting the approved agents (every environment), e.g. \"role == 'app'\".")
@click.option("--data", "data_text", metavar="JSON", help="A JSON object given to the p2.on_trigger(NAME) blocks.")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign and connect with this seed file: an integration's with the trigger role "
                   "(default: the operator key).")
@click.option("--no-wait", is_flag=True, help="Send it and return, without waiting for the master's answer.")
@click.option("--json", "as_json", is_flag=True, help="Print the master's answer as JSON.")
@connection_options
@reports_errors
def command(name: str, where: str, data_text: str | None, key_file: Path | None, no_wait: bool, as_json: bool,
            nats_urls: tuple[str, ...], nats_state: Path | None, operator_key: Path | None) -> None:
    """Fire trigger NAME: the master sends it to the approved agents --where selects, which
    apply their policy now, running its p2.on_trigger("NAME") blocks with --data in scope.
    Triggers arriving close together reach an agent as one run (at most one per the
    master's trigger_window).

    The request is signed with the operator key (found like the other operator commands),
    or with --key, an integration's seed (one with the trigger role; a reader's is refused).
    The answer lists the agents reached; `partout events` shows the trigger afterwards."""
    trigger_name(name)
    data = trigger_data(data_text)
    with operator_client(nats_urls, nats_state, key_file or operator_key) as client:
        reply = client.trigger(name, where, data, wait=not no_wait)
    if reply is None:
        click.echo(f"trigger {safe(name)} sent")
        return
    if as_json:
        echo_json(reply.model_dump(mode="json"))
        return
    for warning in reply.warnings:
        click.echo(f"warning: {safe(warning)}", err=True)
    count = len(reply.reached)
    click.echo(f"trigger {safe(name)} reached {count} agent{'s' if count != 1 else ''}"
               f"{safe(reached_text(list(reply.reached)))} (id {safe(reply.trigger_id)})")

"""`partout facts-of --where QUERY --fields os.family,hostname`: the inventory of a running
master (agents' metadata and facts) through the operator API; and the query check that
`partout agents list --where` shares. A query that does not parse is refused here, before
any connection, with the parser's message and a caret under the column (exit 2)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from partout.cli.agents import connection_options, echo_json, operator_client, table
from partout.cli.common import EXIT_USAGE, reports_errors
from partout.cli.terminal import sanitised


def checked_query(text: str) -> str:
    """`text` if it parses as an inventory query; else the parser's message and exit 2."""
    from partout.inventory import Query, QueryError

    try:
        Query.parse(text)
    except QueryError as error:
        click.echo(f"partout: error: {error}", err=True)
        sys.exit(EXIT_USAGE)
    return text


def checked_fields(text: str | None) -> list[str] | None:
    """Comma-separated field names, each checked like a query's names (exit 2 if bad)."""
    if text is None:
        return None
    from partout.inventory import QueryError, parse_field

    fields = [name.strip() for name in text.split(",") if name.strip()]
    for name in fields:
        try:
            parse_field(name)
        except QueryError as error:
            click.echo(f"partout: error: --fields {name!r}: {error}", err=True)
            sys.exit(EXIT_USAGE)
    return fields


def echo_warnings(warnings: list[str]) -> None:
    for warning in sanitised(warnings):
        click.echo(f"partout: warning: {warning}", err=True)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


@click.command(name="facts-of", short_help="Agents' facts and metadata that an inventory query selects.")
@click.option("--where", "where", required=True, metavar="QUERY",
              help="An inventory query, e.g. 'role == \"web\" and os.family in [\"debian\", \"redhat\"]'.")
@click.option("--fields", metavar="NAMES", help="Comma-separated fields to show, e.g. os.family,hostname. "
                                                  "Default: each agent's whole document.")
@click.option("--env", "environment", help="Only agents of this environment.")
@click.option("--status", type=click.Choice(["pending", "approved", "revoked"]), help="Only agents in this state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts (one object per agent).")
@connection_options
@reports_errors
def command(where: str, fields: str | None, environment: str | None, status: str | None, as_json: bool,
            nats_urls: tuple[str, ...], nats_state: Path | None, operator_key: Path | None) -> None:
    """Show the chosen facts of the agents QUERY selects, sorted by hostname then id.

    Names: id, hostname, environment (env), status, last_seen; built-in fact sections
    (os.family, cpus, memory ...); anything else is a custom fact (role = custom.role).
    """
    chosen, query = checked_fields(fields), checked_query(where)  # before connecting
    with operator_client(nats_urls, nats_state, operator_key) as client:
        result = client.inventory(query, chosen, status=status, environment=environment)
    rows, warnings = result["rows"], result["warnings"]
    echo_warnings(warnings)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no agents match")
        return
    names = chosen or ["id", "hostname", "environment", "status", "last_seen"]
    click.echo(table([[cell(row.get(name)) for name in names] for row in sanitised(rows)],
                     [name.upper() for name in names]))

"""`partout reports ID`: an agent's run reports, newest first, from a running master."""

from __future__ import annotations

from pathlib import Path

import click

from partout.cli.agents import connection_options, described, echo_json, operator_client, short_time, table
from partout.cli.common import reports_errors
from partout.cli.terminal import sanitised


@click.command(short_help="Show an agent's run reports from a running master.")
@click.argument("agent")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many reports.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with every resource result) for scripts.")
@click.option("--results", is_flag=True, help="List each resource's result under its report.")
@connection_options
@reports_errors
def command(agent: str, limit: int, as_json: bool, results: bool, nats_urls: tuple[str, ...],
            nats_state: Path | None, operator_key: Path | None) -> None:
    """Show the run reports of AGENT (id, public key, unique prefix or hostname), newest first."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        found = client.agent_reports(agent, limit=limit)
    if as_json:
        echo_json(found["reports"])
        return
    found = sanitised(found)
    reports, subject = found["reports"], found["agent"]
    if found.get("matched") == "hostname":
        click.echo(f"agent {subject.get('agent_id') or '-'} {described({**subject, 'matched': 'hostname'})}")
    if not reports:
        click.echo("no reports")
        return
    rows = []
    for report in reports:
        counts = report.get("counts") or {}
        rows.append((short_time(report.get("started_at")), report.get("report_id", ""),
                     f"{report.get('duration', 0):.2f}s", counts.get("changed", 0), counts.get("failed", 0),
                     sum(counts.values()), (report.get("policy_digest") or "-")[:12]))
    click.echo(table(rows, ("STARTED", "REPORT", "DURATION", "CHANGED", "FAILED", "RESOURCES", "POLICY")))
    if results:
        for report in reports:
            click.echo(f"\n{report.get('report_id')}:")
            for result in report.get("results") or []:
                click.echo(f"  {result['status']:<8} {result['resource']}  {result.get('summary', '')}")

"""`partout facts`: this machine's facts as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from partout.cli.common import reports_errors


@click.command(name="facts", short_help="Print this machine's facts as JSON.")
@click.option(
    "--facts-d", type=click.Path(path_type=Path, file_okay=False),
    help="Folder of custom facts (JSON, YAML, executables). Default: /etc/partout/facts.d.",
)
@click.option("--section", metavar="NAME", help="Print only this section, e.g. os, packages, custom.")
@reports_errors
def command(facts_d: Path | None, section: str | None) -> None:
    """Print this machine's facts as JSON: every section, custom facts under `custom`.

    Policies read them as `facts.os.family`, `facts.packages`, `facts.custom.role`.
    """
    from partout.facts import SECTIONS, gather
    from partout.facts.model import LAZY_SECTIONS

    facts = gather(facts_d=facts_d)
    if section is None:
        click.echo(facts.load_all().model_dump_json(indent=2))
        return
    if section not in SECTIONS:
        raise click.BadParameter(f"unknown section {section!r}; choose from {', '.join(SECTIONS)}", param_hint="--section")
    if section in LAZY_SECTIONS:
        getattr(facts, section)  # errors raise here as themselves, not inside the serializer
    value = facts.model_dump(mode="json", include={section})[section]
    click.echo(json.dumps(value, indent=2))

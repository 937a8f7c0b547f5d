"""`partout backups list|show|restore`: the contents Partout replaced or removed."""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from partout.cli.common import reports_errors


def _state_dir_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--state-dir", type=click.Path(path_type=Path, file_okay=False),
        help="Partout's state directory. Default: /var/lib/partout for root, else ~/.local/state/partout.",
    )(function)


def _store(state_dir: Path | None) -> Any:
    from partout.modules.files.backup import BackupStore
    from partout.state import default_state_dir

    return BackupStore(state_dir if state_dir is not None else default_state_dir())


@click.group(name="backups", short_help="List, show and restore file contents Partout replaced.")
def command() -> None:
    """List, show and restore the file contents Partout replaced or removed.

    Every backup is named by the sha256 of its content; any unique prefix
    of 4 or more hex digits will do.
    """


@command.command(name="list")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON lines.")
@_state_dir_option
@reports_errors
def list_backups(path: Path | None, as_json: bool, state_dir: Path | None) -> None:
    """List backups, oldest first, of every file, of PATH, or of the files that
    were under directory PATH: time, sha256 prefix, size, mode and path."""
    wanted = path.absolute() if path is not None else None
    entries = _store(state_dir).entries(wanted)
    if as_json:
        for entry in entries:
            click.echo(entry.model_dump_json())
        return
    if not entries:
        click.echo(f"no backups{f' of {wanted}' if wanted else ''}", err=True)
        return
    for entry in entries:
        when = datetime.fromtimestamp(entry.time).astimezone().isoformat(timespec="seconds")
        click.echo(f"{when}  {entry.sha256[:12]}  {entry.size:>9}  {stat.S_IMODE(entry.mode):04o}  {entry.path}")


@command.command(name="show")
@click.argument("sha")
@_state_dir_option
@reports_errors
def show_backup(sha: str, state_dir: Path | None) -> None:
    """Print the content of backup SHA, byte for byte."""
    content = _store(state_dir).read(sha)
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()


@command.command(name="restore")
@click.argument("sha")
@click.option("--to", "destination", type=click.Path(path_type=Path, dir_okay=False),
              help="Write it here instead of where it came from.")
@_state_dir_option
@reports_errors
def restore_backup(sha: str, destination: Path | None, state_dir: Path | None) -> None:
    """Write backup SHA back to its path (or --to PATH), atomically, with its mode.

    The content it replaces is backed up first, so a restore can be undone.
    """
    store = _store(state_dir)
    entry = store.find(sha)
    written = store.restore(entry, destination.absolute() if destination is not None else None)
    click.echo(f"restored {written} from backup {entry.sha256[:12]}")

"""`partout integrations add/list/remove`: identities for third parties, on a running master.

`add` makes the integration's nkey pair here: the seed goes to --out (0600) and only the
public key is sent to the master, in a signed operator request."""

from __future__ import annotations

import os
from pathlib import Path

import click

from partout.cli.agents import connection_options, echo_json, operator_client, short_time, table
from partout.cli.common import reports_errors
from partout.cli.terminal import safe, sanitised
from partout.errors import StateError


class SeedFileError(StateError):
    """The seed file cannot be written where --out says."""


def _staged_seed(out: Path, seed: bytes, *, force: bool) -> Path:
    """The seed in a 0600 temporary file beside `out` (so that writing fails before the
    master registers anything); `out` itself is checked, not touched."""
    from partout.state import write_secret

    if (out.exists() or out.is_symlink()) and not force:
        raise SeedFileError(f"--out {out} exists; give --force to replace it, or another file")
    if out.is_dir():
        raise SeedFileError(f"--out {out} is a directory; give a file name")
    staged = out.with_name(f".{out.name}.partout-new")
    try:
        write_secret(staged, seed + b"\n")
    except OSError as error:
        raise SeedFileError(f"--out {out}: cannot write there: {error.strerror or error}") from error
    return staged


def _place(staged: Path, out: Path, *, force: bool) -> None:
    """Move the staged seed to `out` atomically; without `force`, never over a file that
    appeared meanwhile (a hard link fails when the name exists, a rename would not)."""
    if force:
        os.replace(staged, out)
        return
    try:
        os.link(staged, out)
    finally:
        staged.unlink(missing_ok=True)


@click.group(short_help="Add, list and remove third-party integrations on a running master.")
def command() -> None:
    """Give third parties (dashboards, chat bots, CI) an nkey identity of their own: a reader
    receives the node events on partout.node.>; a trigger may also publish partout.trigger.>."""


@command.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["reader", "trigger"]), required=True,
              help="reader: subscribe partout.node.> only; trigger: that and publish partout.trigger.>.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="File to write the integration's nkey seed to (mode 0600).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@connection_options
@reports_errors
def add_integration(name: str, role: str, out: Path, force: bool, nats_urls: tuple[str, ...],
                    nats_state: Path | None, operator_key: Path | None) -> None:
    """Make a key pair for integration NAME, write its seed to --out and register its public key."""
    import nkeys

    from partout.master.store.integrations import IntegrationError, check_integration_name
    from partout.nats.jwt import create_key

    try:
        check_integration_name(name)
    except IntegrationError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from None
    key_pair = create_key(nkeys.PREFIX_BYTE_USER)
    public_key = key_pair.public_key.decode("ascii")
    staged = _staged_seed(out, bytes(key_pair.seed), force=force)
    try:
        with operator_client(nats_urls, nats_state, operator_key) as client:
            data = sanitised(client.add_integration(name, role, public_key))
            try:
                _place(staged, out, force=force)
            except OSError as error:  # --out appeared meanwhile: undo the registration
                client.remove_integration(name)
                raise SeedFileError(f"--out {out}: {error.strerror or error}; the integration was not "
                                    "added") from error
    except BaseException:  # refused, unreachable, interrupted: no seed of an unregistered key stays
        staged.unlink(missing_ok=True)
        raise
    click.echo(f"added integration {data['name']} ({data['role']}); seed written to {safe(out)}")
    click.echo(f"public key: {data['public_key']}")


@command.command("list")
@click.option("--removed", is_flag=True, help="Include removed integrations.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@connection_options
@reports_errors
def list_integrations(removed: bool, as_json: bool, nats_urls: tuple[str, ...], nats_state: Path | None,
                      operator_key: Path | None) -> None:
    """List integrations, oldest first."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        found = client.integrations(removed=removed)
    if as_json:
        echo_json(found)
        return
    found = sanitised(found)
    rows = [(item["name"], item["role"], item["public_key"], short_time(item.get("added_at")),
             short_time(item.get("removed_at"))) for item in found]
    headers = ("NAME", "ROLE", "PUBLIC KEY", "ADDED", "REMOVED")
    click.echo(table(rows if removed else [row[:4] for row in rows], headers if removed else headers[:4])
               if rows else "no integrations")


@command.command("remove")
@click.argument("name")
@connection_options
@reports_errors
def remove_integration(name: str, nats_urls: tuple[str, ...], nats_state: Path | None,
                       operator_key: Path | None) -> None:
    """Remove integration NAME: its connections are closed and its key refused from then on."""
    with operator_client(nats_urls, nats_state, operator_key) as client:
        data = sanitised(client.remove_integration(name))
    click.echo(f"removed integration {data['name']} (key {data['public_key']}); "
               f"{data.get('disconnected', 0)} connection(s) closed")

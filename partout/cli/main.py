"""`partout` and its subcommands. Subcommands are imported only when run, so that
`partout apply` does not pay for NATS or the master."""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from partout import __version__
from partout.cli.common import long_lived

# name -> (python module defining `command`, one-line help shown by `partout --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "apply": ("partout.cli.apply", "Compile and apply a policy on this machine."),
    "facts": ("partout.cli.facts", "Print this machine's facts as JSON."),
    "doc": ("partout.cli.doc", "Show the options of every directive, from the module schemas."),
    "backups": ("partout.cli.backups", "List, show and restore file contents Partout replaced."),
    "master": ("partout.cli.master", "Run the master: enrolment, policies, facts and reports."),
    "agent": ("partout.cli.agent", "Run the agent: enrol, receive policies, apply, watch, report."),
    "up": ("partout.cli.up", "Run NATS, a master and a local agent on this machine."),
    "agents": ("partout.cli.agents", "List, show, approve and revoke agents on a running master."),
    "facts-of": ("partout.cli.inventory", "Agents' facts and metadata that an inventory query selects."),
    "reports": ("partout.cli.reports", "Show an agent's run reports from a running master."),
    "integrations": ("partout.cli.integrations", "Add, list and remove third-party integrations on a running master."),
    "events": ("partout.cli.events", "Show agents' events from a running master, or follow them."),
    "trigger": ("partout.cli.trigger", "Have the agents a query selects apply now, with the trigger's data."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module_name, short_help = SUBCOMMANDS[name]
        try:
            with long_lived():
                module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return _unavailable(name, short_help)
        command: click.Command = module.command
        return command


def _unavailable(name: str, short_help: str) -> click.Command:
    @click.command(name=name, short_help=short_help, help=short_help)
    def not_built() -> None:
        raise click.UsageError(f"'partout {name}' is not available in this build.")

    return not_built


def configure_logging(debug: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="partout")
@click.option("--debug", is_flag=True, help="Log debug messages and show tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Partout: policy-based, event-driven configuration management.

    Write policies in the P2 DSL, apply them here with `partout apply`, or run a
    fleet with `partout up` (NATS, master and agent on one machine).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    configure_logging(debug)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="partout")

"""`partout apply`: compile a policy and apply it on this machine, optionally staying
up to repair drift (`--watch`). Imports the engine, compiler and facts only when run,
and the watcher only with --watch; never NATS or the master."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from partout.cli.common import EXIT_FAILED, EXIT_OK, long_lived, reports_errors

if TYPE_CHECKING:
    from partout.report import Report

LOG_MESSAGE_PREFIX = "message:"
STATUS_WIDTH = 8


@click.command(name="apply", short_help="Compile and apply a policy on this machine.")
@click.argument("policy", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--noop", is_flag=True, help="Report what would change, with diffs; change nothing.")
@click.option("--watch", is_flag=True, help="Stay up after the run and repair drift of watched resources.")
@click.option("--json", "as_json", is_flag=True, help="Print the Report as JSON (one line per repair with --watch).")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Backups and caches. Default: /var/lib/partout as root, else ~/.local/state/partout.")
@click.option("--facts", "facts_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Use these facts (JSON or YAML) instead of this machine's, e.g. to test a policy.")
@click.option("--facts-d", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of custom facts. Default: /etc/partout/facts.d.")
@click.option("--inventory", "inventory_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Nodes that p2.nodes reads (JSON or YAML list of {hostname, facts, ...}); without it, a "
                   "policy calling p2.nodes fails.")
@click.option("--trigger", "trigger_options", multiple=True, metavar="NAME[=JSON]",
              help="Run as if trigger NAME fired (with JSON object data): its p2.on_trigger blocks apply. "
                   "Repeatable.")
@click.option("-v", "--diff", "show_diff", is_flag=True, help="Show unified diffs on real runs too.")
@click.option("--repair-burst", type=click.IntRange(min=1), default=5, show_default=True,
              help="With --watch: repairs of one resource allowed back to back before it counts as flapping.")
@click.option("--repair-rate", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="With --watch: then at most this many repairs per second of one resource.")
@reports_errors
def command(policy: Path, noop: bool, watch: bool, as_json: bool, state_dir: Path | None,
            facts_file: Path | None, facts_d: Path | None, inventory_file: Path | None,
            trigger_options: tuple[str, ...], show_diff: bool, repair_burst: int, repair_rate: float) -> None:
    """Compile POLICY (a .p2 file) for this machine and apply it.

    Exit status: 0 all resources ok or changed, 1 some failed, 2 bad policy or usage.
    """
    with long_lived():
        from partout.actors.flap import RepairLimit
        from partout.dsl.compiler import compile_policy
        from partout.engine import Engine
        from partout.errors import PolicyError
        from partout.state import default_state_dir, ensure_state_dir

    if not policy.is_file():
        why = "is not a file" if policy.exists() else "does not exist"
        raise PolicyError(f"policy file {policy} {why}; name a .p2 file")
    triggers = tuple(_trigger(option) for option in trigger_options)
    state = ensure_state_dir(state_dir if state_dir is not None else default_state_dir())
    with long_lived(collect=True):  # the facts and the catalog live as long as the run (or --watch)
        facts = _facts(facts_file, facts_d)
        catalog = compile_policy(policy, facts, inventory=_inventory(inventory_file), triggers=triggers)
    # add_fact writes where facts are read from: the run context carries the one folder
    engine = Engine(state, facts, noop=noop, facts_d=facts_d,
                    repair_limit=RepairLimit(burst=repair_burst, rate=repair_rate))
    try:
        report = engine.run(catalog, trigger=f"trigger:{','.join(sorted({t.name for t in triggers}))}"
                            if triggers else "run")
    except KeyboardInterrupt:
        click.echo("partout: interrupted; resources already started may have been applied", err=True)
        sys.exit(130)
    _print(report, as_json=as_json, diffs=noop or show_diff)
    if not watch:
        sys.exit(EXIT_FAILED if report.failed else EXIT_OK)
    _watch(engine, catalog, as_json=as_json, diffs=noop or show_diff)
    sys.exit(EXIT_OK)


def _inventory(inventory_file: Path | None) -> Any:
    from partout.dsl.nodes import FileInventory, NoInventory

    return FileInventory(inventory_file) if inventory_file is not None else NoInventory()


def _trigger(option: str) -> Any:
    """`--trigger NAME[=JSON]` as a fired Trigger; bad input is a usage error naming the option."""
    import json

    from partout.dsl.triggers import check_trigger_name, fired

    name, equals, data_text = option.partition("=")
    problem = check_trigger_name(name)
    if problem is not None:
        raise click.BadParameter(f"{option!r}: {problem}", param_hint="--trigger")
    try:
        data = json.loads(data_text) if equals else {}
    except ValueError as error:
        raise click.BadParameter(f"{option!r}: the data after '=' is not JSON: {error}", param_hint="--trigger") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{option!r}: the data after '=' is a JSON object, e.g. "
                                 f"{name}='{{\"version\": \"1.2\"}}'", param_hint="--trigger")
    return fired(name, data, sender="partout apply")


def _facts(facts_file: Path | None, facts_d: Path | None) -> Any:
    from partout import facts

    if facts_file is not None:
        return facts.load(facts_file)
    return facts.gather(facts_d=facts_d)


def _watch(engine: Any, catalog: Any, *, as_json: bool, diffs: bool) -> None:
    """Repair drift until SIGTERM or SIGINT; print each repair as it happens."""
    stopping = threading.Event()
    output_lock = threading.Lock()

    def on_report(report: Report) -> None:
        with output_lock:
            _print(report, as_json=as_json, diffs=diffs, summary=False)

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    counts = engine.watch(catalog, on_report)
    if not as_json:
        click.echo(f"{counts.describe()}; Ctrl-C to stop", err=True)
    while not stopping.wait(3600):
        pass
    engine.stop()


def _print(report: Report, *, as_json: bool, diffs: bool, summary: bool = True) -> None:
    from partout.report import Status

    if as_json:
        sys.stdout.write(report.model_dump_json() + "\n")
        sys.stdout.flush()
        return
    lines: list[str] = []
    for result in report.results:
        if result.hidden:
            continue
        if result.status is Status.OK:
            if result.id.startswith(LOG_MESSAGE_PREFIX):  # logmsg: the message is the point
                lines.append(f"{'note':<{STATUS_WIDTH}} {result.id[len(LOG_MESSAGE_PREFIX):]}")
            continue
        status = "would" if result.status is Status.CHANGED and report.noop else result.status.value
        lines.append(f"{status:<{STATUS_WIDTH}} {result.id}  {result.summary}".rstrip())
        if diffs and result.diff:
            lines.append(result.diff.rstrip("\n"))
        if result.status is Status.FAILED and result.output:
            lines.append(result.output.rstrip("\n"))
    if summary:
        lines.append(report.summary_line())
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()



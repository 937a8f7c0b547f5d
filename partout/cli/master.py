"""`partout master`: run the master until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import click

from partout.cli.common import reports_errors


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


class FieldsFormatter(logging.Formatter):
    """The usual line plus the record's `extra=` fields (environment, file, line ...), which
    are what a daemon's log is read for."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {key: value for key, value in vars(record).items() if key not in _STANDARD}
        return line + "".join(f" {key}={value}" for key, value in fields.items())


def _log_to_stderr(debug: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(FieldsFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    # the master's own news (publications, approvals) at INFO; libraries stay quiet
    logging.getLogger("partout").setLevel(logging.DEBUG if debug else logging.INFO)


def _rule(text: str) -> dict[str, Any]:
    glob, _, environment = text.partition("=")
    if not glob:
        raise click.BadParameter(f"{text!r}: give a hostname glob, e.g. 'web-*' or 'web-*=staging'")
    return {"hostname": glob, "environment": environment or "production"}


@click.command(short_help="Run the master: enrolment, policies, facts and reports.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML configuration (see config/master.toml); options below override it.")
@click.option("--nats", "nats_urls", multiple=True, metavar="URL",
              help="NATS server URL; repeat for several nodes. Default: nats://127.0.0.1:4222.")
@click.option("--nats-state", type=click.Path(file_okay=False, path_type=Path),
              help="partout-nats' state dir, whose keys/ holds master.nk, operator.nk and the callout keys.")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Master state (the SQLite store). Default: <partout state dir>/master.")
@click.option("--environments", type=click.Path(file_okay=False, path_type=Path),
              help="One directory per environment, each with a site.p2. Default: <state dir>/environments.")
@click.option("--store", help="Store path or URL (sqlite://PATH). Default: SQLite in the state dir.")
@click.option("--sample-facts", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Facts (JSON/YAML) to test-compile policies against. Default: this machine's facts.")
@click.option("--auto-approve", "auto_approve", multiple=True, metavar="GLOB[=ENV]",
              help="Approve agents whose hostname matches GLOB into ENV (default production) at once; "
                   "repeatable. Token and facts rules go in the config file.")
@click.option("--no-callout", is_flag=True, default=None,
              help="Do not answer NATS auth callout (another master does).")
@click.option("--stream-replicas", type=click.IntRange(1, 3),
              help="Replicas of the JetStream streams and policy bucket. Default: min(3, cluster size), "
                   "asked of the servers, raised when the cluster grows.")
@reports_errors
def command(config_file: Path | None, nats_urls: tuple[str, ...], nats_state: Path | None, state_dir: Path | None,
            environments: Path | None, store: str | None, sample_facts: Path | None,
            auto_approve: tuple[str, ...], no_callout: bool | None, stream_replicas: int | None) -> None:
    """Run the Partout master against a partout-nats backbone.

    It answers auth callout (each agent gets exactly its own permissions), enrols and
    approves agents, compiles each environment under --environments and publishes it as a
    signed bundle whenever it changes, and stores agents' facts and run reports.

    \b
    Example:
      partout-nats --state-dir /var/lib/partout/nats &
      partout master --nats-state /var/lib/partout/nats --auto-approve 'web-*=production'
      partout agents list --nats-state /var/lib/partout/nats
    """
    from partout.master.config import load_config
    from partout.master.daemon import Master
    from partout.state import default_state_dir, ensure_state_dir
    from partout.statelock import lock_state_dir

    overrides: dict[str, Any] = dict(
        nats_urls=nats_urls or None, nats_state=nats_state, state_dir=state_dir, environments=environments,
        store=store, sample_facts=sample_facts, callout=False if no_callout else None,
        stream_replicas=stream_replicas,
    )
    if auto_approve:
        overrides["auto_approve"] = [_rule(text) for text in auto_approve]
    if config_file is None and nats_state is None:
        overrides["nats_state"] = default_state_dir() / "nats"
    config = load_config(config_file, **overrides)
    if config_file is not None and auto_approve:
        # CLI rules come first, the file's follow
        # (the file with the other options: it need not name what they give, e.g. nats_state)
        others = {key: value for key, value in overrides.items() if key != "auto_approve"}
        file_rules = load_config(config_file, **others).auto_approve
        config = config.model_copy(update={"auto_approve": (*config.auto_approve, *file_rules)})

    context = click.get_current_context(silent=True)
    _log_to_stderr(bool(context and context.find_root().obj and context.find_root().obj.get("debug")))
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    lock = lock_state_dir(ensure_state_dir(config.state_dir), command="partout master")
    lock.describe(nats_url=config.nats_urls[0])
    master = Master(config).start()
    click.echo(f"partout master {master.public_key} on {', '.join(config.nats_urls)}; "
               f"environments in {config.environments_dir}; store {config.store_location}", err=True)
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        master.stop()

"""The master daemon: enrolment and approval, policy publisher, report ingest, store.

Kept import-free so that `partout agent` and the CLI do not pay for master code."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # lazily, so importing partout.master.store does not load the daemon
    if name == "Master":
        from partout.master.daemon import Master

        return Master
    if name in ("MasterConfig", "AutoApproveRule", "load_config"):
        from partout.master import config

        return getattr(config, name)
    raise AttributeError(name)

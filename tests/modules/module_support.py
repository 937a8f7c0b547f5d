"""What the module tests share: run one resource the way the engine does."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TypeVar

from partout.modules.base import Module, ModuleOptions, RunContext
from partout.report import Report, ResourceResult

Options = TypeVar("Options", bound=ModuleOptions)


def check_then_apply(module: Module[Options], spec: Options, context: RunContext) -> str | None:
    """Check `spec`, apply it only when check finds a change, and return that change's
    summary (None: nothing to do)."""
    change = module.check(spec, context)
    if change is None:
        return None
    module.apply(spec, change, context)
    return change.summary


def account_root(tmp_path: Path) -> Path:
    """A system root whose etc/ holds copies of this machine's account files, for the
    account tools' --root."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow", "login.defs"):
        shutil.copy2(Path("/etc") / name, root / "etc" / name)
    return root


class Repairs:
    """Collects the results of the repairs an engine reports while watching."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self.results: list[ResourceResult] = []

    def __call__(self, report: Report) -> None:
        with self._lock:
            self.results.extend(report.results)

    def of(self, resource_id: str) -> list[ResourceResult]:
        with self._lock:
            return [result for result in self.results if result.id == resource_id]

    def ids(self) -> set[str]:
        with self._lock:
            return {result.id for result in self.results}


@contextmanager
def watching(policy_text: str, tmp_path: Path, facts: object | None = None) -> Iterator[tuple[Report, Repairs]]:
    """Compile `policy_text` with the real compiler, apply it, and keep repairing drift
    until the block ends; yields the first run's report and the repairs heard since."""
    from partout.dsl.compiler import compile_policy
    from partout.engine import Engine

    policy = tmp_path / "site.p2"
    policy.write_text(policy_text)
    facts = facts if facts is not None else SimpleNamespace(os=SimpleNamespace(family="debian"), hostname="test")
    state = tmp_path / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    engine = Engine(state, facts)
    try:
        catalog = compile_policy(policy, facts)
        report = engine.run(catalog)
        repairs = Repairs()
        engine.watch(catalog, repairs)
        yield report, repairs
    finally:
        engine.stop()

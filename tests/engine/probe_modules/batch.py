"""A non-concurrent module with apply_batch and prepare (like a package manager)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from partout.modules.base import Change, Module, ModuleOptions, Outcome, RunContext


class BatchOptions(ModuleOptions):
    title_field: ClassVar[str] = "name"

    name: str
    journal: str
    broken: bool = False


def _installed(context: RunContext, journal: str) -> set[str]:
    def read() -> set[str]:
        path = Path(journal)
        names: set[str] = set()
        for line in path.read_text().splitlines() if path.exists() else []:
            if line.startswith(("batch ", "single ")):
                names.update(line.split(" ", 1)[1].split(","))
        return names

    found: set[str] = context.cached(f"batch:{journal}", read)
    return found


def prepare(specs: Sequence[BatchOptions], context: RunContext) -> None:
    for spec in specs:
        _installed(context, spec.journal)
        with open(spec.journal, "a") as handle:
            handle.write(f"prepare {len(specs)}\n")
        return


def check(spec: BatchOptions, context: RunContext) -> Change | None:
    return None if spec.name in _installed(context, spec.journal) else Change(summary=f"install {spec.name}")


def apply(spec: BatchOptions, change: Change, context: RunContext) -> str | None:
    with open(spec.journal, "a") as handle:
        handle.write(f"single {spec.name}\n")
    return None


def apply_batch(items: Sequence[tuple[BatchOptions, Change]], context: RunContext) -> list[Outcome]:
    good = [spec.name for spec, _ in items if not spec.broken]
    with open(items[0][0].journal, "a") as handle:
        handle.write(f"batch {','.join(good)}\n")
    return [Outcome(error=f"no such package {spec.name}") if spec.broken else Outcome(output="installed")
            for spec, _ in items]


MODULE = Module(name="batch", options=BatchOptions, check=check, apply=apply, prepare=prepare,
                apply_batch=apply_batch, concurrent=False)

"""Compile and run policies that use the built-in roles (tests/roles is on sys.path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from partout.dsl.catalog import Catalog
from partout.dsl.compiler import compile_source
from partout.engine import Engine
from partout.report import Report, ResourceResult, Status


class Roles:
    """`roles.apply(text)` compiles `text` as tmp_path/site.p2 and applies it;
    `roles.apply(text, noop=True)` only checks."""

    def __init__(self, root: Path, facts: Any) -> None:
        self.root = root
        self.facts = facts
        self.state_dir = root / "state"
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        self.policy = root / "site.p2"

    def compile(self, text: str) -> Catalog:
        self.policy.write_text(text)
        return compile_source(text, filename=self.policy, facts=self.facts)

    def apply(self, text: str, *, noop: bool = False) -> Report:
        catalog = self.compile(text)
        engine = Engine(self.state_dir, self.facts, noop=noop)
        try:
            return engine.run(catalog)
        finally:
            engine.stop()


def changed(report: Report) -> list[str]:
    return [result.id for result in report.results if result.status is Status.CHANGED]


def failed(report: Report) -> dict[str, str]:
    return {result.id: result.summary for result in report.results if result.status is Status.FAILED}


def result(report: Report, rid: str) -> ResourceResult:
    return next(one for one in report.results if one.id == rid)


def converge(roles: Roles, text: str, root: Path) -> tuple[Report, Report]:
    """The checks every role must pass: --noop changes nothing under root (and fails
    nothing), a real run fails nothing, a second run changes nothing. Returns the noop
    and the first real report."""
    from helpers import snapshot

    before = snapshot(root)
    noop = roles.apply(text, noop=True)
    assert failed(noop) == {}, failed(noop)
    assert snapshot(root) == before, "--noop changed files"
    first = roles.apply(text)
    assert failed(first) == {}, failed(first)
    second = roles.apply(text)
    assert failed(second) == {}, failed(second)
    assert changed(second) == [], "second run changed something"
    assert changed(noop) == changed(first), "noop did not predict the real run"
    return noop, first

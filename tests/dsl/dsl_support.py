"""Types shared by the DSL tests (importable by name: tests/dsl is on sys.path)."""

from __future__ import annotations

from collections.abc import Callable

from partout.dsl.catalog import Catalog

# compile_text(text, files=None, **compile_policy_kwargs) -> Catalog, from conftest.py
Compile = Callable[..., Catalog]

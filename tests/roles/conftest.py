"""Fixtures of the built-in role tests: compile a policy written to tmp_path with the real
compiler, run it with the real engine, and look at the report."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from role_support import Roles  # noqa: E402


@pytest.fixture
def facts() -> SimpleNamespace:
    return SimpleNamespace(hostname="node1", fqdn="node1.example.com", os=SimpleNamespace(family="debian"), custom={})


@pytest.fixture
def roles(tmp_path: Path, facts: SimpleNamespace) -> Roles:
    return Roles(tmp_path, facts)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty folder standing for the managed machine's /; a test file whose roles need
    files there defines its own `root`."""
    path = tmp_path / "root"
    path.mkdir()
    return path

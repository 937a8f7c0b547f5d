"""`partout doc`, run as a real process."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import run_partout
from partout.modules import registry


def loadable_modules() -> dict[str, Any]:
    """Partout's own modules; other suites register test modules in this process only."""
    modules = {}
    for name in registry.names():
        try:
            module = registry.get(name)
        except ModuleNotFoundError:
            continue  # registered, not built yet: doc says so and goes on
        if module.check.__module__.startswith("partout."):
            modules[name] = module
    return modules


def test_doc_covers_every_option_of_every_module() -> None:
    result = run_partout("doc")
    assert result.returncode == 0, result.stderr
    modules = loadable_modules()
    assert {"file", "command"} <= set(modules)
    for name, module in modules.items():
        start = result.stdout.index(f"\n{name}: " if not result.stdout.startswith(f"{name}: ") else f"{name}: ")
        section = result.stdout[start:]
        assert f"p2.{name}(TITLE" in section
        for field in module.options.model_fields:
            assert f"    {field}: " in section, f"{name}.{field} is missing from partout doc"


def test_doc_of_one_module_shows_types_defaults_and_descriptions() -> None:
    result = run_partout("doc", "file")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("file: ")
    assert 'ensure: "file" | "present" | "absent" | "directory" | "link"  (default "file")' in result.stdout
    assert "path: path  (required)" in result.stdout
    assert "must match ^0?[0-7]{3,4}$" in " ".join(result.stdout.split())
    assert "TITLE sets `path`" in result.stdout
    assert "command: " not in result.stdout


def test_doc_lists_actions() -> None:
    result = run_partout("doc", "command")
    assert "actions (for on=): run" in result.stdout
    assert "returns: list of integer  (default [0])" in result.stdout


def test_doc_json_is_each_modules_schema() -> None:
    result = run_partout("doc", "--json")
    assert result.returncode == 0, result.stderr
    documents = json.loads(result.stdout)
    for name, module in loadable_modules().items():
        assert set(documents[name]["schema"]["properties"]) == set(module.options.model_fields)
        assert documents[name]["title_field"] == module.options.title_field
    assert documents["command"]["actions"] == ["run"]


def test_doc_of_an_unknown_module_is_a_usage_error() -> None:
    result = run_partout("doc", "fiel")
    assert result.returncode == 2
    assert "no module 'fiel'" in result.stderr and "file" in result.stderr


@pytest.mark.parametrize("name", ["file", "command"])
def test_doc_text_is_deterministic(name: str) -> None:
    assert run_partout("doc", name).stdout == run_partout("doc", name).stdout


@pytest.mark.parametrize(("module", "line"), [
    ("file", "watched: by events: inotify on the file's directory"),
    ("user", "watched: by events: inotify on <root>/etc/passwd, shadow and group"),
    ("package", "watched: by events or polling: inotify on the manager's database"),
    ("service", "watched: by polling: the service manager's state"),
    ("command", "watched: never: it has no state, it acts when applied; watch=True on it is an error"),
])
def test_doc_says_how_each_module_is_watched(module: str, line: str) -> None:
    result = run_partout("doc", module)
    assert result.returncode == 0, result.stderr
    assert line in result.stdout


def test_doc_json_carries_how_every_module_is_watched() -> None:
    result = run_partout("doc", "--json")
    documents = json.loads(result.stdout)
    for name in loadable_modules():
        assert documents[name]["watched"]["how"] in ("events", "polling", "events or polling", "none")
    assert documents["command"]["watched"]["stateless"] is True
    assert documents["service"]["watched"]["stateless"] is False

"""`partout doc`, run as a real process."""

from __future__ import annotations

import json
from pathlib import Path
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


def test_doc_of_a_role_shows_its_options_like_a_module() -> None:
    from partout.roles.schemas import ROLE_OPTIONS

    result = run_partout("doc", "ini_file")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ini_file: Set or remove keys in sections of an INI file")
    assert "p2.ini_file(TITLE, **options)    TITLE sets `path`" in result.stdout
    assert "reported as `ini:...` (partout doc ini)" in result.stdout
    assert 'ensure: "present" | "absent"  (default "present")' in result.stdout
    assert "section: string  (default \"\")" in result.stdout
    for field in ROLE_OPTIONS["ini_file"].model_fields:
        assert f"    {field}: " in result.stdout


def test_doc_covers_every_option_of_every_built_in_role() -> None:
    from partout.roles import BUILTIN_ROLES_DIR
    from partout.roles.schemas import ROLE_OPTIONS

    assert set(ROLE_OPTIONS) == {path.stem for path in BUILTIN_ROLES_DIR.glob("*.p2")}
    result = run_partout("doc")
    assert result.returncode == 0, result.stderr
    documents = json.loads(run_partout("doc", "--json").stdout)
    for name, options in ROLE_OPTIONS.items():
        section = result.stdout[result.stdout.index(f"\n{name}: "):]
        assert f"p2.{name}(TITLE" in section
        for field in options.model_fields:
            assert f"    {field}: " in section, f"{name}.{field} is missing from partout doc"
        assert documents[name]["kind"] == "role" and documents[name]["module"] == options.module


def test_a_role_refuses_what_its_documented_schema_refuses(tmp_path: Path) -> None:
    policy = tmp_path / "site.p2"
    policy.write_text('p2.ini_file("/tmp/x.ini", section="a", key="b", value="c", ensure="gone")\n')
    completed = run_partout("apply", "--noop", "--state-dir", str(tmp_path / "state"), str(policy))
    assert completed.returncode == 2
    assert "ini_file: option 'ensure': Input should be 'present' or 'absent' (got 'gone')" in completed.stderr


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

"""`partout facts`, run as a real process."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import run_partout
from partout.facts import SECTIONS


def test_facts_prints_every_section_as_json(tmp_path: Path) -> None:
    result = run_partout("facts", "--facts-d", str(tmp_path))
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert list(facts) == list(SECTIONS)
    assert facts["os"]["kernel"] == os.uname().release
    assert facts["users"]["root"]["uid"] == 0


def test_facts_section_prints_one_section(tmp_path: Path) -> None:
    result = run_partout("facts", "--facts-d", str(tmp_path), "--section", "os")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["arch"] == os.uname().machine


def test_facts_includes_custom_facts(tmp_path: Path) -> None:
    (tmp_path / "role.yaml").write_text("role: web\n")
    result = run_partout("facts", "--facts-d", str(tmp_path), "--section", "custom")
    assert json.loads(result.stdout) == {"role": "web"}


def test_facts_with_a_broken_custom_fact_fails_and_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "role.json").write_text("{not json")
    result = run_partout("facts", "--facts-d", str(tmp_path))
    assert result.returncode == 1
    assert "role.json:1: not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_facts_unknown_section_is_a_usage_error(tmp_path: Path) -> None:
    result = run_partout("facts", "--section", "nope")
    assert result.returncode == 2
    assert "unknown section 'nope'" in result.stderr

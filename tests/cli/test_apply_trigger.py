"""`partout apply --trigger NAME[=JSON]`: try a policy's p2.on_trigger blocks locally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_partout


def trigger_policy(tmp_path: Path, root: Path) -> Path:
    policy = tmp_path / "site.p2"
    policy.write_text(
        f'p2.file("{root}/always", content="x\\n")\n'
        f'with p2.on_trigger("deploy") as deploy:\n'
        f'    p2.file("{root}/deployed", content=deploy.data.get("version", "latest") + "\\n")\n')
    return policy


def test_without_the_trigger_its_block_does_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    completed = run_partout("apply", "--state-dir", str(tmp_path / "state"), str(trigger_policy(tmp_path, root)))
    assert completed.returncode == 0, completed.stderr
    assert sorted(path.name for path in root.iterdir()) == ["always"]


def test_with_the_trigger_its_block_applies_with_the_data_and_the_report_says_so(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    completed = run_partout("apply", "--json", "--state-dir", str(tmp_path / "state"),
                            "--trigger", 'deploy={"version": "1.2"}', str(trigger_policy(tmp_path, root)))
    assert completed.returncode == 0, completed.stderr
    assert (root / "deployed").read_text() == "1.2\n"
    assert json.loads(completed.stdout)["trigger"] == "trigger:deploy"


@pytest.mark.parametrize(("option", "message"), [
    ("two words", "a trigger name is 1-100 letters"),
    ("deploy={", "the data after '=' is not JSON"),
    ("deploy=[1]", "the data after '=' is a JSON object"),
])
def test_a_bad_trigger_option_is_a_usage_error_naming_it_and_changes_nothing(tmp_path: Path, option: str,
                                                                             message: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    completed = run_partout("apply", "--state-dir", str(tmp_path / "state"), "--trigger", option,
                            str(trigger_policy(tmp_path, root)))
    assert completed.returncode == 2
    assert "--trigger" in completed.stderr and message in completed.stderr
    assert list(root.iterdir()) == []

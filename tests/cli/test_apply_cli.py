from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_partout, snapshot

from partout.report import Report, Status


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return state


def write_policy(tmp_path: Path, body: str) -> Path:
    policy = tmp_path / "site.p2"
    policy.write_text(body)
    return policy


def files_policy(tmp_path: Path, root: Path) -> Path:
    return write_policy(tmp_path, (
        f'p2.file("{root}/motd", content="hello\\n", mode="0644")\n'
        f'p2.file("{root}/app.conf", content="port = 80\\n", mode="0600")\n'
    ))


def test_apply_creates_files_prints_changes_and_exits_zero(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    completed = run_partout("apply", "--state-dir", str(state_dir), str(files_policy(tmp_path, root)))
    assert completed.returncode == 0, completed.stderr
    assert (root / "motd").read_text() == "hello\n"
    assert f"changed  file:{root}/motd" in completed.stdout
    assert completed.stdout.splitlines()[-1].startswith("2 resources: 2 changed, 0 failed, 0 skipped in ")


def test_second_run_changes_nothing(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    policy = files_policy(tmp_path, root)
    run_partout("apply", "--state-dir", str(state_dir), str(policy))
    second = run_partout("apply", "--state-dir", str(state_dir), str(policy))
    assert second.returncode == 0
    assert second.stdout.splitlines() == [second.stdout.splitlines()[-1]]
    assert "2 resources: 0 changed" in second.stdout


def test_noop_changes_nothing_and_prints_diffs(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "motd").write_text("old\n")
    before = snapshot(root)
    completed = run_partout("apply", "--noop", "--state-dir", str(state_dir), str(files_policy(tmp_path, root)))
    assert completed.returncode == 0, completed.stderr
    assert snapshot(root) == before
    assert "-old" in completed.stdout and "+hello" in completed.stdout
    assert "2 would change" in completed.stdout


def test_json_output_parses_as_a_report(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    completed = run_partout("apply", "--json", "--state-dir", str(state_dir), str(files_policy(tmp_path, root)))
    report = Report.model_validate_json(completed.stdout)
    assert [result.id for result in report.results] == [f"file:{root}/motd", f"file:{root}/app.conf"]
    assert all(result.status is Status.CHANGED for result in report.results)
    assert json.loads(completed.stdout)["trigger"] == "run"


def test_a_failed_resource_exits_one_and_skips_its_dependents(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    policy = write_policy(tmp_path, (
        'p2.command("exit 7", returns=[0])\n'
        f'p2.file("{root}/after", content="x", require=["command:exit 7"])\n'
        f'p2.file("{root}/independent", content="x")\n'
    ))
    completed = run_partout("apply", "--state-dir", str(state_dir), str(policy))
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "failed   command:exit 7" in completed.stdout
    assert f"skipped  file:{root}/after  requires command:exit 7 which failed" in completed.stdout
    assert not (root / "after").exists()
    assert (root / "independent").exists()


def test_policy_error_exits_two_and_changes_nothing(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    before = snapshot(root)
    policy = write_policy(tmp_path, f'p2.file("{root}/motd", content="x", mdoe="0644")\n')
    completed = run_partout("apply", "--state-dir", str(state_dir), str(policy))
    assert completed.returncode == 2
    assert "site.p2:1" in completed.stderr
    assert snapshot(root) == before


def test_missing_policy_file_exits_two_with_a_clear_message(tmp_path: Path, state_dir: Path) -> None:
    completed = run_partout("apply", "--state-dir", str(state_dir), str(tmp_path / "nowhere.p2"))
    assert completed.returncode == 2
    assert f"policy file {tmp_path / 'nowhere.p2'} does not exist" in completed.stderr


def test_unsafe_state_dir_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    state = tmp_path / "open-state"
    state.mkdir()
    state.chmod(0o777)
    completed = run_partout("apply", "--state-dir", str(state), str(files_policy(tmp_path, root)))
    assert completed.returncode != 0
    assert "writable by group or others" in completed.stderr
    assert not (root / "motd").exists()


def test_state_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    state = tmp_path / "state-file"
    state.write_text("")
    completed = run_partout("apply", "--state-dir", str(state), str(files_policy(tmp_path, root)))
    assert completed.returncode == 2
    assert f"'{state}' is a file" in completed.stderr


def test_facts_file_overrides_this_machines_facts(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"hostname": "web42"}))
    policy = write_policy(tmp_path, f'p2.file("{root}/motd", content=f"{{facts.hostname}}\\n")\n')
    completed = run_partout("apply", "--facts", str(facts), "--state-dir", str(state_dir), str(policy))
    assert completed.returncode == 0, completed.stderr
    assert (root / "motd").read_text() == "web42\n"


def test_apply_does_not_import_nats_or_watchdog(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    policy = files_policy(tmp_path, root)
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\n"
        "from partout.cli.main import main\n"
        "try:\n"
        f"    main(['apply', '--state-dir', {str(state_dir)!r}, {str(policy)!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nats', 'watchdog', 'jinja2')"
        " or m.startswith('partout.master')))\n", encoding="utf-8")
    import subprocess
    import sys

    completed = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=60)
    assert completed.stdout.strip().splitlines()[-1] == "[]", completed.stdout + completed.stderr


def test_diff_flag_shows_diffs_on_a_real_run(tmp_path: Path, state_dir: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "motd").write_text("old\n")
    completed = run_partout("apply", "--diff", "--state-dir", str(state_dir), str(files_policy(tmp_path, root)))
    assert completed.returncode == 0, completed.stderr
    assert "-old" in completed.stdout and "+hello" in completed.stdout
    assert (root / "motd").read_text() == "hello\n"


def test_a_command_that_ran_says_ran_and_only_noop_says_would(tmp_path: Path, state_dir: Path) -> None:
    marker = tmp_path / "marker"
    policy = write_policy(tmp_path, f'p2.command("touch {marker}", creates="{marker}")\n')
    noop = run_partout("apply", "--noop", "--state-dir", str(state_dir), str(policy))
    assert f"would    command:touch {marker}  would run: touch {marker}" in noop.stdout
    noop_json = Report.model_validate_json(
        run_partout("apply", "--noop", "--json", "--state-dir", str(state_dir), str(policy)).stdout)
    assert noop_json.results[0].summary == f"would run: touch {marker}"
    assert not marker.exists()
    real = run_partout("apply", "--state-dir", str(state_dir), str(policy))
    assert real.returncode == 0, real.stderr
    assert f"changed  command:touch {marker}  ran: touch {marker}" in real.stdout
    assert "would" not in real.stdout
    marker.unlink()
    real_json = Report.model_validate_json(
        run_partout("apply", "--json", "--state-dir", str(state_dir), str(policy)).stdout)
    assert real_json.results[0].summary == f"ran: touch {marker}"
    assert marker.exists()

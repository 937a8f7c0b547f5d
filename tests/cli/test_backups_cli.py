"""`partout backups list|show|restore`, run as a real process on a real backup store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from helpers import run_partout

from partout.errors import ResourceError
from partout.modules.base import RunContext
from partout.modules.file import MODULE, FileOptions


def replace(path: Path, content: str, state_dir: Path) -> None:
    context = RunContext(facts=None, state_dir=state_dir)
    spec = FileOptions(path=path, content=content)
    change = MODULE.check(spec, context)
    assert change is not None
    MODULE.apply(spec, change, context)


def test_backups_list_show_restore_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state"
    target = tmp_path / "app.conf"
    target.write_text("first\n")
    target.chmod(0o640)
    replace(target, "second\n", state)
    replace(target, "third\n", state)

    listed = run_partout("backups", "list", str(target), "--state-dir", str(state))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    first_sha = lines[0].split()[1]
    assert lines[0].split()[2:] == ["6", "0640", str(target)]

    shown = run_partout("backups", "show", first_sha, "--state-dir", str(state))
    assert shown.returncode == 0 and shown.stdout == "first\n"

    restored = run_partout("backups", "restore", first_sha, "--state-dir", str(state))
    assert restored.returncode == 0, restored.stderr
    assert target.read_text() == "first\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    # What the restore replaced is itself backed up.
    after = run_partout("backups", "list", "--state-dir", str(state)).stdout.splitlines()
    assert len(after) == 3


def test_backups_restore_to_another_path(tmp_path: Path) -> None:
    state = tmp_path / "state"
    target = tmp_path / "a.conf"
    target.write_text("original\n")
    replace(target, "new\n", state)
    sha = run_partout("backups", "list", "--state-dir", str(state)).stdout.split()[1]
    copy = tmp_path / "copy.conf"
    result = run_partout("backups", "restore", sha, "--to", str(copy), "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    assert copy.read_text() == "original\n" and target.read_text() == "new\n"


def test_backup_store_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    target = tmp_path / "secret"
    target.write_text("password\n")
    replace(target, "other\n", state)
    for path in (state / "backups").rglob("*"):
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        assert mode & 0o077 == 0, f"{path} has mode {mode:04o}"


def test_backups_show_unknown_sha_is_a_clear_error(tmp_path: Path) -> None:
    result = run_partout("backups", "show", "deadbeef", "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1
    assert "no backup 'deadbeef'" in result.stderr


def test_backups_list_of_an_empty_store_says_so(tmp_path: Path) -> None:
    result = run_partout("backups", "list", "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0
    assert result.stdout == "" and "no backups" in result.stderr


def test_content_replaced_by_partout_apply_is_restorable_from_the_cli(tmp_path: Path) -> None:
    state = tmp_path / "state"
    target = tmp_path / "motd"
    target.write_text("hand-written\n")
    policy = tmp_path / "site.p2"
    policy.write_text(f'p2.file("{target}", content="managed\\n")\n')
    applied = run_partout("apply", "--state-dir", str(state), str(policy))
    assert applied.returncode == 0, applied.stderr
    assert target.read_text() == "managed\n"

    listed = run_partout("backups", "list", str(target), "--state-dir", str(state))
    [line] = listed.stdout.splitlines()
    restored = run_partout("backups", "restore", line.split()[1], "--state-dir", str(state))
    assert restored.returncode == 0, restored.stderr
    assert target.read_text() == "hand-written\n"


def test_backups_list_json_gives_full_entries(tmp_path: Path) -> None:
    import json

    state = tmp_path / "state"
    target = tmp_path / "f"
    target.write_text("one\n")
    replace(target, "two\n", state)
    result = run_partout("backups", "list", "--json", "--state-dir", str(state))
    [entry] = [json.loads(line) for line in result.stdout.splitlines()]
    assert entry["path"] == str(target) and entry["size"] == 4 and len(entry["sha256"]) == 64


def test_a_directory_removed_with_force_is_restorable_file_by_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    tree = tmp_path / "site"
    (tree / "conf.d").mkdir(parents=True)
    (tree / "index.html").write_text("<h1>hi</h1>\n")
    (tree / "conf.d" / "app.conf").write_text("port = 80\n")
    (tree / "conf.d" / "app.conf").chmod(0o600)
    (tree / "link").symlink_to("/etc/passwd")  # not followed, not backed up
    policy = tmp_path / "site.p2"
    policy.write_text(f'p2.file("{tree}", ensure="absent", force=True)\n')
    applied = run_partout("apply", "--state-dir", str(state), str(policy))
    assert applied.returncode == 0, applied.stderr
    assert f"file:{tree}  directory removed (its files kept in the backup store)" in applied.stdout
    assert not tree.exists()

    listed = run_partout("backups", "list", str(tree), "--state-dir", str(state))
    assert listed.returncode == 0, listed.stderr
    by_path = {line.split()[-1]: line.split()[1] for line in listed.stdout.splitlines()}
    assert set(by_path) == {str(tree / "index.html"), str(tree / "conf.d" / "app.conf")}
    for path, sha in by_path.items():
        restored = run_partout("backups", "restore", sha, "--state-dir", str(state))
        assert restored.returncode == 0, restored.stderr
    assert (tree / "index.html").read_text() == "<h1>hi</h1>\n"
    assert (tree / "conf.d" / "app.conf").read_text() == "port = 80\n"
    assert stat.S_IMODE((tree / "conf.d" / "app.conf").stat().st_mode) == 0o600


def test_a_tree_that_cannot_be_backed_up_is_not_removed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("a file where the state dir should be\n")
    tree = tmp_path / "site"
    tree.mkdir()
    (tree / "keep").write_text("x\n")
    context = RunContext(facts=None, state_dir=state)
    spec = FileOptions(path=tree, ensure="absent", force=True)
    change = MODULE.check(spec, context)
    assert change is not None
    with pytest.raises(ResourceError, match="cannot back up the files of the tree, nothing removed"):
        MODULE.apply(spec, change, context)
    assert (tree / "keep").read_text() == "x\n"

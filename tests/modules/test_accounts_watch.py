"""Real-time repair of users and groups: the real shadow tools change a temp root's
account files behind Partout's back, and only the accounts the policy manages come back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import eventually
from module_support import account_root, watching

from partout.modules.accounts import read_accounts

pytestmark = pytest.mark.skipif(shutil.which("useradd") is None, reason="needs the shadow tools (useradd)")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = account_root(tmp_path)
    (root / "home").mkdir()
    return root


def tool(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True)


def policy(root: Path) -> str:
    return (
        "with p2.watch():\n"
        f'    p2.group("team", gid=4100, root="{root}")\n'
        f'    p2.user("alice", uid=4101, gid="team", shell="/bin/sh", manage_home=False, root="{root}")\n'
    )


def test_a_deleted_user_is_recreated_without_a_run(root: Path, tmp_path: Path) -> None:
    with watching(policy(root), tmp_path) as (report, repairs):
        assert not report.failed
        tool("userdel", "--root", str(root), "alice")
        assert "alice" not in read_accounts(root).users
        assert eventually(lambda: "alice" in read_accounts(root).users)
        assert read_accounts(root).users["alice"].uid == 4101
        assert eventually(lambda: repairs.of("user:alice") != [])
        assert repairs.of("user:alice")[0].summary.startswith("create user alice")


def test_a_changed_shell_is_put_back(root: Path, tmp_path: Path) -> None:
    with watching(policy(root), tmp_path) as (_, repairs):
        tool("usermod", "--root", str(root), "--shell", "/bin/false", "alice")
        assert eventually(lambda: read_accounts(root).users["alice"].shell == "/bin/sh")
        assert eventually(lambda: any("shell" in result.summary for result in repairs.of("user:alice")))


def test_a_deleted_group_is_recreated(root: Path, tmp_path: Path) -> None:
    with watching(policy(root), tmp_path) as (_, repairs):
        tool("userdel", "--root", str(root), "alice")  # a primary group cannot be deleted while used
        tool("groupdel", "--root", str(root), "team")
        assert eventually(lambda: "team" in read_accounts(root).groups and "alice" in read_accounts(root).users)
        assert read_accounts(root).groups["team"].gid == 4100
        assert eventually(lambda: repairs.of("group:team") != [])


def test_accounts_the_policy_does_not_manage_are_left_alone(root: Path, tmp_path: Path) -> None:
    tool("useradd", "--root", str(root), "--uid", "4200", "bob")
    with watching(policy(root), tmp_path) as (_, repairs):
        tool("userdel", "--root", str(root), "bob")
        tool("usermod", "--root", str(root), "--shell", "/bin/false", "alice")  # a fence: repaired
        assert eventually(lambda: read_accounts(root).users["alice"].shell == "/bin/sh")
        assert "bob" not in read_accounts(root).users
        assert repairs.ids() <= {"user:alice", "group:team"}
        assert repairs.of("group:team") == []  # its gid never changed: checked, nothing reported

"""The group module with the real groupadd/groupmod/groupdel against a copy of /etc."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import snapshot
from module_support import account_root, check_then_apply

from partout.errors import ResourceError
from partout.modules.accounts import read_accounts
from partout.modules.base import RunContext
from partout.modules.group import MODULE, GroupOptions


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return account_root(tmp_path)


def converge(spec: GroupOptions, tmp_path: Path) -> str | None:
    return check_then_apply(MODULE, spec, RunContext(facts=SimpleNamespace(), state_dir=tmp_path / "state"))


def test_group_is_created_with_its_gid(root: Path, tmp_path: Path) -> None:
    assert converge(GroupOptions(name="deploy", gid=2500, root=root), tmp_path) == "create group deploy (gid 2500)"
    assert read_accounts(root).groups["deploy"].gid == 2500


def test_group_second_run_changes_nothing(root: Path, tmp_path: Path) -> None:
    spec = GroupOptions(name="deploy", gid=2500, root=root)
    converge(spec, tmp_path)
    assert converge(spec, tmp_path) is None


def test_group_noop_check_changes_nothing(root: Path, tmp_path: Path) -> None:
    before = snapshot(root)
    change = MODULE.check(GroupOptions(name="deploy", root=root), RunContext(facts=None, state_dir=tmp_path))
    assert change is not None and change.summary == "create group deploy"
    assert snapshot(root) == before


def test_group_gid_is_changed_and_the_group_removed(root: Path, tmp_path: Path) -> None:
    converge(GroupOptions(name="deploy", gid=2500, root=root), tmp_path)
    assert converge(GroupOptions(name="deploy", gid=2501, root=root), tmp_path) == "gid 2500 -> 2501"
    assert read_accounts(root).groups["deploy"].gid == 2501
    assert converge(GroupOptions(name="deploy", ensure="absent", root=root), tmp_path) == "remove group deploy"
    assert "deploy" not in read_accounts(root).groups


def test_system_group_gets_a_system_gid(root: Path, tmp_path: Path) -> None:
    converge(GroupOptions(name="daemonish", system=True, root=root), tmp_path)
    assert read_accounts(root).groups["daemonish"].gid < 1000


def test_a_taken_gid_is_refused_and_nothing_changes(root: Path, tmp_path: Path) -> None:
    before = snapshot(root)
    with pytest.raises(ResourceError, match=r"gid 0 is already used by 'root'.*choose another gid"):
        converge(GroupOptions(name="deploy", gid=0, root=root), tmp_path)
    assert snapshot(root) == before


def test_invalid_group_names_are_refused() -> None:
    with pytest.raises(ValueError, match="group name 'web admins' is invalid"):
        GroupOptions(name="web admins")

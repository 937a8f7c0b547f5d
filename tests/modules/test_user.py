"""The user module with the real useradd/usermod/userdel/chpasswd against a copy of /etc."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import snapshot
from module_support import account_root, check_then_apply

from partout.errors import ResourceError
from partout.modules.accounts import read_accounts
from partout.modules.base import RunContext
from partout.modules.user import MODULE, UserOptions

HASH = "$6$saltsalt$hz0aK7t0Ngp0k3hVvD6n4nF0n8K0z1GzqX2dJ0mC8y6rB5e3uQ9wS4vT7pL1oI2kM5jN8hG3fD6sA9zX0cV1b."


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A system root whose etc/ holds what useradd --root needs."""
    root = account_root(tmp_path)
    if Path("/etc/default/useradd").exists():
        (root / "etc" / "default").mkdir()
        shutil.copy2("/etc/default/useradd", root / "etc" / "default" / "useradd")
    (root / "home").mkdir()
    return root


def context(tmp_path: Path) -> RunContext:
    return RunContext(facts=SimpleNamespace(os=SimpleNamespace(family="debian")), state_dir=tmp_path / "state")


def converge(spec: UserOptions, tmp_path: Path) -> str | None:
    return check_then_apply(MODULE, spec, context(tmp_path))


def add_group(root: Path, name: str, gid: int) -> None:
    with (root / "etc" / "group").open("a") as group:
        group.write(f"{name}:x:{gid}:\n")
    with (root / "etc" / "gshadow").open("a") as gshadow:
        gshadow.write(f"{name}:!::\n")


def test_user_is_created_with_its_settings(root: Path, tmp_path: Path) -> None:
    add_group(root, "web", 2001)
    spec = UserOptions(name="alice", uid=1500, shell="/bin/sh", comment="Alice", home=Path("/home/alice"),
                       groups=("web",), password=HASH, expiry="2030-01-01", root=root)
    assert converge(spec, tmp_path) == "create user alice (uid 1500, shell /bin/sh, password <secret>)"
    accounts = read_accounts(root)
    alice = accounts.users["alice"]
    assert (alice.uid, alice.shell, alice.comment, alice.home) == (1500, "/bin/sh", "Alice", "/home/alice")
    assert accounts.groups_of("alice") == {"web"}
    assert accounts.shadow["alice"].password == HASH
    assert accounts.shadow["alice"].expiry == "21915"
    assert (root / "home" / "alice").is_dir()


def test_user_second_run_changes_nothing(root: Path, tmp_path: Path) -> None:
    spec = UserOptions(name="alice", uid=1500, shell="/bin/sh", password=HASH, expiry="2030-01-01", root=root)
    converge(spec, tmp_path)
    assert converge(spec, tmp_path) is None


def test_user_noop_check_changes_nothing(root: Path, tmp_path: Path) -> None:
    before = snapshot(root)
    assert MODULE.check(UserOptions(name="alice", uid=1500, root=root), context(tmp_path)) is not None
    assert snapshot(root) == before


def test_user_settings_are_changed_in_place(root: Path, tmp_path: Path) -> None:
    add_group(root, "web", 2001)
    add_group(root, "ops", 2002)
    converge(UserOptions(name="alice", uid=1500, shell="/bin/sh", groups=("web",), root=root), tmp_path)
    summary = converge(UserOptions(name="alice", uid=1501, shell="/bin/bash", groups=("ops",), append=True,
                                   password=HASH, root=root), tmp_path)
    assert summary == "uid 1500 -> 1501, shell /bin/sh -> /bin/bash, groups +ops, password <secret>"
    accounts = read_accounts(root)
    assert (accounts.users["alice"].uid, accounts.users["alice"].shell) == (1501, "/bin/bash")
    assert accounts.groups_of("alice") == {"web", "ops"}
    assert accounts.shadow["alice"].password == HASH


def test_groups_without_append_replace_the_membership(root: Path, tmp_path: Path) -> None:
    add_group(root, "web", 2001)
    add_group(root, "ops", 2002)
    converge(UserOptions(name="alice", groups=("web", "ops"), root=root), tmp_path)
    converge(UserOptions(name="alice", groups=("ops",), root=root), tmp_path)
    assert read_accounts(root).groups_of("alice") == {"ops"}


def test_user_absent_removes_the_user_and_home(root: Path, tmp_path: Path) -> None:
    converge(UserOptions(name="alice", root=root), tmp_path)
    assert converge(UserOptions(name="alice", ensure="absent", root=root), tmp_path) == "remove user alice"
    assert "alice" not in read_accounts(root).users
    assert not (root / "home" / "alice").exists()


def test_a_taken_uid_is_refused_and_nothing_changes(root: Path, tmp_path: Path) -> None:
    before = snapshot(root)
    taken = read_accounts(root).users["root"].uid
    with pytest.raises(ResourceError, match=r"uid 0 is already used by 'root' in .*/etc/passwd; choose another uid"):
        MODULE.check(UserOptions(name="alice", uid=taken, root=root), context(tmp_path))
    assert snapshot(root) == before


def test_invalid_user_names_are_refused_before_any_tool_runs() -> None:
    for name in ("Alice Smith", "al:ice", "-alice", "a" * 40):
        with pytest.raises(ValueError, match="user name .* is invalid"):
            UserOptions(name=name)


def test_a_missing_supplementary_group_reports_the_tools_message(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="group 'nosuchgroup' does not exist"):
        converge(UserOptions(name="alice", groups=("nosuchgroup",), root=root), tmp_path)
    assert "alice" not in read_accounts(root).users


def test_the_password_hash_never_appears_in_changes_reprs_or_logs(root: Path, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spec = UserOptions(name="alice", password=HASH, root=root)
    change = MODULE.check(spec, context(tmp_path))
    assert change is not None
    MODULE.apply(spec, change, context(tmp_path))
    changed = MODULE.check(UserOptions(name="alice", password=HASH.replace("hz0", "zz0"), root=root),
                           context(tmp_path))
    assert changed is not None and changed.summary == "password <secret>"
    for text in (repr(spec), str(spec.model_dump()), spec.model_dump_json(), change.model_dump_json(),
                 changed.model_dump_json(), caplog.text):
        assert HASH not in text and "hz0aK7" not in text


def test_a_primary_group_that_does_not_exist_reports_the_tools_message(root: Path, tmp_path: Path) -> None:
    change = MODULE.check(UserOptions(name="alice", gid="nosuchgroup", root=root), context(tmp_path))
    assert change is not None  # noop-safe: the group may be declared before, uncreated under --noop
    with pytest.raises(ResourceError, match="group 'nosuchgroup' does not exist"):
        MODULE.apply(UserOptions(name="alice", gid="nosuchgroup", root=root), change, context(tmp_path))


def test_home_is_moved_and_expiry_cleared(root: Path, tmp_path: Path) -> None:
    converge(UserOptions(name="alice", home=Path("/home/alice"), expiry="2030-01-01", root=root), tmp_path)
    (root / "home" / "alice" / "notes").write_text("keep me\n")
    summary = converge(UserOptions(name="alice", home=Path("/home/alice2"), comment="Alice A", expiry="never",
                                   root=root), tmp_path)
    assert summary == "home /home/alice -> /home/alice2, comment '' -> 'Alice A', expiry never"
    accounts = read_accounts(root)
    assert (accounts.users["alice"].home, accounts.users["alice"].comment) == ("/home/alice2", "Alice A")
    assert accounts.shadow["alice"].expiry == ""
    assert (root / "home" / "alice2" / "notes").read_text() == "keep me\n"
    assert converge(UserOptions(name="alice", home=Path("/home/alice2"), expiry="never", root=root), tmp_path) is None


def test_an_existing_user_without_home_gets_it_from_the_skeleton(root: Path, tmp_path: Path) -> None:
    skel = root / "etc" / "skel"
    (skel / ".config").mkdir(parents=True)
    (skel / ".profile").write_text("umask 022\n")
    (skel / ".config" / "app").write_text("x\n")
    converge(UserOptions(name="bob", uid=1600, manage_home=False, root=root), tmp_path)
    home = root / "home" / "bob"
    assert not home.exists()
    summary = converge(UserOptions(name="bob", uid=1600, root=root), tmp_path)
    assert summary == "create home /home/bob"
    assert (home / ".profile").read_text() == "umask 022\n"
    assert (home / ".config" / "app").read_text() == "x\n"
    bob = read_accounts(root).users["bob"]
    for path in (home, home / ".profile", home / ".config", home / ".config" / "app"):
        assert (path.stat().st_uid, path.stat().st_gid) == (bob.uid, bob.gid), path
    assert converge(UserOptions(name="bob", uid=1600, root=root), tmp_path) is None


def test_a_missing_home_is_left_missing_without_manage_home(root: Path, tmp_path: Path) -> None:
    converge(UserOptions(name="bob", manage_home=False, root=root), tmp_path)
    assert converge(UserOptions(name="bob", manage_home=False, root=root), tmp_path) is None
    assert not (root / "home" / "bob").exists()


def test_a_home_that_is_a_regular_file_is_refused_before_useradd_runs(root: Path, tmp_path: Path) -> None:
    (root / "srv").mkdir()
    (root / "srv" / "carol").write_text("not a directory\n")
    before = snapshot(root)
    with pytest.raises(ResourceError, match=r"user carol: home /srv/carol exists and is a regular file"):
        MODULE.check(UserOptions(name="carol", home=Path("/srv/carol"), root=root), context(tmp_path))
    assert snapshot(root) == before
    assert "carol" not in read_accounts(root).users


def test_a_new_home_is_created_when_the_old_one_to_move_is_missing(root: Path, tmp_path: Path) -> None:
    converge(UserOptions(name="bob", manage_home=False, root=root), tmp_path)
    summary = converge(UserOptions(name="bob", home=Path("/home/robert"), root=root), tmp_path)
    assert summary == "home /home/bob -> /home/robert, create home /home/robert"
    assert read_accounts(root).users["bob"].home == "/home/robert"
    assert (root / "home" / "robert").is_dir()
    assert converge(UserOptions(name="bob", home=Path("/home/robert"), root=root), tmp_path) is None

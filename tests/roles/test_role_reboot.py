"""The reboot role: only when a flag says so, never under --noop. The reboot command is
a harmless stand-in that leaves a marker file."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import snapshot
from role_support import Roles, changed, converge, failed, result

from partout.errors import PolicyError
from partout.report import Status


def policy(root: Path, **extra: str) -> str:
    options = "".join(f", {name}={value}" for name, value in extra.items())
    return (
        f'p2.reboot("after upgrades", flag="{root}/reboot-required", '
        f'command="echo rebooting; date +%s%N >> {root}/rebooted"{options})\n'
    )


def test_without_the_flag_nothing_happens(roles: Roles, root: Path) -> None:
    report = roles.apply(policy(root))
    assert result(report, "reboot_host:after upgrades").status is Status.OK
    assert not (root / "rebooted").exists()


def test_with_the_flag_it_reboots_once_and_removes_the_flag(roles: Roles, root: Path) -> None:
    (root / "reboot-required").write_text("*** System restart required ***\n")
    noop, first = converge(roles, policy(root), root)
    assert result(noop, "reboot_host:after upgrades").summary == f"reboot ({root}/reboot-required exists)"
    assert result(first, "reboot_host:after upgrades").output == "rebooting\n"
    assert len((root / "rebooted").read_text().splitlines()) == 1
    assert not (root / "reboot-required").exists()


def test_noop_never_reboots(roles: Roles, root: Path) -> None:
    (root / "reboot-required").write_text("")
    before = snapshot(root)
    report = roles.apply(policy(root), noop=True)
    assert changed(report) == ["reboot_host:after upgrades"]
    assert snapshot(root) == before


def test_any_of_several_flags_triggers_it(roles: Roles, root: Path) -> None:
    (root / "b").write_text("")
    roles.apply(
        f'p2.reboot("r", when=["{root}/a", "{root}/b"], command="touch {root}/rebooted", remove_flag=False)\n'
    )
    assert (root / "rebooted").exists()
    assert (root / "b").exists()  # remove_flag=False keeps it


def test_a_failing_command_fails_and_keeps_the_flag(roles: Roles, root: Path) -> None:
    (root / "reboot-required").write_text("")
    report = roles.apply(f'p2.reboot("r", flag="{root}/reboot-required", command="echo no permission; exit 3")\n')
    assert failed(report)["reboot_host:r"].startswith("exited with code 3 (accepted: 0):\nno permission")
    assert (root / "reboot-required").exists()


def test_flag_and_when_together_are_an_error(roles: Roles, root: Path) -> None:
    with pytest.raises(PolicyError, match="reboot: give flag= or when=, not both"):
        roles.compile(f'p2.reboot("r", flag="{root}/a", when="{root}/b")\n')

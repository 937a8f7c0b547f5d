"""The systemd provider: enablement with the real `systemctl --root` on a temp root, and the
clear errors where start/stop need a running systemd. OpenRC's link-based enablement."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from module_support import check_then_apply

from partout.errors import ResourceError
from partout.modules.base import RunContext
from partout.modules.service import MODULE, ServiceOptions
from partout.modules.service.provider import systemd_is_running
from partout.modules.service.systemd import parse_units

pytestmark = pytest.mark.skipif(shutil.which("systemctl") is None, reason="systemctl is not installed")

UNIT = "[Unit]\nDescription=tiny\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    (root / "etc" / "systemd" / "system" / "tiny.service").write_text(UNIT)
    (root / "etc" / "systemd" / "system" / "fixed.service").write_text(UNIT.split("[Install]")[0])
    return root


def context(tmp_path: Path) -> RunContext:
    return RunContext(facts=SimpleNamespace(os=SimpleNamespace(family="debian")), state_dir=tmp_path)


def converge(spec: ServiceOptions, tmp_path: Path) -> str | None:
    return check_then_apply(MODULE, spec, context(tmp_path))


def test_systemd_enables_a_unit_under_a_root(root: Path, tmp_path: Path) -> None:
    spec = ServiceOptions(name="tiny", enabled=True, provider="systemd", root=root)
    assert converge(spec, tmp_path) == "enable tiny"
    assert (root / "etc/systemd/system/multi-user.target.wants/tiny.service").is_symlink()


def test_systemd_service_second_run_changes_nothing(root: Path, tmp_path: Path) -> None:
    spec = ServiceOptions(name="tiny", enabled=True, provider="systemd", root=root)
    converge(spec, tmp_path)
    assert converge(spec, tmp_path) is None


def test_systemd_noop_check_changes_nothing(root: Path, tmp_path: Path) -> None:
    change = MODULE.check(ServiceOptions(name="tiny", enabled=True, provider="systemd", root=root), context(tmp_path))
    assert change is not None and change.summary == "enable tiny"
    assert not (root / "etc/systemd/system/multi-user.target.wants").exists()


def test_systemd_disables_an_enabled_unit(root: Path, tmp_path: Path) -> None:
    converge(ServiceOptions(name="tiny", enabled=True, provider="systemd", root=root), tmp_path)
    assert converge(ServiceOptions(name="tiny", enabled=False, provider="systemd", root=root), tmp_path) == "disable tiny"
    assert not (root / "etc/systemd/system/multi-user.target.wants/tiny.service").exists()


def test_a_static_unit_is_left_alone(root: Path, tmp_path: Path) -> None:
    assert converge(ServiceOptions(name="fixed", enabled=True, provider="systemd", root=root), tmp_path) is None


def test_an_unknown_unit_is_a_clear_error(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="systemd has no unit nothere.service under"):
        MODULE.check(ServiceOptions(name="nothere", enabled=True, provider="systemd", root=root), context(tmp_path))


def test_start_under_a_root_is_refused_with_the_reason(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="cannot start or stop units under root="):
        MODULE.check(ServiceOptions(name="tiny", ensure="running", provider="systemd", root=root), context(tmp_path))


@pytest.mark.skipif(systemd_is_running(), reason="systemd is PID 1 here")
def test_start_without_a_running_systemd_names_pid_1(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match=r"systemd is not running here \(PID 1 is "):
        MODULE.check(ServiceOptions(name="cron", ensure="running", provider="systemd"), context(tmp_path))


def test_list_units_output_is_parsed() -> None:
    output = ("cron.service   loaded active   running Regular background program processing daemon\n"
              "● nginx.service loaded failed   failed  A high performance web server\n"
              "tmp.mount      loaded inactive dead    Temporary Directory /tmp\n")
    assert parse_units(output) == {"cron.service": "active", "nginx.service": "failed", "tmp.mount": "inactive"}


def test_openrc_enables_by_runlevel_link_under_a_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "init.d").mkdir(parents=True)
    (root / "etc" / "init.d" / "sshd").write_text("#!/sbin/openrc-run\n")
    spec = ServiceOptions(name="sshd", enabled=True, provider="openrc", root=root)
    assert converge(spec, tmp_path) == "enable sshd"
    assert (root / "etc/runlevels/default/sshd").is_symlink()
    assert converge(spec, tmp_path) is None
    assert converge(ServiceOptions(name="sshd", enabled=False, provider="openrc", root=root), tmp_path) == "disable sshd"
    assert not (root / "etc/runlevels/default/sshd").is_symlink()


def test_openrc_commands() -> None:
    from partout.modules.service.openrc import action_command, enable_command
    assert action_command("sshd", "restart") == ["rc-service", "sshd", "restart"]
    assert enable_command("sshd", True) == ["rc-update", "add", "sshd", "default"]


def test_unit_file_states_list_every_unit_of_the_root_for_facts(root: Path, tmp_path: Path) -> None:
    from partout.modules.service.systemd import unit_file_states
    converge(ServiceOptions(name="tiny", enabled=True, provider="systemd", root=root), tmp_path)
    states = unit_file_states(root)
    assert states["tiny.service"] == "enabled" and states["fixed.service"] == "static"

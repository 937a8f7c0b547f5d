"""The sysv provider with a real LSB init script in a temp root."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import run_partout
from module_support import check_then_apply

from partout.errors import ResourceError
from partout.modules.base import RunContext
from partout.modules.service import MODULE, ServiceOptions

SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          tiny
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
### END INIT INFO
STATE={state}
case "$1" in
  start) touch "$STATE"; echo start >> {log} ;;
  stop) rm -f "$STATE"; echo stop >> {log} ;;
  restart) touch "$STATE"; echo restart >> {log} ;;
  reload) echo reload >> {log} ;;
  status) [ -f "$STATE" ] && exit 0 || exit 3 ;;
  *) echo "Usage: $0 start|stop|restart|reload|status" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc" / "init.d").mkdir(parents=True)
    (root / "run").mkdir()
    script = root / "etc" / "init.d" / "tiny"
    script.write_text(SCRIPT.format(state=root / "run" / "tiny.state", log=root / "run" / "tiny.log"))
    script.chmod(0o755)
    return root


def context(tmp_path: Path) -> RunContext:
    return RunContext(facts=SimpleNamespace(os=SimpleNamespace(family="debian")), state_dir=tmp_path)


def converge(spec: ServiceOptions, tmp_path: Path) -> str | None:
    return check_then_apply(MODULE, spec, context(tmp_path))


def calls(root: Path) -> list[str]:
    log = root / "run" / "tiny.log"
    return log.read_text().split() if log.exists() else []


def test_sysv_starts_and_enables_a_service_under_a_root(root: Path, tmp_path: Path) -> None:
    spec = ServiceOptions(name="tiny", ensure="running", enabled=True, root=root)
    assert converge(spec, tmp_path) == "enable tiny, start tiny"
    assert (root / "run" / "tiny.state").exists()
    assert sorted(path.name for path in root.glob("etc/rc?.d/*tiny")) == ["K01tiny"] * 3 + ["S01tiny"] * 4
    assert os.readlink(root / "etc" / "rc2.d" / "S01tiny") == "../init.d/tiny"


def test_sysv_service_second_run_changes_nothing(root: Path, tmp_path: Path) -> None:
    spec = ServiceOptions(name="tiny", ensure="running", enabled=True, root=root)
    converge(spec, tmp_path)
    assert converge(spec, tmp_path) is None
    assert calls(root) == ["start"]


def test_sysv_noop_check_changes_nothing(root: Path, tmp_path: Path) -> None:
    change = MODULE.check(ServiceOptions(name="tiny", ensure="running", enabled=True, root=root), context(tmp_path))
    assert change is not None and change.data["steps"] == ["enable", "start"]
    assert calls(root) == [] and not list(root.glob("etc/rc?.d"))


def test_sysv_stops_and_disables(root: Path, tmp_path: Path) -> None:
    converge(ServiceOptions(name="tiny", ensure="running", enabled=True, root=root), tmp_path)
    assert converge(ServiceOptions(name="tiny", ensure="stopped", enabled=False, root=root), tmp_path) == \
        "disable tiny, stop tiny"
    assert not (root / "run" / "tiny.state").exists()
    assert not list(root.glob("etc/rc?.d/S*tiny"))


def test_restart_and_reload_actions_run_the_script(root: Path, tmp_path: Path) -> None:
    spec = ServiceOptions(name="tiny", ensure="running", root=root)
    MODULE.actions["restart"](spec, context(tmp_path))
    MODULE.actions["reload"](spec, context(tmp_path))
    assert calls(root) == ["restart", "reload"]


def test_restart_leaves_a_service_that_should_be_stopped_alone(root: Path, tmp_path: Path) -> None:
    MODULE.actions["restart"](ServiceOptions(name="tiny", ensure="stopped", root=root), context(tmp_path))
    assert calls(root) == []


def test_a_missing_init_script_is_a_clear_error(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match=r"no init script .*/etc/init.d/nothere"):
        MODULE.check(ServiceOptions(name="nothere", ensure="running", provider="sysv", root=root), context(tmp_path))


def test_a_failing_action_carries_the_scripts_message(root: Path, tmp_path: Path) -> None:
    spec = ServiceOptions(name="tiny", root=root)
    with pytest.raises(ResourceError, match="Usage: .*start|stop"):
        from partout.modules.service.sysv import PROVIDER
        PROVIDER.run_action(spec, "frobnicate")


def test_an_init_script_under_the_root_chooses_sysv(root: Path) -> None:
    from partout.modules.service.provider import provider_name
    assert provider_name(ServiceOptions(name="tiny", root=root), SimpleNamespace(os=None)) == "sysv"
    assert provider_name(ServiceOptions(name="tiny", root=root),
                         SimpleNamespace(os=SimpleNamespace(family="alpine"))) == "openrc"


def test_bad_service_names_are_refused() -> None:
    with pytest.raises(ValueError):
        ServiceOptions(name="tiny; rm -rf /")


def dpkg_root(tmp_path: Path) -> Path:
    """An empty dpkg database: every package is "not installed yet"."""
    admindir = tmp_path / "dpkg-root" / "var" / "lib" / "dpkg"
    admindir.mkdir(parents=True)
    (admindir / "status").write_text("")
    return tmp_path / "dpkg-root"


def noop_apply(tmp_path: Path, root: Path, body: str) -> subprocess.CompletedProcess[str]:
    policy = tmp_path / "site.p2"
    policy.write_text(body + f'p2.service("later", ensure="running", enabled=True, provider="sysv", root="{root}"'
                      + (', require="package:nginx-full"' if "nginx-full" in body else "") + ")\n")
    return run_partout("apply", "--noop", "--state-dir", str(tmp_path / "state"), str(policy))


@pytest.mark.parametrize("package", ["later", "later-daemon", "nginx-full"])
def test_noop_passes_a_missing_service_that_a_package_of_the_policy_would_install(
        root: Path, tmp_path: Path, package: str) -> None:
    # "nginx-full" is unrelated by name, but the service requires it.
    completed = noop_apply(tmp_path, root, f'p2.package("{package}", provider="apt", root="{dpkg_root(tmp_path)}")\n')
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert (f"service:later  enable, start later (not installed yet: package {package} would install it)"
            in completed.stdout)


@pytest.mark.parametrize("body", ["", 'p2.package("curl", provider="apt", root="{dpkg}")\n'])
def test_noop_fails_a_missing_service_that_no_package_of_the_policy_provides(
        root: Path, tmp_path: Path, body: str) -> None:
    completed = noop_apply(tmp_path, root, body.format(dpkg=dpkg_root(tmp_path)))
    assert completed.returncode == 1
    assert f"failed   service:later  service later: no init script {root}/etc/init.d/later" in completed.stdout


def test_a_missing_service_fails_a_real_run(root: Path, tmp_path: Path) -> None:
    spec = ServiceOptions(name="later", ensure="running", enabled=True, provider="sysv", root=root)
    with pytest.raises(ResourceError, match="no init script"):
        MODULE.check(spec, context(tmp_path))


def test_noop_fails_a_missing_service_whose_related_package_is_already_installed(root: Path, tmp_path: Path) -> None:
    dpkg = dpkg_root(tmp_path)
    (dpkg / "var/lib/dpkg/status").write_text(
        "Package: later\nStatus: install ok installed\nVersion: 1.0\nArchitecture: all\n\n")
    completed = noop_apply(tmp_path, root, f'p2.package("later", provider="apt", root="{dpkg}")\n')
    assert completed.returncode == 1
    assert "failed   service:later  service later: no init script" in completed.stdout

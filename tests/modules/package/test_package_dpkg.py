"""dpkg with --root on .deb files built by dpkg-deb in the session; apt's reading of the
same database, its command lines, and its real error for an unknown package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from partout.errors import ResourceError
from partout.modules.base import RunContext
from partout.modules.package import MODULE, PackageOptions
from partout.modules.package.apt import PROVIDERS as APT, parse_simulation
from partout.modules.package.dpkg import parse_status
from partout.modules.package.provider import run

FIXTURES = Path(__file__).parent.parent / "fixtures"


def status_of(root: Path) -> dict[str, str]:
    return parse_status((root / "var/lib/dpkg/status").read_text())


def converge(specs: list[PackageOptions], context: RunContext) -> list[str | None]:
    MODULE.prepare(specs, context)  # type: ignore[misc]
    items = [(spec, change) for spec in specs if (change := MODULE.check(spec, context)) is not None]
    return [outcome.error for outcome in MODULE.apply_batch(items, context)] if items else []  # type: ignore[misc]


def test_deb_source_chooses_dpkg_and_installs_into_the_root(dpkg_root: Path, debs: dict[str, Path],
                                                           context: RunContext) -> None:
    specs = [PackageOptions(name="tinydeb", source=debs["tinydeb-1"], root=dpkg_root),
             PackageOptions(name="otherdeb", source=debs["otherdeb"], root=dpkg_root)]
    assert converge(specs, context) == [None, None]
    assert status_of(dpkg_root)["tinydeb"] == "1.0-1"
    assert status_of(dpkg_root)["otherdeb"] == "0.5"
    assert (dpkg_root / "usr/share/tinydeb/README").read_text() == "tinydeb 1.0-1\n"


def test_dpkg_second_run_changes_nothing(dpkg_root: Path, debs: dict[str, Path], context: RunContext,
                                         tmp_path: Path) -> None:
    spec = PackageOptions(name="tinydeb", source=debs["tinydeb-1"], root=dpkg_root)
    converge([spec], context)
    assert MODULE.check(spec, RunContext(facts=context.facts, state_dir=tmp_path)) is None


def test_dpkg_noop_check_leaves_the_root_untouched(dpkg_root: Path, debs: dict[str, Path],
                                                   context: RunContext) -> None:
    change = MODULE.check(PackageOptions(name="tinydeb", source=debs["tinydeb-1"], root=dpkg_root), context)
    assert change is not None and change.summary == "install tinydeb 1.0-1"
    assert status_of(dpkg_root) == {}


def test_a_newer_deb_replaces_the_installed_version(dpkg_root: Path, debs: dict[str, Path], context: RunContext,
                                                    tmp_path: Path) -> None:
    converge([PackageOptions(name="tinydeb", source=debs["tinydeb-1"], root=dpkg_root)], context)
    newer = PackageOptions(name="tinydeb", source=debs["tinydeb-2"], root=dpkg_root)
    change = MODULE.check(newer, RunContext(facts=context.facts, state_dir=tmp_path))
    assert change is not None and change.summary == "install tinydeb 2.0-1 (have 1.0-1)"
    converge([newer], RunContext(facts=context.facts, state_dir=tmp_path))
    assert status_of(dpkg_root)["tinydeb"] == "2.0-1"


def test_dpkg_absent_removes_the_package(dpkg_root: Path, debs: dict[str, Path], context: RunContext,
                                         tmp_path: Path) -> None:
    converge([PackageOptions(name="otherdeb", source=debs["otherdeb"], root=dpkg_root)], context)
    gone = PackageOptions(name="otherdeb", provider="dpkg", ensure="absent", root=dpkg_root)
    assert converge([gone], RunContext(facts=context.facts, state_dir=tmp_path)) == [None]
    assert "otherdeb" not in status_of(dpkg_root)
    assert not (dpkg_root / "usr/share/otherdeb/README").exists()


def test_a_deb_with_a_missing_dependency_fails_alone_in_its_batch(dpkg_root: Path, debs: dict[str, Path],
                                                                  context: RunContext) -> None:
    specs = [PackageOptions(name="brokendeb", source=debs["brokendeb"], root=dpkg_root),
             PackageOptions(name="tinydeb", source=debs["tinydeb-1"], root=dpkg_root)]
    errors = converge(specs, context)
    assert errors[1] is None and status_of(dpkg_root)["tinydeb"] == "1.0-1"
    assert errors[0] is not None and "no-such-dependency" in errors[0]  # dpkg's own words


def test_a_source_holding_another_package_is_refused(dpkg_root: Path, debs: dict[str, Path],
                                                     context: RunContext) -> None:
    with pytest.raises(ResourceError, match="holds package 'otherdeb', not 'tinydeb'"):
        MODULE.check(PackageOptions(name="tinydeb", source=debs["otherdeb"], root=dpkg_root), context)


def test_apt_reads_the_dpkg_database_of_its_root(dpkg_root: Path, debs: dict[str, Path], context: RunContext,
                                                 tmp_path: Path) -> None:
    converge([PackageOptions(name="tinydeb", source=debs["tinydeb-1"], root=dpkg_root)], context)
    run_context = RunContext(facts=context.facts, state_dir=tmp_path)
    assert MODULE.check(PackageOptions(name="tinydeb", root=dpkg_root), run_context) is None
    assert MODULE.check(PackageOptions(name="tinydeb", ensure="1.0", root=dpkg_root), run_context) is None
    pinned = MODULE.check(PackageOptions(name="tinydeb", ensure="2.0-1", root=dpkg_root), run_context)
    assert pinned is not None and pinned.data["provider"] == "apt"


def test_apt_batches_names_versions_and_the_root_into_one_command(dpkg_root: Path) -> None:
    specs = [PackageOptions(name="nginx", root=dpkg_root), PackageOptions(name="curl", ensure="7.88.1-10", root=dpkg_root)]
    argv = APT["apt"].command("install", specs)
    assert argv[0].endswith("apt-get") and argv[-3:] == ["install", "nginx", "curl=7.88.1-10"]
    assert f"DPkg::Options::=--root={dpkg_root}" in argv
    assert f"Dir::State::status={dpkg_root}/var/lib/dpkg/status" in argv
    assert APT["apt"].command("upgrade", specs[:1])[-3:] == ["install", "--only-upgrade", "nginx"]
    assert APT["apt"].command("remove", specs[:1])[-2:] == ["remove", "nginx"]


def test_apt_unknown_package_reports_apts_own_message() -> None:
    spec = PackageOptions(name="no-such-package-partout")
    with pytest.raises(ResourceError, match="Unable to locate package no-such-package-partout"):
        run([shutil.which("apt-get") or "apt-get", "-s", "-q", "install", spec.name])


def test_apt_candidate_versions_are_parsed_from_a_simulated_dist_upgrade() -> None:
    upgrades = parse_simulation((FIXTURES / "apt-get-s-dist-upgrade.txt").read_text())
    assert upgrades["bash"] == "5.2.15-2+b13"
    assert upgrades["tzdata"] == "2026b-0+deb12u1"
    assert len(upgrades) == 106 and all(" " not in version for version in upgrades.values())


def test_dpkg_status_keeps_only_installed_packages() -> None:
    installed = parse_status((FIXTURES / "dpkg-status.txt").read_text())
    assert installed["bash"] == "5.2.15-2+b8"
    assert installed["libc6:amd64"] == "2.36-9+deb12u14"
    assert "oldconf" not in installed  # "deinstall ok config-files"


def test_installed_packages_lists_the_database_for_facts(dpkg_root: Path, debs: dict[str, Path],
                                                         context: RunContext) -> None:
    from partout.modules.package import installed_packages
    converge([PackageOptions(name="tinydeb", source=debs["tinydeb-1"], root=dpkg_root)], context)
    assert installed_packages(context.facts, root=dpkg_root) == {"tinydeb": "1.0-1"}


def test_a_missing_source_file_fails_but_noop_reports_it_would_install(dpkg_root: Path, tmp_path: Path,
                                                                       context: RunContext) -> None:
    spec = PackageOptions(name="later", source=tmp_path / "later_1.0_all.deb", root=dpkg_root)
    with pytest.raises(ResourceError, match="later_1.0_all.deb does not exist"):
        MODULE.check(spec, context)
    change = MODULE.check(spec, RunContext(facts=context.facts, state_dir=tmp_path, noop=True))
    assert change is not None and "not there yet" in change.summary


def test_a_temp_root_install_logs_inside_the_root_and_leaves_the_host_log_alone(
        dpkg_root: Path, debs: dict[str, Path], context: RunContext) -> None:
    (dpkg_root / "var/log").mkdir()  # as on a real system; without it dpkg logs nothing, still not on the host
    host_log = Path("/var/log/dpkg.log")
    before = host_log.read_bytes() if host_log.exists() else None
    assert converge([PackageOptions(name="tinydeb", source=debs["tinydeb-1"], root=dpkg_root)], context) == [None]
    assert status_of(dpkg_root)["tinydeb"] == "1.0-1"
    assert (host_log.read_bytes() if host_log.exists() else None) == before
    assert "tinydeb" in (dpkg_root / "var/log/dpkg.log").read_text()
    argv = APT["apt"].command("install", [PackageOptions(name="curl", root=dpkg_root)])
    assert f"DPkg::Options::=--log={dpkg_root}/var/log/dpkg.log" in argv


def test_purged_removes_the_configuration_that_absent_keeps(dpkg_root: Path, debs: dict[str, Path],
                                                           tmp_path: Path) -> None:
    def fresh() -> RunContext:
        return RunContext(facts=None, state_dir=tmp_path)

    conf = dpkg_root / "etc/confdeb.conf"
    spec = PackageOptions(name="confdeb", source=debs["confdeb"], root=dpkg_root)
    assert converge([spec], fresh()) == [None]
    assert conf.exists()
    assert converge([spec.model_copy(update={"ensure": "absent"})], fresh()) == [None]
    assert "confdeb" not in status_of(dpkg_root) and conf.exists()  # dpkg --remove keeps conffiles
    purged = spec.model_copy(update={"ensure": "purged"})
    change = MODULE.check(purged, fresh())
    assert change is not None and change.summary == "purge confdeb (its configuration files remain)"
    assert converge([purged], fresh()) == [None]
    assert not conf.exists()
    assert "confdeb" not in (dpkg_root / "var/lib/dpkg/status").read_text()
    assert MODULE.check(purged, fresh()) is None


def test_purged_removes_an_installed_package_with_its_configuration(dpkg_root: Path, debs: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    spec = PackageOptions(name="confdeb", source=debs["confdeb"], root=dpkg_root)
    converge([spec], RunContext(facts=None, state_dir=tmp_path))
    purged = spec.model_copy(update={"ensure": "purged"})
    change = MODULE.check(purged, RunContext(facts=None, state_dir=tmp_path))
    assert change is not None and change.summary == "purge confdeb 1.0"
    assert converge([purged], RunContext(facts=None, state_dir=tmp_path)) == [None]
    assert not (dpkg_root / "etc/confdeb.conf").exists()
    assert APT["apt"].command("purge", [purged])[-2:] == ["purge", "confdeb"]

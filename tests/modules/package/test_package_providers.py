"""Provider choice from facts, and the providers whose tools are not on this machine
(dnf/yum, rpm, zypper, apk): their command lines and their parsers on tool outputs."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from partout.errors import ResourceError
from partout.modules.base import RunContext
from partout.modules.package import MODULE, PackageOptions
from partout.modules.package.apk import PROVIDERS as APK, parse_installed, parse_version_list
from partout.modules.package.dnf import PROVIDERS as DNF, parse_check_update
from partout.modules.package.provider import provider_name, version_matches
from partout.modules.package.rpm import PROVIDERS as RPM, parse_query
from partout.modules.package.zypper import PROVIDERS as ZYPPER, parse_list_updates

FIXTURES = Path(__file__).parent.parent / "fixtures"


def facts(family: str | None) -> SimpleNamespace:
    return SimpleNamespace(os=SimpleNamespace(family=family))


@pytest.mark.parametrize(("family", "expected"), [
    ("debian", "apt"), ("Debian", "apt"), ("suse", "zypper"), ("alpine", "apk"),
])
def test_the_provider_follows_the_os_family_fact(family: str, expected: str) -> None:
    assert provider_name(PackageOptions(name="vim"), facts(family))[0] == expected


def test_redhat_family_chooses_dnf_or_yum_by_what_is_installed() -> None:
    expected = "yum" if shutil.which("dnf") is None and shutil.which("yum") else "dnf"
    assert provider_name(PackageOptions(name="vim"), facts("redhat"))[0] == expected


def test_facts_as_plain_dicts_are_understood() -> None:
    assert provider_name(PackageOptions(name="vim"), {"os": {"family": "alpine"}})[0] == "apk"


def test_provider_option_and_source_suffix_override_facts() -> None:
    assert provider_name(PackageOptions(name="x", provider="pip"), facts("debian")) == ("pip", "provider= option")
    assert provider_name(PackageOptions(name="x", source=Path("/tmp/x.rpm")), facts("debian"))[0] == "rpm"


def test_an_unknown_family_asks_for_provider(tmp_path: Path) -> None:
    context = RunContext(facts=facts("plan9"), state_dir=tmp_path)
    with pytest.raises(ResourceError, match=r"os.family='plan9'; set provider="):
        MODULE.check(PackageOptions(name="vim"), context)


@pytest.mark.skipif(shutil.which("zypper") is not None, reason="zypper is installed here")
def test_a_provider_missing_here_is_named_with_the_facts_that_chose_it(tmp_path: Path) -> None:
    context = RunContext(facts=facts("suse"), state_dir=tmp_path)
    with pytest.raises(ResourceError, match=r"provider zypper \(chosen by facts os.family='suse'\) is not available"):
        MODULE.check(PackageOptions(name="vim"), context)


def test_bad_ensure_is_refused_when_options_are_built() -> None:
    with pytest.raises(ValueError, match=r"ensure must be present \(or installed\), latest, absent, purged or a version"):
        PackageOptions(name="vim", ensure="1.0 beta")


@pytest.mark.parametrize(("ensure", "hint"), [("purge", "purged"), ("lastest", "latest"), ("removed", "absent"),
                                              ("Installed", "present"), ("abesnt", "absent")])
def test_an_ensure_that_is_no_keyword_nor_version_is_refused_with_a_hint(ensure: str, hint: str) -> None:
    with pytest.raises(ValueError, match=f"not '{ensure}'; did you mean '{hint}'"):
        PackageOptions(name="vim", ensure=ensure)


def test_installed_means_present_and_versions_of_every_manager_are_accepted() -> None:
    assert PackageOptions(name="vim", ensure="installed").ensure == "present"
    for version in ("1:9.0.1378-2", "2.0rc1", "v1.2.3", "1.2.5-r0", "3.0.7-27.el9", "7"):
        assert PackageOptions(name="vim", ensure=version).ensure == version


def test_purged_is_the_same_as_absent_where_the_manager_keeps_no_configuration(
        venv: Path, wheel_dir: Path, tmp_path: Path) -> None:
    context = RunContext(facts=facts("debian"), state_dir=tmp_path)
    spec = PackageOptions(name="tinya", provider="pip", virtualenv=venv, find_links=(str(wheel_dir),), no_index=True)
    MODULE.apply(spec, MODULE.check(spec, context), context)  # type: ignore[arg-type]
    purged = spec.model_copy(update={"ensure": "purged"})
    change = MODULE.check(purged, RunContext(facts=facts("debian"), state_dir=tmp_path))
    assert change is not None
    assert change.summary == "remove tinya 2.0 (purged: pip keeps no configuration, the same as absent)"
    MODULE.apply(purged, change, context)
    assert MODULE.check(purged, RunContext(facts=facts("debian"), state_dir=tmp_path)) is None


def test_versions_match_exactly_or_without_epoch_and_release() -> None:
    assert version_matches("1:3.0.7-27.el9", "3.0.7")
    assert version_matches("1.0-1", "1.0-1") and version_matches("1.0-1", "1.0")
    assert not version_matches("1.0.1-1", "1.0")


def test_rpm_query_output_gives_versions_with_epochs() -> None:
    installed = parse_query((FIXTURES / "rpm-qa.txt").read_text())
    assert installed["bash"] == "5.1.8-9.el9"
    assert installed["openssl-libs"] == "1:3.0.7-27.el9"
    assert installed["glibc.i686"] == "2.34-100.el9_4.2"


def test_dnf_check_update_output_gives_candidates() -> None:
    upgrades = parse_check_update((FIXTURES / "dnf-check-update.txt").read_text())
    assert upgrades["bash"] == "5.1.8-9.el9_4.1"
    assert upgrades["openssl-libs"] == "1:3.0.7-28.el9_4"
    assert "grub2-tools-efi" not in upgrades  # the obsoleted package, indented


def test_dnf_and_yum_batch_packages_into_one_command() -> None:
    specs = [PackageOptions(name="vim"), PackageOptions(name="bash", ensure="5.1.8", root=None)]
    dnf = DNF["dnf"].command("install", specs)
    assert dnf[1:] == ["--assumeyes", "--quiet", "install", "vim", "bash-5.1.8"]
    assert DNF["yum"].command("remove", specs)[1:] == ["--assumeyes", "--quiet", "remove", "vim", "bash"]
    rooted = DNF["dnf"].command("upgrade", [PackageOptions(name="vim", root=Path("/mnt/sys"))])
    assert rooted[1:] == ["--assumeyes", "--quiet", "--installroot=/mnt/sys", "upgrade", "vim"]


def test_rpm_installs_local_files_in_one_command() -> None:
    specs = [PackageOptions(name="a", source=Path("/srv/a.rpm")), PackageOptions(name="b", source=Path("/srv/b.rpm"))]
    assert RPM["rpm"].command("install", specs)[1:] == ["--upgrade", "--replacepkgs", "/srv/a.rpm", "/srv/b.rpm"]
    assert RPM["rpm"].command("remove", specs)[1:] == ["--erase", "a", "b"]


def test_zypper_list_updates_keeps_packages_not_patches() -> None:
    upgrades = parse_list_updates((FIXTURES / "zypper-list-updates.xml").read_text())
    assert upgrades == {"libopenssl3": "3.1.4-9.1", "vim": "9.1.0330-150500.20.12.1"}


def test_zypper_commands_are_non_interactive() -> None:
    specs = [PackageOptions(name="vim", ensure="9.1.0330"), PackageOptions(name="git")]
    assert ZYPPER["zypper"].command("install", specs)[1:] == [
        "--non-interactive", "install", "--auto-agree-with-licenses", "vim=9.1.0330", "git"]
    assert ZYPPER["zypper"].command("upgrade", specs[1:])[1:] == ["--non-interactive", "update", "git"]


def test_apk_database_and_version_list_are_parsed() -> None:
    installed = parse_installed((FIXTURES / "apk-installed.txt").read_text())
    assert installed == {"musl": "1.2.4_git20230717-r4", "busybox": "1.36.1-r15",
                         "ca-certificates-bundle": "20240226-r0"}
    upgrades = parse_version_list((FIXTURES / "apk-version-outdated.txt").read_text())
    assert upgrades == {"busybox": "1.36.1-r20", "ca-certificates-bundle": "20240705-r0", "libcrypto3": "3.1.7-r1"}


def test_apk_reads_the_database_under_its_root(tmp_path: Path) -> None:
    database = tmp_path / "lib" / "apk" / "db" / "installed"
    database.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "apk-installed.txt", database)
    assert APK["apk"].installed(PackageOptions(name="musl", root=tmp_path))["busybox"] == "1.36.1-r15"
    specs = [PackageOptions(name="curl", root=tmp_path), PackageOptions(name="musl", ensure="1.2.5-r0", root=tmp_path)]
    assert APK["apk"].command("install", specs)[1:] == ["--no-progress", "--root", str(tmp_path), "add", "curl",
                                                        "musl=1.2.5-r0"]
    assert APK["apk"].command("remove", specs[:1])[-2:] == ["del", "curl"]

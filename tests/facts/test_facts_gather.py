"""Facts gathered on this machine, facts from files, custom facts from facts.d."""

from __future__ import annotations

import json
import os
import platform
import pwd
import socket
from pathlib import Path

import pytest

from partout.errors import FactsError
from partout.facts import SECTIONS, Facts, gather, load
from partout.facts.packages import parse_apk_installed, parse_dpkg_status
from partout.facts.system import family_of, parse_os_release


def test_gathered_facts_describe_this_machine(tmp_path: Path) -> None:
    facts = gather(facts_d=tmp_path)
    assert facts.hostname == socket.gethostname().split(".")[0]
    assert facts.os.kernel == os.uname().release
    assert facts.os.arch == os.uname().machine
    assert facts.cpus >= 1
    assert facts.memory > 64 * 1024 * 1024
    assert facts.python == platform.python_version()
    assert facts.fqdn


def test_os_family_comes_from_os_release(tmp_path: Path) -> None:
    release = parse_os_release(Path("/etc/os-release").read_text())
    facts = gather(facts_d=tmp_path)
    assert facts.os.id == release["ID"].lower()
    assert facts.os.version == release.get("VERSION_ID", "")
    assert facts.os.family == family_of(release["ID"].lower(), release.get("ID_LIKE", "").lower())


@pytest.mark.parametrize(
    ("dist_id", "id_like", "family"),
    [
        ("ubuntu", "debian", "debian"),
        ("rocky", "rhel centos fedora", "redhat"),
        ("opensuse-leap", "suse opensuse", "suse"),
        ("alpine", "", "alpine"),
        ("endeavouros", "arch", "arch"),
        ("nixos", "", "nixos"),
    ],
)
def test_os_family_is_found_through_id_like(dist_id: str, id_like: str, family: str) -> None:
    assert family_of(dist_id, id_like) == family


def test_os_release_values_may_be_quoted() -> None:
    parsed = parse_os_release('NAME="Rocky Linux"\nID=rocky\nVERSION_ID="9.3"\n# comment\n')
    assert parsed == {"NAME": "Rocky Linux", "ID": "rocky", "VERSION_ID": "9.3"}


def test_users_and_groups_come_from_the_account_files(tmp_path: Path) -> None:
    facts = gather(facts_d=tmp_path)
    root = pwd.getpwnam("root")
    assert facts.users["root"].uid == 0
    assert facts.users["root"].home == root.pw_dir
    assert facts.groups["root"].gid == 0


def test_nics_include_loopback_with_its_address(tmp_path: Path) -> None:
    facts = gather(facts_d=tmp_path)
    assert "lo" in facts.nics
    assert "127.0.0.1/8" in facts.nics["lo"].addresses


@pytest.mark.skipif(not Path("/var/lib/dpkg/status").exists(), reason="no dpkg database here")
def test_packages_come_from_the_dpkg_database(tmp_path: Path) -> None:
    facts = gather(facts_d=tmp_path)
    expected = parse_dpkg_status(Path("/var/lib/dpkg/status").read_text())
    assert facts.packages == expected
    assert "dpkg" in facts.packages


def test_dpkg_status_keeps_only_installed_packages() -> None:
    text = (
        "Package: a\nStatus: install ok installed\nVersion: 1.0\n\n"
        "Package: b\nStatus: deinstall ok config-files\nVersion: 2.0\n\n"
        "Package: c\nStatus: install ok installed\nVersion: 1:3.0-1\nDescription: x\n more\n"
    )
    assert parse_dpkg_status(text) == {"a": "1.0", "c": "1:3.0-1"}


def test_apk_database_is_parsed() -> None:
    assert parse_apk_installed("C:Q1abc\nP:musl\nV:1.2.4-r2\n\nP:busybox\nV:1.36.1-r5\n") == {
        "musl": "1.2.4-r2", "busybox": "1.36.1-r5",
    }


def test_json_dump_has_every_section(tmp_path: Path) -> None:
    dumped = json.loads(gather(facts_d=tmp_path).model_dump_json())
    assert list(dumped) == list(SECTIONS)


def test_dumped_facts_load_back_equal(tmp_path: Path) -> None:
    facts = gather(facts_d=tmp_path)
    dump = tmp_path / "facts.json"
    dump.write_text(facts.model_dump_json())
    assert load(dump).model_dump() == facts.model_dump()


def test_facts_file_may_be_yaml_and_partial(tmp_path: Path) -> None:
    path = tmp_path / "web1.yaml"
    path.write_text("hostname: web1\nos:\n  family: redhat\n  version: '9'\npackages:\n  nginx: '1.24'\n")
    facts = load(path)
    assert facts.hostname == "web1"
    assert facts.os.family == "redhat"
    assert facts.packages == {"nginx": "1.24"}
    # Missing sections are empty, never this machine's.
    assert facts.users == {}
    assert facts.cpus == 1


def test_malformed_facts_file_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"os": {"family": 7}}))
    with pytest.raises(FactsError, match=r"bad.json: field os.family: Input should be a valid string"):
        load(path)


def test_malformed_lazy_section_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"users": {"alice": {"uid": "many"}}}))
    with pytest.raises(FactsError, match=r"bad.json: field users.alice.uid: Input should be a valid integer"):
        load(path)


def test_unknown_fact_in_a_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("osfamily: debian\n")
    with pytest.raises(FactsError, match=r"typo.yaml: unknown fact 'osfamily'"):
        load(path)


def test_invalid_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n"hostname": "x",\n}\n')
    with pytest.raises(FactsError, match=r"broken.json:3: not valid JSON"):
        load(path)


def test_missing_facts_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FactsError, match="does not exist"):
        load(tmp_path / "nope.json")


def test_custom_facts_from_json_yaml_and_executables(tmp_path: Path) -> None:
    facts_d = tmp_path / "facts.d"
    facts_d.mkdir()
    (facts_d / "role.json").write_text('{"role": "web", "tier": {"name": "front"}}')
    (facts_d / "site.yaml").write_text("datacenter: par1\n")
    script = facts_d / "uptime"
    script.write_text('#!/bin/sh\necho \'{"from_script": 42}\'\n')
    script.chmod(0o755)
    (facts_d / "README").write_text("not a fact\n")
    facts = gather(facts_d=facts_d)
    assert facts.custom == {"role": "web", "tier": {"name": "front"}, "datacenter": "par1", "from_script": 42}
    # Attribute access, as policies write it.
    assert facts.custom.role == "web"
    assert facts.custom.tier.name == "front"


def test_broken_custom_fact_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("key: [unclosed\n")
    with pytest.raises(FactsError, match=r"custom facts file .*bad.yaml:\d+: not valid YAML"):
        gather(facts_d=tmp_path).custom


def test_failing_custom_fact_executable_names_the_file(tmp_path: Path) -> None:
    script = tmp_path / "broken"
    script.write_text("#!/bin/sh\necho nope >&2\nexit 4\n")
    script.chmod(0o755)
    with pytest.raises(FactsError, match=r"broken exited with code 4: nope"):
        gather(facts_d=tmp_path).custom


def test_missing_facts_d_means_no_custom_facts(tmp_path: Path) -> None:
    assert gather(facts_d=tmp_path / "none").custom == {}


def test_facts_are_attribute_access_in_templates(tmp_path: Path) -> None:
    from partout.modules.files.templates import render_template

    facts = Facts.model_validate({"hostname": "web1", "os": {"family": "debian"}, "custom": {"role": "db"}})
    text = render_template(
        "{{ facts.hostname }} {{ facts.os.family }} {{ facts.custom.role }}", name="t", facts=facts, vars={}, title="t"
    )
    assert text == "web1 debian db"


def test_disks_match_sys_block(tmp_path: Path) -> None:
    facts = gather(facts_d=tmp_path)
    for name, disk in facts.disks.items():
        sectors = int((Path("/sys/block") / name / "size").read_text())
        assert disk.size == sectors * 512


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="systemd host: services come from systemctl")
def test_sysv_services_are_the_init_scripts(tmp_path: Path) -> None:
    facts = gather(facts_d=tmp_path)
    init_d = Path("/etc/init.d")
    scripts = {p.name for p in init_d.iterdir() if os.access(p, os.X_OK)} if init_d.is_dir() else set()
    assert set(facts.services) == scripts - {"README", "skeleton", "rc", "rcS", "functions"}
    assert all(service.provider == "sysv" for service in facts.services.values())


def test_lazy_sections_are_computed_once(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"n": 1}')
    facts = gather(facts_d=tmp_path)
    assert facts.custom == {"n": 1}
    (tmp_path / "a.json").write_text('{"n": 2}')
    # Facts are a snapshot of one run: the second read is the cached first.
    assert facts.custom == {"n": 1}

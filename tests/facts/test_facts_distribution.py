"""The distribution of a root: os-release when it has one, the older release files when
not (CentOS, RHEL and Oracle Linux 6; Debian 6), built as fake roots in temp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from partout.facts.distribution import os_facts, parse_release_line


def root_with(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"etc/redhat-release": "CentOS release 6.10 (Final)\n"},
         ("redhat", "centos", "6.10", "6", "Final", "CentOS release 6.10 (Final)")),
        ({"etc/redhat-release": "Red Hat Enterprise Linux Server release 6.9 (Santiago)\n"},
         ("redhat", "rhel", "6.9", "6", "Santiago", "Red Hat Enterprise Linux Server release 6.9 (Santiago)")),
        # Oracle Linux 6 also has a redhat-release that names RHEL: oracle-release wins
        ({"etc/oracle-release": "Oracle Linux Server release 6.10\n",
          "etc/redhat-release": "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n"},
         ("redhat", "ol", "6.10", "6", "", "Oracle Linux Server release 6.10")),
        ({"etc/redhat-release": "Scientific Linux release 6.4 (Carbon)\n"},
         ("redhat", "scientific", "6.4", "6", "Carbon", "Scientific Linux release 6.4 (Carbon)")),
        ({"etc/debian_version": "6.0.10\n"},
         ("debian", "debian", "6.0.10", "6", "", "Debian GNU/Linux 6.0.10")),
    ],
)
def test_a_root_without_os_release_is_known_by_its_release_file(
        tmp_path: Path, files: dict[str, str], expected: tuple[str, ...]) -> None:
    facts = os_facts(root_with(tmp_path, files))
    assert (facts.family, facts.id, facts.version, facts.major, facts.codename, facts.name) == expected
    # the kernel and architecture are the running system's, whatever the root
    assert (facts.kernel, facts.arch) == (os.uname().release, os.uname().machine)


def test_os_release_wins_over_older_release_files(tmp_path: Path) -> None:
    root = root_with(tmp_path, {
        "etc/os-release": 'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3"\n',
        "etc/redhat-release": "Rocky Linux release 9.3 (Blue Onyx)\n",
    })
    facts = os_facts(root)
    assert (facts.family, facts.id, facts.version, facts.name) == ("redhat", "rocky", "9.3", "Rocky Linux 9.3")


def test_os_release_under_usr_lib_is_read_when_etc_has_none(tmp_path: Path) -> None:
    facts = os_facts(root_with(tmp_path, {"usr/lib/os-release": "ID=alpine\nVERSION_ID=3.19.1\n"}))
    assert (facts.family, facts.id, facts.major) == ("alpine", "alpine", "3")


def test_a_root_with_no_release_file_is_unknown(tmp_path: Path) -> None:
    facts = os_facts(tmp_path)
    assert (facts.family, facts.id, facts.version) == ("unknown", "unknown", "")


def test_a_release_file_that_is_not_a_release_line_is_ignored(tmp_path: Path) -> None:
    assert parse_release_line("just some words\n") == {}
    assert parse_release_line("") == {}
    facts = os_facts(root_with(tmp_path, {"etc/redhat-release": "garbage\n",
                                          "etc/system-release": "Amazon Linux AMI release 2018.03\n"}))
    assert (facts.family, facts.id, facts.version) == ("redhat", "amzn", "2018.03")

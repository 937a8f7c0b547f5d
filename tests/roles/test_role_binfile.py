"""The binfile role: a binary file beside the policy copied byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from role_support import Roles, changed, converge, result

from partout.errors import PolicyError

BLOB = bytes(range(256)) * 8 + b"\xff\xfe\x00"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "firmware.bin").write_bytes(BLOB)
    return path


def test_copies_a_binary_file_relative_to_the_policy(roles: Roles, root: Path) -> None:
    _, first = converge(roles, f'p2.binfile("{root}/firmware.bin", source="files/firmware.bin", mode="0640")\n', root)
    assert changed(first) == [f"file:{root}/firmware.bin"]
    assert (root / "firmware.bin").read_bytes() == BLOB
    assert (root / "firmware.bin").stat().st_mode & 0o777 == 0o640


def test_a_changed_copy_is_replaced_and_the_diff_shows_only_hashes(roles: Roles, root: Path) -> None:
    (root / "firmware.bin").write_bytes(b"\x00corrupt")
    report = roles.apply(f'p2.binfile("{root}/firmware.bin", source="files/firmware.bin")\n')
    assert (root / "firmware.bin").read_bytes() == BLOB
    diff = result(report, f"file:{root}/firmware.bin").diff or ""
    assert diff.startswith(f"Content of {root}/firmware.bin differs: 8 bytes sha256 ")


def test_a_role_in_an_included_file_finds_the_source_beside_that_file(roles: Roles, tmp_path: Path, root: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blob.bin").write_bytes(b"\x01\x02")
    (tmp_path / "lib" / "more.p2").write_text(f'p2.binfile("{root}/blob.bin", source="blob.bin")\n')
    roles.apply('p2.include("lib/more.p2")\n')
    assert (root / "blob.bin").read_bytes() == b"\x01\x02"


def test_a_missing_source_fails_the_compile(roles: Roles, root: Path) -> None:
    with pytest.raises(PolicyError, match=r"binfile: source 'nope.bin' not found \(looked at .*/nope.bin\)"):
        roles.compile(f'p2.binfile("{root}/x", source="nope.bin")\n')

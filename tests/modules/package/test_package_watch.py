"""Real-time repair of packages: dpkg on a temp root, pip in a virtualenv and npm in a
prefix remove packages behind Partout's back; the managed ones come back in one batch
once the manager's transaction settles, the others stay removed."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import eventually
from module_support import watching

from partout.modules.package.dpkg import parse_status
from partout.modules.package.npm import read_node_modules
from partout.modules.package.pip import _site_packages, read_dist_info


def dpkg(root: Path, *arguments: str) -> None:
    subprocess.run(["dpkg", f"--root={root}", "--force-not-root", *arguments], check=True, capture_output=True)


def installed_debs(root: Path) -> dict[str, str]:
    return parse_status((root / "var" / "lib" / "dpkg" / "status").read_text())


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")
def test_debs_removed_with_dpkg_are_reinstalled_in_one_batch(dpkg_root: Path, debs: dict[str, Path],
                                                             tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dpkg(dpkg_root, "--install", str(debs["otherdeb"]))  # installed by hand, not managed
    policy = (
        "with p2.watch():\n"
        f'    p2.package("tinydeb", provider="dpkg", source="{debs["tinydeb-1"]}", root="{dpkg_root}")\n'
        f'    p2.package("seconddeb", provider="dpkg", source="{debs["seconddeb"]}", root="{dpkg_root}")\n'
    )
    with watching(policy, tmp_path) as (report, repairs):
        assert not report.failed, report
        caplog.set_level(logging.INFO, logger="partout.modules.package")
        caplog.clear()
        dpkg(dpkg_root, "--remove", "tinydeb", "seconddeb", "otherdeb")
        assert eventually(lambda: {"tinydeb", "seconddeb"} <= set(installed_debs(dpkg_root)), timeout=20)
        assert "otherdeb" not in installed_debs(dpkg_root)
        assert eventually(lambda: repairs.ids() == {"package:tinydeb", "package:seconddeb"})
        assert [result.summary for result in repairs.of("package:tinydeb")] == ["install tinydeb 1.0-1"]
        assert len(repairs.of("package:seconddeb")) == 1
        calls = [record for record in caplog.records if record.getMessage() == "package manager call"]
        assert [(getattr(call, "action"), getattr(call, "count")) for call in calls] == [("install", 2)]


def test_a_package_uninstalled_from_a_virtualenv_is_reinstalled(venv: Path, wheel_dir: Path,
                                                                tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheel_dir),
                    "tinyb"], check=True, capture_output=True)
    site = _site_packages(str(python))
    assert site

    def installed() -> dict[str, str]:
        return read_dist_info(site or [])

    policy = (
        "with p2.watch():\n"
        f'    p2.package("tinya", ensure="1.0", provider="pip", virtualenv="{venv}", no_index=True, '
        f'find_links=["{wheel_dir}"])\n'
    )
    with watching(policy, tmp_path) as (report, repairs):
        assert not report.failed, report
        subprocess.run([str(python), "-m", "pip", "uninstall", "--yes", "tinya", "tinyb"], check=True,
                       capture_output=True)
        assert eventually(lambda: installed().get("tinya") == "1.0", timeout=30)
        assert "tinyb" not in installed()
        assert eventually(lambda: repairs.ids() == {"package:tinya"})


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs npm")
def test_an_npm_package_uninstalled_from_a_prefix_is_reinstalled(npm_tarball: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    modules = prefix / "node_modules"
    policy = (
        "with p2.watch():\n"
        f'    p2.package("tinynpm", provider="npm", source="{npm_tarball}", prefix="{prefix}", global_install=False)\n'
    )
    with watching(policy, tmp_path) as (report, repairs):
        assert not report.failed, report
        assert "tinynpm" in read_node_modules(modules)
        subprocess.run(["npm", "uninstall", "--prefix", str(prefix), "--no-audit", "--no-fund", "tinynpm"],
                       check=True, capture_output=True)
        assert eventually(lambda: "tinynpm" in read_node_modules(modules), timeout=60)
        assert eventually(lambda: repairs.ids() == {"package:tinynpm"})

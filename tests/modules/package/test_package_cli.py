"""Packages through the real `partout apply`: the engine drives prepare, check and one
batched pip call, and a bad package fails alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_partout


def policy(tmp_path: Path, venv: Path, wheel_dir: Path, names: list[str]) -> Path:
    path = tmp_path / "packages.p2"
    path.write_text(f"p2.package({names!r}, provider='pip', virtualenv={str(venv)!r},\n"
                    f"           find_links=[{str(wheel_dir)!r}], no_index=True)\n")
    return path


def test_partout_apply_installs_pip_packages_and_a_second_run_changes_nothing(
        tmp_path: Path, venv: Path, wheel_dir: Path) -> None:
    path = policy(tmp_path, venv, wheel_dir, ["tinya", "tinyb", "tinyc"])
    first = run_partout("apply", str(path), "--state-dir", str(tmp_path / "state"))
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count("changed  package:") == 3
    second = run_partout("apply", str(path), "--state-dir", str(tmp_path / "state"))
    assert second.returncode == 0 and "0 changed" in second.stdout


@pytest.mark.slow  # a failed batch, then one pip call per package
def test_partout_apply_reports_an_unknown_package_and_installs_the_rest(
        tmp_path: Path, venv: Path, wheel_dir: Path) -> None:
    path = policy(tmp_path, venv, wheel_dir, ["tinya", "no-such-package", "tinyb"])
    result = run_partout("apply", str(path), "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 1
    assert "failed   package:no-such-package" in result.stdout
    assert "No matching distribution found for no-such-package" in result.stdout
    assert "changed  package:tinya" in result.stdout and "changed  package:tinyb" in result.stdout


def test_partout_apply_noop_installs_nothing(tmp_path: Path, venv: Path, wheel_dir: Path) -> None:
    path = policy(tmp_path, venv, wheel_dir, ["tinya"])
    result = run_partout("apply", str(path), "--noop", "--state-dir", str(tmp_path / "state"))
    assert result.returncode == 0 and "install tinya" in result.stdout
    assert not list(venv.glob("lib/python*/site-packages/tinya*"))


def test_partout_doc_lists_every_package_option() -> None:
    from partout.modules.package import PackageOptions
    result = run_partout("doc", "package")
    assert result.returncode == 0
    assert all(f"    {name}:" in result.stdout for name in PackageOptions.model_fields)

"""The pip provider against a real virtualenv and real local wheels (no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from partout.errors import ResourceError
from partout.modules.base import RunContext
from partout.modules.package import MODULE, PackageOptions
from partout.modules.package.pip import read_dist_info


def pip_spec(venv: Path, wheel_dir: Path, name: str, **options: Any) -> PackageOptions:
    return PackageOptions(name=name, provider="pip", virtualenv=venv, find_links=(str(wheel_dir),),
                          no_index=True, **options)


def installed(venv: Path) -> dict[str, str]:
    return read_dist_info(list(venv.glob("lib/python*/site-packages")))


def converge(specs: list[PackageOptions], context: RunContext) -> list[str | None]:
    """One run: check every spec, apply the changed ones in one batch; the errors."""
    MODULE.prepare(specs, context)  # type: ignore[misc]
    items = [(spec, change) for spec in specs if (change := MODULE.check(spec, context)) is not None]
    outcomes = MODULE.apply_batch(items, context) if items else []  # type: ignore[misc]
    return [outcome.error for outcome in outcomes]


def test_pip_installs_missing_packages_in_one_batch(venv: Path, wheel_dir: Path, context: RunContext) -> None:
    specs = [pip_spec(venv, wheel_dir, name) for name in ("tinya", "tinyb", "tinyc")]
    assert converge(specs, context) == [None, None, None]
    assert {name: installed(venv)[name] for name in ("tinya", "tinyb", "tinyc")} == \
        {"tinya": "2.0", "tinyb": "1.0", "tinyc": "1.0"}


def test_pip_second_run_changes_nothing(venv: Path, wheel_dir: Path, context: RunContext, tmp_path: Path) -> None:
    specs = [pip_spec(venv, wheel_dir, "tinya", ensure="1.0"), pip_spec(venv, wheel_dir, "tinyb")]
    converge(specs, context)
    second = RunContext(facts=context.facts, state_dir=tmp_path)
    assert [MODULE.check(spec, second) for spec in specs] == [None, None]


def test_pip_noop_check_changes_nothing(venv: Path, wheel_dir: Path, context: RunContext) -> None:
    change = MODULE.check(pip_spec(venv, wheel_dir, "tinyb"), context)
    assert change is not None and change.summary == "install tinyb"
    assert "tinyb" not in installed(venv)


def test_pip_pinned_version_is_installed_then_upgraded_by_latest(venv: Path, wheel_dir: Path,
                                                                   context: RunContext, tmp_path: Path) -> None:
    converge([pip_spec(venv, wheel_dir, "tinya", ensure="1.0")], context)
    assert installed(venv)["tinya"] == "1.0"
    latest = pip_spec(venv, wheel_dir, "tinya", ensure="latest")
    run = RunContext(facts=context.facts, state_dir=tmp_path)
    change = MODULE.check(latest, run)
    assert change is not None and change.summary == "upgrade tinya 1.0 -> 2.0"
    MODULE.apply(latest, change, run)
    assert installed(venv)["tinya"] == "2.0"
    assert MODULE.check(latest, RunContext(facts=context.facts, state_dir=tmp_path)) is None


def test_pip_absent_removes_an_installed_package(venv: Path, wheel_dir: Path, context: RunContext,
                                                 tmp_path: Path) -> None:
    converge([pip_spec(venv, wheel_dir, "tinyc")], context)
    assert converge([pip_spec(venv, wheel_dir, "tinyc", ensure="absent")],
                    RunContext(facts=context.facts, state_dir=tmp_path)) == [None]
    assert "tinyc" not in installed(venv)


@pytest.mark.slow  # a failed batch, then one pip call per package
def test_pip_unknown_package_fails_alone_and_the_rest_of_the_batch_installs(
        venv: Path, wheel_dir: Path, context: RunContext) -> None:
    specs = [pip_spec(venv, wheel_dir, name) for name in ("tinya", "no-such-package", "tinyb")]
    errors = converge(specs, context)
    assert errors[0] is None and errors[2] is None
    assert errors[1] is not None and "no-such-package" in errors[1]
    assert "No matching distribution" in errors[1]  # pip's own message reaches the report
    assert {"tinya", "tinyb"} <= set(installed(venv))


def test_pip_version_that_does_not_exist_is_a_clear_error(venv: Path, wheel_dir: Path, context: RunContext) -> None:
    spec = pip_spec(venv, wheel_dir, "tinya", ensure="9.9")
    change = MODULE.check(spec, context)
    assert change is not None
    with pytest.raises(ResourceError, match=r"could not install tinya version 9\.9.*from versions: 1\.0, 2\.0"):
        MODULE.apply(spec, change, context)
    assert "tinya" not in installed(venv)


def test_pip_installs_a_local_wheel_given_as_source(venv: Path, wheel_dir: Path, context: RunContext,
                                                    tmp_path: Path) -> None:
    spec = PackageOptions(name="tinyb", provider="pip", virtualenv=venv, source=wheel_dir / "tinyb-1.0-py3-none-any.whl")
    assert converge([spec], context) == [None]
    assert installed(venv)["tinyb"] == "1.0"
    assert MODULE.check(spec, RunContext(facts=context.facts, state_dir=tmp_path)) is None


def test_pip_missing_interpreter_names_the_provider(tmp_path: Path, context: RunContext) -> None:
    spec = PackageOptions(name="tinya", provider="pip", virtualenv=tmp_path / "no-venv")
    with pytest.raises(ResourceError, match=r"provider pip \(chosen by provider= option\) is not available.*no-venv"):
        MODULE.check(spec, context)


def test_pip_reads_installed_packages_once_per_run(venv: Path, wheel_dir: Path, context: RunContext,
                                                   tmp_path: Path) -> None:
    specs = [pip_spec(venv, wheel_dir, name) for name in ("tinya", "tinyb")]
    converge(specs, context)
    run = RunContext(facts=context.facts, state_dir=tmp_path)
    MODULE.prepare(specs, run)  # type: ignore[misc]
    (venv / "lib").rename(venv / "lib-moved")  # a second read would now find nothing installed
    try:
        assert [MODULE.check(spec, run) for spec in specs] == [None, None]
    finally:
        (venv / "lib-moved").rename(venv / "lib")


def test_dist_info_and_egg_info_names_are_read_with_normalized_names(tmp_path: Path) -> None:
    for entry in ("Foo_Bar-1.2.3.dist-info", "zope.interface-6.0.dist-info", "legacy-0.3-py3.11.egg-info"):
        (tmp_path / entry).mkdir()
    assert read_dist_info([tmp_path]) == {"foo-bar": "1.2.3", "zope-interface": "6.0", "legacy": "0.3"}

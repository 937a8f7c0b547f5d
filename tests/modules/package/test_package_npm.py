"""The npm provider with a temp prefix and a local tarball made by `npm pack` (no network)."""

from __future__ import annotations

import json
from pathlib import Path

from module_support import check_then_apply

from partout.modules.base import RunContext
from partout.modules.package import MODULE, PackageOptions
from partout.modules.package.npm import PROVIDERS as NPM, parse_outdated, read_node_modules


def npm_spec(prefix: Path, tarball: Path, **options: object) -> PackageOptions:
    return PackageOptions.model_validate(
        {"name": "tinynpm", "provider": "npm", "prefix": prefix, "source": tarball, **options})


def apply_if_changed(spec: PackageOptions, context: RunContext) -> None:
    check_then_apply(MODULE, spec, context)


def test_npm_installs_a_local_tarball_globally_under_the_prefix(tmp_path: Path, npm_tarball: Path,
                                                                context: RunContext) -> None:
    apply_if_changed(npm_spec(tmp_path / "prefix", npm_tarball), context)
    manifest = tmp_path / "prefix" / "lib" / "node_modules" / "tinynpm" / "package.json"
    assert json.loads(manifest.read_text())["version"] == "1.0.0"


def test_npm_second_run_changes_nothing(tmp_path: Path, npm_tarball: Path, context: RunContext) -> None:
    spec = npm_spec(tmp_path / "prefix", npm_tarball)
    apply_if_changed(spec, context)
    assert MODULE.check(spec, RunContext(facts=context.facts, state_dir=tmp_path)) is None


def test_npm_noop_check_installs_nothing(tmp_path: Path, npm_tarball: Path, context: RunContext) -> None:
    change = MODULE.check(npm_spec(tmp_path / "prefix", npm_tarball), context)
    assert change is not None and change.summary == "install tinynpm 1.0.0"
    assert not (tmp_path / "prefix").exists()


def test_npm_project_install_and_removal_under_a_prefix(tmp_path: Path, npm_tarball: Path,
                                                        context: RunContext) -> None:
    prefix = tmp_path / "project"
    apply_if_changed(npm_spec(prefix, npm_tarball, global_install=False), context)
    assert read_node_modules(prefix / "node_modules") == {"tinynpm": "1.0.0"}
    gone = PackageOptions(name="tinynpm", provider="npm", prefix=prefix, global_install=False, ensure="absent")
    apply_if_changed(gone, RunContext(facts=context.facts, state_dir=tmp_path))
    assert read_node_modules(prefix / "node_modules") == {}


def test_npm_commands_put_versions_and_location_in_one_call(tmp_path: Path) -> None:
    specs = [PackageOptions(name="left-pad", provider="npm", prefix=tmp_path, ensure="1.3.0"),
             PackageOptions(name="@scope/tool", provider="npm", prefix=tmp_path, ensure="latest")]
    argv = NPM["npm"].command("install", specs)
    assert argv[1:] == ["--no-audit", "--no-fund", "--loglevel=error", "--global", "--prefix", str(tmp_path),
                        "install", "left-pad@1.3.0", "@scope/tool@latest"]


def test_npm_outdated_json_gives_latest_versions() -> None:
    output = '{"left-pad": {"current": "1.2.0", "wanted": "1.3.0", "latest": "1.3.0", "location": "/x"}}'
    assert parse_outdated(output) == {"left-pad": "1.3.0"}

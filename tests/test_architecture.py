"""The architecture as an executable contract: the import rules in pyproject.toml's
[tool.importlinter] hold for the package (what `lint-imports` checks, in the suite)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import partout

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
# The entry points themselves may import click.
CLI_PARTS = {"partout.cli", "partout.__main__"}


def lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """import-linter in a child process: it puts its working directory on sys.path."""
    program = (
        "import sys\nfrom importlinter.cli import lint_imports\n"
        f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))\n"
    )
    return subprocess.run([sys.executable, "-c", program], cwd=cwd, capture_output=True, text=True, timeout=120)


def contracts() -> dict[str, dict[str, Any]]:
    settings = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in settings["contracts"]}


def test_the_import_contracts_hold() -> None:
    result = lint_imports(PYPROJECT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_click_contract_covers_every_part_below_the_cli() -> None:
    parts = {f"partout.{info.name}" for info in pkgutil.iter_modules(partout.__path__)}
    assert set(contracts()["click-only-in-cli"]["source_modules"]) == parts - CLI_PARTS


def test_a_lazy_import_across_a_layer_breaks_the_contract(tmp_path: Path) -> None:
    # Most of partout imports inside functions (start-up time): the contracts must see those.
    package = tmp_path / "layered"
    for part in ("modules", "agent"):
        (package / part).mkdir(parents=True)
        (package / part / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "modules" / "file.py").write_text("def run() -> None:\n    from layered.agent import daemon\n")
    (package / "agent" / "daemon.py").write_text("")
    config = tmp_path / "contracts.toml"
    modules_contract = contracts()["modules-below-fleet"]
    config.write_text(
        '[tool.importlinter]\nroot_package = "layered"\n\n[[tool.importlinter.contracts]]\n'
        f'name = {modules_contract["name"]!r}\ntype = "forbidden"\n'
        'source_modules = ["layered.modules"]\nforbidden_modules = ["layered.agent"]\n'
    )
    result = lint_imports(config, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "layered.modules.file -> layered.agent.daemon (l.2)" in result.stdout

"""The powershell module with a stand-in interpreter: a script that accepts pwsh's flags
(-NoProfile -NonInteractive -Command - / -File path) and runs the code with sh.
PowerShell itself cannot be installed here."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from module_support import check_then_apply

from partout.errors import ResourceError
from partout.modules.base import RunContext
from partout.modules.powershell import MODULE, PowershellOptions

STAND_IN = """#!/bin/sh
# pwsh stand-in: check the flags Partout passes, then run the code with sh
[ "$1" = "-NoProfile" ] && [ "$2" = "-NonInteractive" ] || { echo "bad flags: $*" >&2; exit 64; }
case "$3" in
  -Command) [ "$4" = "-" ] || exit 64; exec sh -s ;;
  -File) exec sh "$4" ;;
  *) echo "bad mode: $3" >&2; exit 64 ;;
esac
"""


@pytest.fixture
def pwsh(tmp_path: Path) -> str:
    path = tmp_path / "bin" / "pwsh-standin"
    path.parent.mkdir()
    path.write_text(STAND_IN)
    path.chmod(0o755)
    return str(path)


def context(tmp_path: Path) -> RunContext:
    return RunContext(facts=SimpleNamespace(), state_dir=tmp_path)


def converge(spec: PowershellOptions, tmp_path: Path) -> str | None:
    return check_then_apply(MODULE, spec, context(tmp_path))


def test_an_inline_script_runs_through_the_interpreter(pwsh: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    spec = PowershellOptions(name="mark", script=f"echo hello > {marker}", interpreter=pwsh)
    assert converge(spec, tmp_path) == "run PowerShell inline script"
    assert marker.read_text() == "hello\n"


def test_powershell_second_run_changes_nothing(pwsh: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    spec = PowershellOptions(name="mark", script=f"echo x >> {marker}", ps_unless=f"test -f {marker}",
                             interpreter=pwsh)
    converge(spec, tmp_path)
    assert converge(spec, tmp_path) is None
    assert marker.read_text() == "x\n"


def test_powershell_noop_check_changes_nothing(pwsh: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    change = MODULE.check(PowershellOptions(name="mark", script=f"touch {marker}", interpreter=pwsh), context(tmp_path))
    assert change is not None and not marker.exists()


def test_onlyif_guard_decides(pwsh: str, tmp_path: Path) -> None:
    no = PowershellOptions(name="g", script="exit 0", ps_onlyif="exit 1", interpreter=pwsh)
    yes = PowershellOptions(name="g", script="exit 0", ps_onlyif="exit 0", interpreter=pwsh)
    assert MODULE.check(no, context(tmp_path)) is None
    assert MODULE.check(yes, context(tmp_path)) is not None


def test_a_script_file_runs_with_file_flag(pwsh: str, tmp_path: Path) -> None:
    script = tmp_path / "setup.ps1"
    script.write_text(f"echo from-file > {tmp_path / 'out'}\n")
    converge(PowershellOptions(name="f", file=script, interpreter=pwsh), tmp_path)
    assert (tmp_path / "out").read_text() == "from-file\n"


def test_returns_lists_the_exit_codes_that_succeed(pwsh: str, tmp_path: Path) -> None:
    converge(PowershellOptions(name="r", script="exit 3", returns=(0, 3), interpreter=pwsh), tmp_path)
    with pytest.raises(ResourceError, match=r"exited with 3 \(expected 0\): boom"):
        converge(PowershellOptions(name="r", script="echo boom >&2; exit 3", interpreter=pwsh), tmp_path)


def test_no_powershell_installed_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no pwsh, no powershell.exe
    with pytest.raises(ResourceError, match="no PowerShell is installed: none of pwsh, powershell.exe"):
        converge(PowershellOptions(name="x", script="Get-Date"), tmp_path)


def test_pwsh_found_on_path_is_used_by_default(pwsh: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os.symlink(pwsh, Path(pwsh).parent / "pwsh")
    monkeypatch.setenv("PATH", f"{Path(pwsh).parent}:/usr/bin:/bin")
    converge(PowershellOptions(name="p", script=f"touch {tmp_path / 'p'}"), tmp_path)
    assert (tmp_path / "p").exists()


def test_script_and_file_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one of script="):
        PowershellOptions(name="x", script="a", file=tmp_path / "b.ps1")
    with pytest.raises(ValueError, match="exactly one of script="):
        PowershellOptions(name="x")


def test_partout_doc_lists_every_powershell_option() -> None:
    from helpers import run_partout
    result = run_partout("doc", "powershell")
    assert result.returncode == 0
    assert all(f"    {name}:" in result.stdout for name in PowershellOptions.model_fields)

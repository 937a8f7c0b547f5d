"""The `powershell` module: run a PowerShell script (inline or a file) with pwsh or
powershell.exe, guarded by PowerShell snippets.

Guards are `ps_onlyif` / `ps_unless` (PowerShell, exit code 0 = true), named apart from the
engine's own `onlyif` / `unless`, which are shell commands. Without a guard the script runs
on every run, like a command without `creates`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pydantic import Field, model_validator

from partout.errors import ResourceError
from partout.modules.base import STATELESS, Change, Module, ModuleOptions, RunContext

INTERPRETERS = ("pwsh", "powershell.exe", "powershell")
FLAGS = ("-NoProfile", "-NonInteractive")


class PowershellOptions(ModuleOptions):
    """Run a PowerShell script, inline or from a file.

    Example: `p2.powershell("iis", script="Install-WindowsFeature Web-Server",
    ps_unless="if ((Get-WindowsFeature Web-Server).Installed) { exit 0 } else { exit 1 }")`.
    """

    name: str = Field(min_length=1, description="A label for the script (the title).")
    script: str | None = Field(None, description="PowerShell code to run (fed on stdin to -Command -).")
    file: Path | None = Field(None, description="A .ps1 file to run (-File).")
    interpreter: str | None = Field(None, description="pwsh or powershell.exe executable (name on PATH or path); "
                                    "default: pwsh, then powershell.exe.")
    ps_onlyif: str | None = Field(None, description="PowerShell snippet; run the script only when it exits 0.")
    ps_unless: str | None = Field(None, description="PowerShell snippet; run the script only when it exits non-zero.")
    returns: tuple[int, ...] = Field((0,), description="Exit codes that mean success.")
    timeout: float = Field(600, gt=0, description="Seconds before the script is stopped and reported failed.")

    @model_validator(mode="after")
    def _one_source(self) -> PowershellOptions:
        if (self.script is None) == (self.file is None):
            raise ValueError("set exactly one of script= (inline code) or file= (a .ps1 path)")
        return self


def interpreter(spec: PowershellOptions) -> str:
    candidates = (spec.interpreter,) if spec.interpreter else INTERPRETERS
    for candidate in candidates:
        found = shutil.which(candidate)
        if found is not None:
            return found
    if spec.interpreter:
        raise ResourceError(f"powershell {spec.name}: interpreter {spec.interpreter!r} is not found on PATH "
                            f"nor as a path; install PowerShell or fix interpreter=")
    raise ResourceError(f"powershell {spec.name}: no PowerShell is installed: none of {', '.join(INTERPRETERS)} "
                        f"is on PATH; install PowerShell (pwsh) or set interpreter=")


def _run(spec: PowershellOptions, code: str | None, file: Path | None) -> subprocess.CompletedProcess[str]:
    executable = interpreter(spec)
    argv = [executable, *FLAGS, "-File", str(file)] if file is not None else [executable, *FLAGS, "-Command", "-"]
    try:
        return subprocess.run(argv, input=code, capture_output=True, text=True, timeout=spec.timeout)
    except subprocess.TimeoutExpired as error:
        raise ResourceError(f"powershell {spec.name}: did not finish within {spec.timeout:g} s") from error


def check(spec: PowershellOptions, context: RunContext) -> Change | None:
    """Runs the guards (read-only by contract, like `onlyif` commands); None when one says no."""
    if spec.file is not None and not spec.file.is_file():
        raise ResourceError(f"powershell {spec.name}: script file {spec.file} does not exist")
    if spec.ps_onlyif is not None and _run(spec, spec.ps_onlyif, None).returncode != 0:
        return None
    if spec.ps_unless is not None and _run(spec, spec.ps_unless, None).returncode == 0:
        return None
    what = f"file {spec.file}" if spec.file is not None else "inline script"
    return Change(summary=f"run PowerShell {what}")


def apply(spec: PowershellOptions, change: Change, context: RunContext) -> str | None:
    completed = _run(spec, spec.script, spec.file)
    output = "\n".join(part for part in (completed.stdout.strip(), completed.stderr.strip()) if part)
    if completed.returncode not in spec.returns:
        raise ResourceError(f"powershell {spec.name}: exited with {completed.returncode} "
                            f"(expected {', '.join(map(str, spec.returns))}): {output}")
    return output or None


MODULE: Module[PowershellOptions] = Module(
    name="powershell",
    options=PowershellOptions,
    check=check,
    apply=apply,
    watching=STATELESS,
    concurrent=False,
    summary="Run PowerShell scripts (pwsh or powershell.exe) with PowerShell guards.",
)

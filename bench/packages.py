"""Ensure 20 pip packages present in a virtualenv: Partout vs one `pip install` of the same 20.

Everything is local: the bench writes 20 tiny wheels into a temp directory and installs
with --no-index --find-links, so no network is used. Figures, measured in this run:

- baseline: one `python -m pip install` of the 20 wheels into a fresh venv;
- module: the package module's prepare + check + apply_batch in-process (one pip call);
- cli: `partout apply policy.p2` as a whole process, into a fresh venv;
- no-op: `partout apply` again once everything is installed (whole process), and the
  module's prepare + check alone in-process.

Usage: python3 bench/packages.py [--rounds N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

from partout.modules.base import RunContext
from partout.modules.package import MODULE, PackageOptions

COUNT = 20


def make_wheel(directory: Path, name: str, version: str) -> None:
    """A minimal valid pure-Python wheel (PEP 427)."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: partout-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(content.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)


def names() -> list[str]:
    return [f"benchpkg{index:02d}" for index in range(COUNT)]


def timed(function: object) -> float:
    start = time.perf_counter()
    function()  # type: ignore[operator]
    return time.perf_counter() - start


def fresh_venv(template: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(template, target, symlinks=True)
    return target


def specs(venv: Path, wheels: Path) -> list[PackageOptions]:
    return [PackageOptions(name=name, provider="pip", virtualenv=venv, find_links=(str(wheels),), no_index=True)
            for name in names()]


def run_module(venv: Path, wheels: Path, state: Path) -> int:
    """One run through the module contract, as the engine drives it; the number changed."""
    context = RunContext(facts=SimpleNamespace(os=SimpleNamespace(family="debian")), state_dir=state)
    all_specs = specs(venv, wheels)
    assert MODULE.prepare is not None and MODULE.apply_batch is not None
    MODULE.prepare(all_specs, context)
    items = [(spec, change) for spec in all_specs if (change := MODULE.check(spec, context)) is not None]
    if items:
        outcomes = MODULE.apply_batch(items, context)
        failed = [outcome.error for outcome in outcomes if outcome.error]
        if failed:
            raise SystemExit(f"bench: partout failed: {failed[0]}")
    return len(items)


def run_cli(policy: Path, state: Path) -> None:
    completed = subprocess.run([sys.executable, "-m", "partout", "apply", str(policy), "--state-dir", str(state)],
                               capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"bench: partout apply failed:\n{completed.stdout}\n{completed.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each measurement (median shown)")
    arguments = parser.parse_args()
    cli_available = Path(__file__).resolve().parent.parent.joinpath("partout", "cli", "apply.py").exists()

    with tempfile.TemporaryDirectory(prefix="partout-bench-packages-") as temporary:
        base = Path(temporary)
        wheels = base / "wheels"
        wheels.mkdir()
        for name in names():
            make_wheel(wheels, name, "1.0")
        template = base / "template"
        subprocess.run([sys.executable, "-m", "venv", str(template)], check=True)
        # warm the page cache for pip's own files so the first measurement is not penalised
        subprocess.run([str(template / "bin" / "python"), "-m", "pip", "--version"], check=True, capture_output=True)

        baseline, module, cli, noop_cli, noop_module, empty_cli = [], [], [], [], [], []
        for round_index in range(arguments.rounds):
            pip_venv = fresh_venv(template, base / "venv-pip")
            module_venv = fresh_venv(template, base / "venv-module")

            def pip_install() -> None:
                subprocess.run([str(pip_venv / "bin" / "python"), "-m", "pip", "install",
                                "--disable-pip-version-check", "--no-input", "--quiet", "--no-index",
                                "--find-links", str(wheels), *names()], check=True)

            def module_install() -> None:
                if run_module(module_venv, wheels, base / "state") != COUNT:
                    raise SystemExit("bench: the first module run did not install all packages")

            # alternate which goes first: on a shared machine the first of a pair pays for a cold cache
            if round_index % 2 == 0:
                baseline.append(timed(pip_install))
                module.append(timed(module_install))
            else:
                module.append(timed(module_install))
                baseline.append(timed(pip_install))
            noop_module.append(timed(lambda: run_module(module_venv, wheels, base / "state")))
            if run_module(module_venv, wheels, base / "state") != 0:
                raise SystemExit("bench: the second module run changed something")

            if cli_available:
                venv = fresh_venv(template, base / "venv-cli")
                policy = base / "packages.p2"
                policy.write_text(f"p2.package({names()!r}, provider='pip', virtualenv={str(venv)!r},\n"
                                  f"           find_links=[{str(wheels)!r}], no_index=True)\n")
                cli.append(timed(lambda: run_cli(policy, base / f"state-cli-{round_index}")))
                noop_cli.append(timed(lambda: run_cli(policy, base / f"state-cli-{round_index}")))
                empty = base / "empty.p2"
                empty.write_text("# no resources: the start-up floor of partout apply\n")
                empty_cli.append(timed(lambda: run_cli(empty, base / f"state-cli-{round_index}")))

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print(f"20 pip packages from local wheels, median of {arguments.rounds} rounds")
    print(f"  one pip install (baseline)            {median(baseline):7.3f} s")
    print(f"  partout module (prepare+check+batch)  {median(module):7.3f} s   "
          f"ratio {median(module) / median(baseline):.2f}x")
    if cli:
        print(f"  partout apply (whole process)         {median(cli):7.3f} s   "
              f"ratio {median(cli) / median(baseline):.2f}x")
        print(f"  no-op partout apply (whole process)   {median(noop_cli):7.3f} s")
        print(f"  empty policy partout apply (floor)    {median(empty_cli):7.3f} s")
    else:
        print("  partout apply: not available yet (partout/cli/apply.py missing)")
    print(f"  no-op module check (in-process)       {median(noop_module) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()

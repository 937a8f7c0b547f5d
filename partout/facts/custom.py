"""Custom facts from a facts.d folder, like Puppet's and Salt's: static *.json and
*.yaml / *.yml files, and executables that print a JSON object.

Every file contributes its top-level keys to `facts.custom` (files are read in name
order, so a later file's key wins); a file whose content is not a mapping becomes
`facts.custom[<file stem>]`. A malformed file or a failing executable is a FactsError
naming the file: wrong facts would silently steer the policy.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from partout.errors import FactsError

DEFAULT_FACTS_D = Path("/etc/partout/facts.d")
EXECUTABLE_TIMEOUT = 30.0


def default_facts_d() -> Path:
    return Path(os.environ.get("PARTOUT_FACTS_D") or DEFAULT_FACTS_D)


def custom_facts(folder: Path) -> dict[str, Any]:
    from partout.facts.parsing import parse_json, parse_yaml  # when facts.custom is first read

    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise FactsError(f"facts.d folder {folder}: {exc.strerror}") from exc
    merged: dict[str, Any] = {}
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file():
            continue
        suffix = entry.suffix.lower()
        if suffix == ".json":
            value = parse_json(_read(entry), f"custom facts file {entry}")
        elif suffix in (".yaml", ".yml"):
            value = parse_yaml(_read(entry), f"custom facts file {entry}")
        elif os.access(entry, os.X_OK):
            value = parse_json(_run(entry), f"custom facts file {entry}")
        else:
            continue  # README, editor backups: not facts
        if isinstance(value, dict):
            merged.update(value)
        elif value is not None:
            merged[entry.stem] = value
    return merged


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FactsError(f"custom facts file {path}: cannot read it: {exc}") from exc


def _run(path: Path) -> str:
    try:
        result = subprocess.run(
            [str(path)], capture_output=True, text=True, timeout=EXECUTABLE_TIMEOUT,
            stdin=subprocess.DEVNULL, check=False,
        )
    except subprocess.TimeoutExpired:
        raise FactsError(f"custom facts executable {path} timed out after {EXECUTABLE_TIMEOUT:g} s") from None
    except OSError as exc:
        raise FactsError(f"custom facts executable {path}: cannot run it: {exc.strerror}") from exc
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-5:]
        raise FactsError(
            f"custom facts executable {path} exited with code {result.returncode}"
            + (": " + " / ".join(tail) if tail else "")
        )
    return result.stdout

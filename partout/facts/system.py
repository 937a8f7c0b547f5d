"""The cheap facts, read on every run: a few small files under /etc, /proc and /sys."""

from __future__ import annotations

import os
import platform as python_platform
import socket
import sys
from pathlib import Path
from typing import Any

from partout.facts.distribution import family_of, os_facts, parse_os_release
from partout.facts.model import DmiFacts

DMI_DIR = "sys/class/dmi/id"


def memory_total() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _read_small(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() or None
    except OSError:
        # Serials and the UUID are root-only; containers have no DMI at all: a fact, not an error.
        return None


def dmi_facts(root: Path = Path("/")) -> DmiFacts:
    base = root / DMI_DIR
    values: dict[str, Any] = {name: _read_small(base / name) for name in DmiFacts.model_fields}
    return DmiFacts.model_construct(**values)


def platform() -> str:
    """linux, darwin, win32 ...: the kind of system, as the original Partout's `platform`."""
    return sys.platform


def hostname() -> str:
    return socket.gethostname().split(".")[0]


def fqdn() -> str:
    """The canonical name of this host from the resolver (may ask DNS: lazy)."""
    name = socket.gethostname()
    try:
        for _family, _type, _proto, canonical, _address in socket.getaddrinfo(
            name, None, 0, socket.SOCK_STREAM, 0, socket.AI_CANONNAME
        ):
            if canonical:
                return canonical
    except OSError:
        pass
    return name


def python_version() -> str:
    return python_platform.python_version()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


__all__ = ["cpu_count", "dmi_facts", "family_of", "fqdn", "hostname", "memory_total", "os_facts",
           "parse_os_release", "platform", "python_version"]

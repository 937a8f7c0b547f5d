"""The cheap facts, read on every run: a few small files under /etc, /proc and /sys."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path
from typing import Any

from partout.facts.model import DmiFacts, OsFacts

# ID or ID_LIKE word -> family, checked in order: ID first, then each ID_LIKE word.
_FAMILIES = {
    "debian": "debian", "ubuntu": "debian", "raspbian": "debian", "linuxmint": "debian",
    "rhel": "redhat", "fedora": "redhat", "centos": "redhat", "rocky": "redhat",
    "almalinux": "redhat", "ol": "redhat", "amzn": "redhat",
    "suse": "suse", "opensuse": "suse", "sles": "suse", "opensuse-leap": "suse",
    "opensuse-tumbleweed": "suse",
    "alpine": "alpine", "arch": "arch", "manjaro": "arch", "gentoo": "gentoo",
}


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines, values possibly quoted (os-release(5))."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.strip().partition("=")
        if not separator or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        values[key] = value
    return values


def family_of(dist_id: str, id_like: str) -> str:
    for word in [dist_id, *id_like.split()]:
        if word in _FAMILIES:
            return _FAMILIES[word]
    return dist_id or "unknown"


def os_facts(root: Path = Path("/")) -> OsFacts:
    text = ""
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / candidate).read_text(encoding="utf-8", errors="replace")
            break
        except OSError:
            continue
    release = parse_os_release(text)
    dist_id = release.get("ID", "unknown").lower()
    version = release.get("VERSION_ID", "")
    uname = os.uname()
    return OsFacts.model_construct(
        family=family_of(dist_id, release.get("ID_LIKE", "").lower()),
        id=dist_id,
        name=release.get("PRETTY_NAME", release.get("NAME", "")),
        version=version,
        major=version.split(".")[0],
        codename=release.get("VERSION_CODENAME", ""),
        kernel=uname.release,
        arch=uname.machine,
    )


def memory_total() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _read_small(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip() or None
    except OSError:
        # Some DMI files are root-only or absent in containers: a fact, not an error.
        return None


def dmi_facts() -> DmiFacts:
    base = "/sys/class/dmi/id/"
    values: dict[str, Any] = {name: _read_small(base + name) for name in DmiFacts.model_fields}
    return DmiFacts.model_construct(**values)


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
    return platform.python_version()


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1

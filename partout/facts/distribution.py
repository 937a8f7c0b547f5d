"""Which distribution a root holds: /etc/os-release (os-release(5)) when there is one,
else the release files that came before it (CentOS, RHEL and Oracle Linux 6 have only
/etc/redhat-release or /etc/oracle-release; Debian 6 only /etc/debian_version)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from partout.facts.model import OsFacts

# ID or ID_LIKE word -> family, checked in order: ID first, then each ID_LIKE word.
_FAMILIES = {
    "debian": "debian", "ubuntu": "debian", "raspbian": "debian", "linuxmint": "debian",
    "rhel": "redhat", "fedora": "redhat", "centos": "redhat", "rocky": "redhat",
    "almalinux": "redhat", "ol": "redhat", "amzn": "redhat", "scientific": "redhat", "cloudlinux": "redhat",
    "suse": "suse", "opensuse": "suse", "sles": "suse", "opensuse-leap": "suse",
    "opensuse-tumbleweed": "suse",
    "alpine": "alpine", "arch": "arch", "manjaro": "arch", "gentoo": "gentoo",
}

# First words of a legacy release line -> the ID os-release would have given, most
# specific first ("Red Hat Enterprise Linux" before a bare "Red Hat").
_LEGACY_IDS = (
    ("centos", "centos"), ("oracle", "ol"), ("enterprise linux", "ol"), ("red hat enterprise", "rhel"),
    ("scientific", "scientific"), ("cloudlinux", "cloudlinux"), ("fedora", "fedora"), ("amazon", "amzn"),
    ("rocky", "rocky"), ("almalinux", "almalinux"),
)
# "CentOS release 6.10 (Final)", "Oracle Linux Server release 6.10", "Red Hat Enterprise
# Linux Server release 6.9 (Santiago)"
_RELEASE_LINE = re.compile(r"^(?P<name>.*?)\s+release\s+(?P<version>[0-9][0-9.]*)\s*(?:\((?P<codename>[^)]*)\))?")
# Checked in order: Oracle Linux 6 has both files, and its redhat-release names RHEL.
_LEGACY_FILES = ("etc/oracle-release", "etc/centos-release", "etc/redhat-release", "etc/system-release")


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


def parse_release_line(text: str) -> dict[str, str]:
    """The os-release keys a legacy `... release X.Y (Codename)` line gives; {} if it is not one."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    match = _RELEASE_LINE.match(line)
    if match is None:
        return {}
    name = match["name"].strip()
    lowered = name.lower()
    dist_id = next((found for prefix, found in _LEGACY_IDS if lowered.startswith(prefix)), lowered.split()[0])
    return {"ID": dist_id, "NAME": name, "PRETTY_NAME": line, "VERSION_ID": match["version"],
            "VERSION_CODENAME": (match["codename"] or "").strip()}


def family_of(dist_id: str, id_like: str) -> str:
    for word in [dist_id, *id_like.split()]:
        if word in _FAMILIES:
            return _FAMILIES[word]
    return dist_id or "unknown"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def release_values(root: Path) -> dict[str, str]:
    """os-release's keys for the distribution under `root`, from whichever file it has."""
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        text = _read(root / candidate)
        if text is not None:
            return parse_os_release(text)
    for candidate in _LEGACY_FILES:
        text = _read(root / candidate)
        if text is not None and (values := parse_release_line(text)):
            return values
    debian = _read(root / "etc/debian_version")
    if debian is not None and debian.strip():
        version = debian.strip()
        return {"ID": "debian", "NAME": "Debian GNU/Linux", "PRETTY_NAME": f"Debian GNU/Linux {version}",
                "VERSION_ID": version}
    return {}


def os_facts(root: Path = Path("/")) -> OsFacts:
    release = release_values(root)
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


__all__ = ["family_of", "os_facts", "parse_os_release", "parse_release_line", "release_values"]

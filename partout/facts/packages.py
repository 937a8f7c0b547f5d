"""Installed packages, name -> version: the package database read directly where it is
a plain file (dpkg, apk), one `rpm -qa` where it is not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

DPKG_STATUS = Path("/var/lib/dpkg/status")
APK_INSTALLED = Path("/lib/apk/db/installed")


def parse_dpkg_status(text: str) -> dict[str, str]:
    packages: dict[str, str] = {}
    for block in text.split("\n\n"):
        name = version = status = None
        for line in block.splitlines():
            if line.startswith("Package: "):
                name = line[9:].strip()
            elif line.startswith("Version: "):
                version = line[9:].strip()
            elif line.startswith("Status: "):
                status = line[8:].strip()
        if name and version and status is not None and status.endswith(" installed"):
            packages[name] = version
    return packages


def parse_apk_installed(text: str) -> dict[str, str]:
    packages: dict[str, str] = {}
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if len(line) > 2 and line[1] == ":")
        if "P" in fields and "V" in fields:
            packages[fields["P"]] = fields["V"]
    return packages


def installed() -> dict[str, str]:
    if DPKG_STATUS.exists():
        return parse_dpkg_status(DPKG_STATUS.read_text(encoding="utf-8", errors="replace"))
    if APK_INSTALLED.exists():
        return parse_apk_installed(APK_INSTALLED.read_text(encoding="utf-8", errors="replace"))
    rpm = shutil.which("rpm")
    if rpm is not None:
        result = subprocess.run(
            [rpm, "-qa", "--queryformat", "%{NAME} %{VERSION}-%{RELEASE}\\n"],
            capture_output=True, text=True, timeout=60, check=False,
        )
        packages = {}
        for line in result.stdout.splitlines():
            name, _, version = line.partition(" ")
            if name and name != "gpg-pubkey":
                packages[name] = version
        return packages
    return {}

"""Local users and groups, parsed from /etc/passwd and /etc/group (no NSS, no subprocess)."""

from __future__ import annotations

from pathlib import Path

from partout.facts.model import GroupFacts, UserFacts


def users(path: Path = Path("/etc/passwd")) -> dict[str, UserFacts]:
    found: dict[str, UserFacts] = {}
    for fields in _records(path, 7):
        try:
            found[fields[0]] = UserFacts(
                uid=int(fields[2]), gid=int(fields[3]), gecos=fields[4], home=fields[5], shell=fields[6]
            )
        except ValueError:
            continue  # a corrupt line is not this machine's only user: skip it
    return found


def groups(path: Path = Path("/etc/group")) -> dict[str, GroupFacts]:
    found: dict[str, GroupFacts] = {}
    for fields in _records(path, 4):
        try:
            members = [member for member in fields[3].split(",") if member]
            found[fields[0]] = GroupFacts(gid=int(fields[2]), members=members)
        except ValueError:
            continue
    return found


def _records(path: Path, width: int) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    records = []
    for line in text.splitlines():
        if not line or line.startswith(("#", "+", "-")):
            continue
        fields = line.split(":")
        if len(fields) >= width:
            records.append(fields)
    return records

"""The exceptions Partout raises on purpose: one base, families under it."""

from __future__ import annotations

from pathlib import Path


class PartoutError(Exception):
    """Base of every error Partout raises on purpose."""


class PolicyError(PartoutError):
    """A policy does not compile: syntax, unknown directive or option, bad value, cycle.

    Carries the policy file and line so that the CLI can point at it.
    """

    def __init__(self, message: str, *, file: Path | str | None = None, line: int | None = None) -> None:
        self.file = Path(file) if file is not None else None
        self.line = line
        self.reason = message
        where = ""
        if self.file is not None:
            where = f"{self.file}:{line}: " if line is not None else f"{self.file}: "
        super().__init__(f"{where}{message}")


class ResourceError(PartoutError):
    """A resource could not be checked or applied; the run goes on with the rest."""


class StateError(PartoutError):
    """The state directory (backups, keys, spool) is missing, unreadable or unsafe."""


class FactsError(PartoutError):
    """Facts could not be gathered or a facts file is malformed."""


class BusError(PartoutError):
    """NATS could not be reached, or a bus operation failed."""


class KeyValueConflict(BusError):
    """A compare-and-set put lost: the key's revision is no longer the one expected (another
    writer, e.g. another master, got there first), or a create found the key already there."""

    def __init__(self, bucket: str, key: str, expected: int) -> None:
        self.bucket = bucket
        self.key = key
        self.expected = expected
        what = "absent" if expected == 0 else f"at revision {expected}"
        super().__init__(f"KV {bucket}/{key}: expected the key {what}; another writer changed it first")

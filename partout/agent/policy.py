"""The agent's copy of its environment's policy: verify a bundle BEFORE anything else,
extract it beside the previous ones, swap the `current` pointer atomically, compile it.

    <state>/policy/<sequence>/site.p2 ...   one folder per accepted bundle (the last few kept)
    <state>/policy/current -> <sequence>    the policy in force (a symlink, replaced atomically)

A bundle that fails verification never touches the disk: the policy in force stays.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from partout.errors import PartoutError
from partout.state import ensure_state_dir

log = logging.getLogger(__name__)

ENTRY_POINT = "site.p2"
CURRENT = "current"


class PolicyRefused(PartoutError):
    """A bundle was refused (bad signature or manifest, wrong environment, replayed)."""


@dataclass(frozen=True)
class AcceptedPolicy:
    """A verified bundle now on disk."""

    sequence: int
    digest: str
    directory: Path
    already_applied: bool  # the same sequence as the last applied one (a redelivery)

    @property
    def entry_point(self) -> Path:
        return self.directory / ENTRY_POINT


class PolicyCache:
    """Verified, extracted policy versions under `<state>/policy`."""

    def __init__(self, state_dir: Path, *, keep: int = 2) -> None:
        self.root = ensure_state_dir(state_dir / "policy")
        self.keep = keep

    def accept(self, data: bytes, *, master_public_key: str, environment: str, last_sequence: int,
               last_digest: str | None = None) -> AcceptedPolicy:
        """Verify `data` and put it in force; PolicyRefused (and nothing written) when it fails.

        A bundle with the sequence last applied is accepted as already applied (a KV
        redelivery after a restart); a lower sequence is a replay and refused."""
        from partout.bundle import BundleError, verify_bundle

        try:
            bundle = verify_bundle(data, master_public_key=master_public_key, environment=environment,
                                   min_sequence=last_sequence)
        except BundleError as error:
            raise PolicyRefused(f"policy bundle for environment {environment!r} refused: {error}") from error
        sequence = int(bundle.sequence)
        digest = str(getattr(bundle, "digest", "") or "")
        directory = self.root / str(sequence)
        if sequence == last_sequence and last_digest and digest != last_digest:
            raise PolicyRefused(f"policy bundle {sequence} differs from the bundle {sequence} already applied; "
                                f"a master must publish a higher sequence for new content")
        already = sequence == last_sequence and (directory / ENTRY_POINT).is_file()
        if not already:
            self._extract(bundle, directory)
        self._point_current_at(directory)
        self._prune(directory)
        return AcceptedPolicy(sequence, digest, directory, already)

    def current(self) -> Path | None:
        """The folder of the policy in force, if any."""
        link = self.root / CURRENT
        if not link.is_symlink():
            return None
        target = self.root / os.readlink(link)
        return target if (target / ENTRY_POINT).is_file() else None

    def _extract(self, bundle: Any, directory: Path) -> None:
        # the bundle writes a staging sibling and renames it: never a half-written policy
        if directory.exists():
            shutil.rmtree(directory)
        bundle.extract(directory)
        if not (directory / ENTRY_POINT).is_file():
            shutil.rmtree(directory, ignore_errors=True)
            raise PolicyRefused(f"policy bundle {directory.name} has no {ENTRY_POINT} at its top")

    def _point_current_at(self, directory: Path) -> None:
        temporary = self.root / f".{CURRENT}.tmp{os.getpid()}"
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        temporary.symlink_to(directory.name)
        os.replace(temporary, self.root / CURRENT)  # rename over the old link: atomic

    def _prune(self, current: Path) -> None:
        versions = sorted((path for path in self.root.iterdir() if path.name.isdigit() and path.is_dir()),
                          key=lambda path: int(path.name))
        for old in versions[: max(0, len(versions) - self.keep)]:
            if old != current:
                shutil.rmtree(old, ignore_errors=True)


__all__ = ["CURRENT", "ENTRY_POINT", "AcceptedPolicy", "PolicyCache", "PolicyRefused"]

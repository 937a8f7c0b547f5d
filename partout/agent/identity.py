"""The agent's identity: its nkey pair, the master key it pinned, and what it was told.

Files in the agent's state dir (0700), each 0600:

    agent.nk      the user nkey seed ('SU...'); made on first start, never sent anywhere
    master.pub    the master's public nkey, pinned at enrolment
    agent.json    agent_id and environment once approved, last applied bundle sequence

The seed is read only to sign: nothing here returns it. nats-py reads it from
`seed_path` itself (its `nkeys_seed` option)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from partout.errors import StateError
from partout.state import ensure_state_dir, read_secret, write_secret

log = logging.getLogger(__name__)

SEED_FILE = "agent.nk"
MASTER_KEY_FILE = "master.pub"
STATE_FILE = "agent.json"


class AgentState(BaseModel):
    """What the agent remembers between starts besides its key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = 1
    agent_id: str | None = Field(default=None, description="Assigned by the master at approval.")
    environment: str | None = None
    bundle_sequence: int = Field(default=0, description="Sequence of the last applied bundle; older ones are refused.")
    bundle_digest: str | None = Field(default=None, description="Manifest digest of the last applied bundle.")


def _check_public_key(public_key: str, what: str) -> str:
    from partout.bundle import BundleError, public_key_bytes

    try:
        public_key_bytes(public_key)
    except BundleError as exc:
        raise StateError(f"{what}: {exc}") from None
    return public_key


class AgentIdentity:
    """Load with `AgentIdentity.load_or_create(state_dir)`."""

    def __init__(self, state_dir: Path, public_key: str) -> None:
        self.state_dir = state_dir
        self.public_key = public_key

    @property
    def seed_path(self) -> Path:
        """For nats-py's `nkeys_seed=` option only."""
        return self.state_dir / SEED_FILE

    @classmethod
    def load_or_create(cls, state_dir: Path) -> AgentIdentity:
        """Read the key, or make one on first start. Refuses (StateError) a state dir or
        key file others can reach, and a corrupt key file."""
        import nkeys

        ensure_state_dir(state_dir, private=True)
        seed_path = state_dir / SEED_FILE
        if not seed_path.exists() and not seed_path.is_symlink():
            seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
            write_secret(seed_path, bytes(seed) + b"\n")
            log.info("agent key created", extra={"path": str(seed_path)})
        if seed_path.is_symlink():
            raise StateError(f"key file {seed_path} is a symlink; replace it with the key file itself")
        key_pair = cls._key_pair(seed_path)
        public_key = key_pair.public_key.decode()
        key_pair.wipe()
        return cls(state_dir, public_key)

    @staticmethod
    def _key_pair(seed_path: Path) -> Any:
        import nkeys

        seed = bytearray(read_secret(seed_path).strip())
        corrupt = StateError(
            f"key file {seed_path} is corrupt (not an nkey user seed 'SU...'); move it away "
            "(mv {0} {0}.broken) and restart the agent to make a new key, then approve the new key "
            "on the master (partout agents approve)".format(seed_path)
        )
        if not seed.startswith(b"SU"):
            raise corrupt
        try:
            return nkeys.from_seed(seed)
        except Exception:  # nkeys raises several bare kinds for bad seeds
            raise corrupt from None

    def sign(self, nonce: bytes) -> bytes:
        """The ed25519 signature of `nonce` with the agent's key (raw 64 bytes)."""
        key_pair = self._key_pair(self.seed_path)
        try:
            return bytes(key_pair.sign(nonce))
        finally:
            key_pair.wipe()

    def nats_options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect` that authenticate as this agent."""
        return {"nkeys_seed": str(self.seed_path)}

    # the pinned master key

    def pinned_master_key(self) -> str | None:
        path = self.state_dir / MASTER_KEY_FILE
        if not path.exists():
            return None
        text = read_secret(path).decode(errors="replace").strip()
        return _check_public_key(text, f"pinned master key {path} is corrupt; remove it and pin again")

    def pin_master_key(self, public_key: str) -> None:
        """Pin the master's public nkey. Re-pinning the same key is a no-op; a
        different one is refused: a changed master key is what an attacker would send."""
        _check_public_key(public_key, "master key")
        current = self.pinned_master_key()
        if current == public_key:
            return
        if current is not None:
            raise StateError(
                f"this agent pinned master key {current}, not {public_key}; if the master's key really "
                f"changed, remove {self.state_dir / MASTER_KEY_FILE} and enrol again"
            )
        write_secret(self.state_dir / MASTER_KEY_FILE, public_key.encode() + b"\n")
        log.info("master key pinned", extra={"master_key": public_key})

    def trust_on_first_use(self, public_key: str) -> str:
        """Pin `public_key` if nothing is pinned yet (loudly), else check it matches."""
        if self.pinned_master_key() is None:
            log.warning(
                "TRUSTING THE MASTER KEY ON FIRST USE: anyone answering enrolment now could pose as the "
                "master; pass --master-key to pin it explicitly",
                extra={"master_key": public_key},
            )
        self.pin_master_key(public_key)
        return public_key

    # the small state file

    def state(self) -> AgentState:
        path = self.state_dir / STATE_FILE
        if not path.exists():
            return AgentState()
        try:
            return AgentState.model_validate_json(read_secret(path))
        except ValidationError:
            raise StateError(f"agent state file {path} is corrupt; remove it and restart the agent") from None

    def _save(self, state: AgentState) -> AgentState:
        write_secret(self.state_dir / STATE_FILE, state.model_dump_json(indent=2).encode() + b"\n")
        return state

    def record_approval(self, agent_id: str, environment: str) -> AgentState:
        """Remember the id and environment the master approved this agent with."""
        return self._save(self.state().model_copy(update={"agent_id": agent_id, "environment": environment}))

    def record_applied_bundle(self, sequence: int, digest: str) -> AgentState:
        """Remember the last bundle applied; a lower sequence is refused from then on."""
        current = self.state()
        if sequence < current.bundle_sequence or (
            sequence == current.bundle_sequence and current.bundle_digest not in (None, digest)
        ):
            raise StateError(
                f"bundle sequence {sequence} does not follow the last applied one "
                f"({current.bundle_sequence}, {current.bundle_digest}); refusing to record it"
            )
        return self._save(current.model_copy(update={"bundle_sequence": sequence, "bundle_digest": digest}))

    def min_bundle_sequence(self) -> int:
        """The `min_sequence` to pass to `verify_bundle`: the last applied sequence
        itself, so that a restarted agent re-reading the bundle it already applied
        accepts it (compare `VerifiedBundle.digest` with `state().bundle_digest` to
        skip it); any older one is refused as a replay."""
        return self.state().bundle_sequence

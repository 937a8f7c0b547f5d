"""What the agent daemon needs from its identity (partout.agent.identity), in one place:
keys, the pinned master key, the approval and the last applied bundle."""

from __future__ import annotations

import logging
from pathlib import Path

from partout.agent.enrolment import EnrolmentRefused, check_master_key
from partout.agent.identity import AgentIdentity
from partout.errors import StateError

log = logging.getLogger(__name__)


class _Signer:
    """The `sign(bytes) -> bytes` object `SignedMessage.signed_by` wants; the seed stays in its file."""

    def __init__(self, identity: AgentIdentity) -> None:
        self._identity = identity

    def sign(self, data: bytes) -> bytes:
        return self._identity.sign(data)


class Credentials:
    """The agent's identity plus what it was told at approval, cached in memory."""

    def __init__(self, identity: AgentIdentity) -> None:
        self.identity = identity
        state = identity.state()
        self.agent_id = state.agent_id
        self.environment = state.environment
        self.last_sequence = state.bundle_sequence
        self.last_digest = state.bundle_digest
        self.master_public_key = identity.pinned_master_key()

    @classmethod
    def load(cls, state_dir: Path) -> Credentials:
        """Raises StateError when the state dir or key is unsafe or corrupt."""
        return cls(AgentIdentity.load_or_create(state_dir))

    @property
    def public_key(self) -> str:
        return self.identity.public_key

    @property
    def seed_path(self) -> Path:
        return self.identity.seed_path

    def signer(self) -> _Signer:
        return _Signer(self.identity)

    def confirm_master_key(self, given: str | None) -> None:
        """An already approved agent started with --master-key: it must be the pinned one."""
        if given and given != self.master_public_key:
            raise EnrolmentRefused(
                f"--master-key {given} differs from the key pinned at enrolment ({self.master_public_key}); "
                f"if the master's key really changed, remove {self.identity.state_dir / 'master.pub'} "
                f"and start again")

    def approve(self, agent_id: str, environment: str, offered_key: str | None, *, given_key: str | None) -> None:
        key = check_master_key(offered_key, given=given_key, pinned=self.master_public_key)
        try:
            if given_key or self.master_public_key:
                self.identity.pin_master_key(key)
            else:
                self.identity.trust_on_first_use(key)
        except StateError as error:
            raise EnrolmentRefused(str(error)) from error
        self.identity.record_approval(agent_id, environment)
        self.agent_id, self.environment, self.master_public_key = agent_id, environment, key

    def record_bundle(self, sequence: int, digest: str) -> None:
        self.identity.record_applied_bundle(sequence, digest)
        self.last_sequence, self.last_digest = sequence, digest


__all__ = ["Credentials"]

"""The messages agents, the master and operators exchange (DESIGN.md, NATS subjects).

Every message is a `WireMessage`: versioned, JSON, dropped and counted when malformed.
Requests that prove who sent them (enrolment, operator commands) carry an ed25519
signature by the sender's nkey over the message without its signature, so that a
client cannot speak for a key it does not hold.
"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from partout.report import Report
from partout.wire import WireMessage

# Larger enrolment or facts payloads are refused before they are parsed.
MAX_ENROL_BYTES = 256 * 1024
MAX_FACTS_BYTES = 1024 * 1024
# A signed request older (or newer) than this is a replay, or a clock to fix.
SIGNATURE_MAX_AGE = 300.0


class SignedMessage(WireMessage):
    public_key: str = Field(description="The sender's nkey ('U...').")
    timestamp: float = Field(default_factory=time.time)
    signature: str = Field("", description="Base64 ed25519 over the message without this field.")

    def signed_bytes(self) -> bytes:
        return self.model_dump_json(exclude={"signature"}).encode()

    def signed_by(self, key_pair: Any) -> SignedMessage:
        """A copy signed with an nkeys KeyPair (the seed stays with the caller)."""
        signature = base64.b64encode(key_pair.sign(self.signed_bytes())).decode()
        return self.model_copy(update={"signature": signature})

    def verify(self, *, now: float | None = None) -> str | None:
        """None when the signature is the public key's and fresh, else the reason."""
        now = time.time() if now is None else now
        if abs(now - self.timestamp) > SIGNATURE_MAX_AGE:
            return "timestamp too old or in the future"
        from partout.nats.jwt import verify

        try:
            signature = base64.b64decode(self.signature, validate=True)
        except ValueError:
            return "signature is not base64"
        if not verify(self.public_key, self.signed_bytes(), signature):
            return "signature does not verify"
        return None


class EnrolRequest(SignedMessage):
    kind: ClassVar[str] = "enrol"

    hostname: str = Field(max_length=253)
    facts: dict[str, Any] = Field(default_factory=dict)
    token: str | None = Field(None, description="Pre-shared enrolment token, for auto-approval.")


class EnrolReply(WireMessage):
    kind: ClassVar[str] = "enrol-reply"

    status: Literal["approved", "pending", "refused"]
    agent_id: str | None = None
    environment: str | None = None
    master_public_key: str | None = None
    reason: str = ""


class FactsUpdate(WireMessage):
    kind: ClassVar[str] = "facts"

    agent_id: str
    facts: dict[str, Any]
    facts_hash: str


class RunReport(WireMessage):
    kind: ClassVar[str] = "report"

    report_id: str = Field(description="Unique per run, so a redelivered report is stored once.")
    agent_id: str
    environment: str
    bundle_digest: str = ""
    sequence: int = 0
    report: Report


class Control(WireMessage):
    kind: ClassVar[str] = "control"

    # facts: {"sections": [...]} to publish; events: partout.events.notices (advice, rejected batches);
    # trigger: {"triggers": [partout.wire.triggers.FiredTrigger, ...]}
    command: Literal["apply", "throttle", "data-changed", "facts", "events", "trigger"]
    parameters: dict[str, Any] = Field(default_factory=dict)
    sent_at: datetime | None = None


class OperatorRequest(SignedMessage):
    """A command of the operator CLI to the master; signed by the operator's nkey."""

    kind: ClassVar[str] = "operator"

    verb: Literal["agents.list", "agents.show", "agents.approve", "agents.revoke", "agents.apply", "reports",
                  "policy.errors", "integrations.add", "integrations.list", "integrations.remove", "events",
                  "inventory.query"]
    arguments: dict[str, Any] = Field(default_factory=dict)
    nonce: str = Field(default_factory=lambda: secrets.token_hex(16), max_length=64,
                       description="Random per request; the master refuses a nonce it has seen (a replay).")


class OperatorReply(WireMessage):
    kind: ClassVar[str] = "operator-reply"

    ok: bool
    data: Any = None
    error: str = ""

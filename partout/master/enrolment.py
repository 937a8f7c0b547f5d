"""`EnrolmentActor`: answers `partout.enrol.<public key>` (queue group: several masters share).

Only the connection of that key may publish on its subject (its NATS permissions name it),
so a request is bound to the nkey that connected. Order of checks, cheapest first, and
nothing stored until the request proves to be that key's:
  1. the subject names a key; the reply subject is in that key's inbox (`_INBOX_<key>.…`):
     else dropped, unanswered (the master never publishes where a requester chose);
  2. the per-key, then the overall rate limit: else dropped;
  3. size, parse, the request's key is the subject's key, signature: else refused;
  4. the store: approved -> approved again (an agent that lost the reply asks again),
     revoked -> refused, an auto-approve rule -> approved now, else pending (one record per key).
Every drop and refusal is counted (`SecurityCounters`); the enrolment log gets a row only
for what changes an agent's record (new pending, approved, revoked): a flood adds none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from partout import subjects
from partout.master.config import AutoApproveRule
from partout.master.guard import SecurityCounters, reply_allowed
from partout.master.ratelimit import RequestLimits, TokenBucketSpec
from partout.master.store.base import AgentRecord, AgentStatus, EnrolmentLogEntry, Store
from partout.master.supervisor import Child, SupervisedActor
from partout.bus.messages import BusMessage

if TYPE_CHECKING:
    from partout.bus.facade import Bus
from partout.wire import decode, encode
from partout.wire.fleet import MAX_ENROL_BYTES, EnrolReply, EnrolRequest

log = logging.getLogger(__name__)

PENDING_RECOUNT = 10.0  # seconds
PER_KEY = TokenBucketSpec(rate=1.0, burst=5.0)  # a real agent asks every few seconds at most


class EnrolmentActor(SupervisedActor):
    def __init__(self, bus: Bus, store: Store, *, master_public_key: str,
                 rules: Sequence[AutoApproveRule], max_pending: int = 10_000,
                 counters: SecurityCounters | None = None, overall_rate: float = 500.0,
                 child: Child | None = None) -> None:
        super().__init__(child=child)
        self._max_pending = max_pending
        self._pending = 0
        self._pending_counted_at = -PENDING_RECOUNT
        self._bus = bus
        self._store = store
        self._master_public_key = master_public_key
        self._rules = tuple(rules)
        self.counters = counters or SecurityCounters()
        self._limits = RequestLimits(PER_KEY, TokenBucketSpec(rate=overall_rate, burst=2 * overall_rate))

    def handle(self, message: object) -> None:
        if not isinstance(message, BusMessage):
            return super().handle(message)
        key = subjects.enrol_key(message.subject)
        if key is None:
            self.counters.count("enrol.bad-subject", subject=message.subject[:200])
            return None
        if not reply_allowed(message.reply, key, self.counters, "enrol"):
            return None
        limit = self._limits.admit(key)
        if limit is not None:
            self.counters.count(f"enrol.rate-limited-{limit}")
            return None
        try:
            reply = self.enrol(message.data, key)
        except Exception:
            log.exception("enrolment failed")
            reply = EnrolReply(status="refused", reason="the master could not process this enrolment; retry later")
        if reply is not None:
            self._bus.publish(message.reply, encode(reply))
        return None

    def _pending_count(self) -> int:
        # recounted now and then: other masters and operators change it too
        now = time.monotonic()
        if now - self._pending_counted_at >= PENDING_RECOUNT:
            self._pending = len(self._store.agents(AgentStatus.PENDING))
            self._pending_counted_at = now
        return self._pending

    def _log(self, public_key: str, hostname: str, outcome: str, reason: str) -> None:
        entry = EnrolmentLogEntry(public_key=public_key, hostname=hostname, outcome=outcome, reason=reason)
        self._store.log_enrolment(entry)

    def _refuse(self, counted: str, reason: str) -> EnrolReply:
        """Refused before the request proved to be its key's: counted, not stored."""
        self.counters.count(f"enrol.{counted}")
        return EnrolReply(status="refused", reason=reason)

    def _refuse_agent(self, reason: str, public_key: str, hostname: str) -> EnrolReply:
        log.warning("enrolment refused", extra={"public_key": public_key, "reason": reason})
        self._log(public_key, hostname, "refused", reason)
        return EnrolReply(status="refused", reason=reason)

    def enrol(self, data: bytes, connected_key: str) -> EnrolReply | None:
        """The reply to one raw enrolment request from the connection of `connected_key`."""
        if len(data) > MAX_ENROL_BYTES:
            return self._refuse("oversized", f"request of {len(data)} bytes is over the limit of {MAX_ENROL_BYTES}")
        request = decode(EnrolRequest, data)
        if request is None:
            return self._refuse("malformed", "malformed enrolment request")
        if request.public_key != connected_key:
            return self._refuse("key-mismatch", "the request enrols another key than the one this connection "
                                                "authenticated with")
        problem = request.verify()
        if problem is not None:
            return self._refuse("bad-signature", f"signature check failed: {problem}")
        key, hostname = request.public_key, request.hostname
        agent = self._store.agent_by_public_key(key)
        status = agent.status if agent is not None else None
        if status == "revoked":
            return self._refuse_agent("this agent has been revoked", key, hostname)
        if agent is not None and status == "approved":
            # facts may have changed since: keep them fresh. Not the hostname: operators approved
            # it under the one it had, and a taken-over agent renaming itself to another's name
            # would mislead them; the claim goes to the enrolment log and the master's log only
            approved_as = agent.hostname
            agent = self._store.upsert_pending(key, approved_as, request.facts)
            reason = "already approved"
            if hostname != approved_as:
                reason += f"; claimed hostname {hostname!r} ignored, approved as {approved_as!r}"
                log.warning("approved agent claims another hostname; keeping the approved one",
                            extra={"agent_id": agent.agent_id, "approved_as": approved_as,
                                   "claimed": hostname})
            return self._approved(agent, key, hostname, reason)
        rule = next((rule for rule in self._rules if rule.matches(hostname, request.token, request.facts)), None)
        if rule is not None:
            self._store.upsert_pending(key, hostname, request.facts)
            return self._approved(self._store.approve(key, rule.environment), key, hostname, rule.describe())
        if agent is None and self._pending_count() >= self._max_pending:
            return self._refuse("max-pending", f"{self._max_pending} agents already wait for approval; approve or "
                                               f"revoke some first (partout agents list --status pending)")
        self._store.upsert_pending(key, hostname, request.facts)
        if agent is None:  # a pending agent asking again changes nothing worth a log row
            self._pending += 1
            self._log(key, hostname, "pending", "waiting for an operator: partout agents approve")
            log.info("agent pending approval", extra={"public_key": key, "hostname": hostname})
        return EnrolReply(status="pending", reason="waiting for an operator to approve this agent",
                          master_public_key=self._master_public_key)

    def _approved(self, agent: AgentRecord, key: str, hostname: str, reason: str) -> EnrolReply:
        agent_id, environment = agent.agent_id, agent.environment
        self._log(key, hostname, "approved", reason)
        log.info("agent approved", extra={"agent_id": agent_id, "environment": environment, "reason": reason})
        return EnrolReply(status="approved", agent_id=agent_id, environment=environment,
                          master_public_key=self._master_public_key, reason=reason)

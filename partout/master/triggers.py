"""`TriggerRouterActor`: routes triggers on `partout.trigger.<name>` (queue group) to the
approved agents their `where` query selects, as Control "trigger" (partout.wire.triggers).

    sender  -> partout.trigger.<name>: TriggerRequest, signed by its nkey
    master  checks: size, subject == name, signature (fresh), sender may fire (an operator
            key, or an active integration with the trigger role), its rate, the nonce
            (shared by the masters: a replay is refused), the query
            records it (fired or refused: `partout events` lists both), replies
            TriggerReply into the sender's own inbox only, and
    agents  <- partout.agent.<id>.control: Control "trigger" {triggers: [FiredTrigger...]},
            at most one per agent per window, carrying every trigger that came meanwhile

Rules (partout.master.trigger_rules) fire triggers too: event ingest tells this actor a
`RuleHit`; each rule fires at most once per window. A malformed, oversized or mis-addressed
request is dropped and counted (no identity in it can be trusted); a refused one is also
recorded and logged, up to REFUSALS_RECORDED per second, beyond which it is only counted.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pykka

from partout import subjects
from partout.bus.messages import BusMessage
from partout.errors import BusError
from partout.master.coalesce import KeyedWindow
from partout.master.guard import NonceCache, SecurityCounters, SharedNonces
from partout.master.ratelimit import RequestLimits, TokenBucketSpec
from partout.master.store.trigger_records import TriggerRecord
from partout.master.store_actor import StoreHandle
from partout.master.supervisor import Child, SupervisedActor, tell_later
from partout.master.trigger_rules import RuleHit, TriggerRule
from partout.master.trigger_senders import Sender, approved_matching, rule_name, trigger_sender
from partout.wire import decode, encode
from partout.wire.fleet import SIGNATURE_MAX_AGE, Control
from partout.wire.triggers import (
    MAX_TRIGGER_BYTES, TRIGGER_COMMAND, FiredTrigger, TriggerReply, TriggerRequest, trigger_parameters,
)

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)

# a sender floods only its own budget: the operator's triggers still go through
REFUSALS = TokenBucketSpec(rate=10.0, burst=50.0)  # refused triggers recorded and logged per second
MAX_CONTROL_BYTES = 256 * 1024  # triggers per Control (NATS's default message limit is 1 MiB)

Fired = dict[str, FiredTrigger]  # trigger name -> the latest of that name


def message_sized(fired: list[FiredTrigger]) -> list[list[FiredTrigger]]:
    """`fired` in as few parts as keep each Control within MAX_CONTROL_BYTES (one, unless many
    distinct triggers with large data came in one window: a NATS message has a size limit)."""
    parts: list[list[FiredTrigger]] = [[]]
    size = 0
    for one in fired:
        length = len(one.model_dump_json())
        if parts[-1] and size + length > MAX_CONTROL_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(one)
        size += length
    return parts


@dataclass(frozen=True)
class _AgentsDue:
    """Scheduled by the router itself: some agents' windows are over."""


@dataclass(frozen=True)
class _RulesDue:
    """Scheduled by the router itself: some rules' windows are over."""


class TriggerRouterActor(SupervisedActor):
    def __init__(self, bus: Bus, store: StoreHandle, *, operator_keys: Collection[str], window: float = 1.0,
                 rules: tuple[TriggerRule, ...] = (), counters: SecurityCounters | None = None,
                 rate: float = 5.0, overall_rate: float = 200.0, child: Child | None = None) -> None:
        super().__init__(child=child)
        self._bus = bus
        self._store = store
        self._operator_keys = frozenset(operator_keys)
        self._rules = {rule.name: rule for rule in rules}
        self.counters = counters or SecurityCounters()
        # a burst of at least one: a slow rate (one a minute) must still let a trigger through
        per_sender = TokenBucketSpec(rate, max(1.0, 4 * rate))
        overall = TokenBucketSpec(overall_rate, max(1.0, 2 * overall_rate))
        self._limits = RequestLimits(per_sender, overall)
        # operators have a budget of their own: integrations flooding together cannot spend it
        self._operator_limits = RequestLimits(per_sender, overall)
        self._refusals = RequestLimits(REFUSALS, REFUSALS)
        self._nonces = SharedNonces(bus, NonceCache(SIGNATURE_MAX_AGE))
        self._agents: KeyedWindow[Fired] = KeyedWindow(
            window, send=self._send, merge=lambda old, new: {**old, **new},
            schedule=lambda delay: tell_later(delay, self.actor_ref, _AgentsDue()))
        self._rule_window: KeyedWindow[frozenset[str]] = KeyedWindow(
            window, send=self._fire_rule, merge=lambda old, new: old | new,
            schedule=lambda delay: tell_later(delay, self.actor_ref, _RulesDue()))
        self.fired = 0  # triggers routed
        self.refused = 0  # triggers refused

    @property
    def controls_sent(self) -> int:
        return self._agents.sent

    def handle(self, message: object) -> None:
        match message:
            case BusMessage():
                self._request(message)
            case RuleHit():
                self._rule_hit(message)
            case _AgentsDue():
                self._agents.due()
            case _RulesDue():
                self._rule_window.due()
            case _:
                super().handle(message)

    # -- requests from operators and integrations ----------------------------------------

    def _request(self, message: BusMessage) -> None:
        name = subjects.trigger_name(message.subject)
        if name is None:
            self.counters.count("trigger.bad-subject", subject=message.subject[:200])
            return
        if len(message.data) > MAX_TRIGGER_BYTES:
            self.counters.count("trigger.oversized", subject=message.subject[:200])
            return
        request = decode(TriggerRequest, message.data)
        if request is None or request.name != name:
            self.counters.count("trigger.malformed", subject=message.subject[:200])
            return
        problem = request.verify()
        if problem is not None:  # the key is only claimed: it gets no answer
            self._refuse(request, Sender("", request.public_key), f"signature check failed: {problem}",
                         "bad-signature", None)
            return
        sender, refusal = self._store.run(trigger_sender, request.public_key, self._operator_keys)
        if refusal:
            self._refuse(request, sender, refusal, "not-allowed", message.reply)
            return
        limits = self._operator_limits if sender.key in self._operator_keys else self._limits
        limited = limits.admit(sender.key)
        if limited is not None:
            self.counters.count(f"trigger.rate-{limited}", public_key=sender.key, sender=sender.name)
            self._reply(message.reply, sender.key, TriggerReply(
                ok=False, error="too many triggers from this key; slow down"))
            return
        try:
            fresh = self._nonces.first_use(sender.key, request.nonce)
        except (BusError, pykka.Timeout) as error:  # unchecked is refused: a replay must not slip through
            log.warning("trigger nonce not checked", extra={"error": str(error)})
            self._reply(message.reply, sender.key, TriggerReply(
                ok=False, error="the master could not check this request's nonce; retry in a moment"))
            return
        if not fresh:
            self._refuse(request, sender, "replayed request (its nonce was already used)", "replay", message.reply)
            return
        reply = self.route(request.name, request.where, request.data, sender)
        self._reply(message.reply, sender.key, reply)

    def _refuse(self, request: TriggerRequest, sender: Sender, reason: str, kind: str, reply: str | None) -> None:
        self.counters.count(f"trigger.{kind}", public_key=sender.key, sender=sender.name)
        if self._refusals.admit("refused") is None:  # a flood of refusals is only counted
            log.warning("trigger refused", extra={"trigger": request.name, "public_key": sender.key,
                                                  "sender": sender.name, "reason": reason})
            self._record(request.name, request.where, {}, sender, (), "refused", reason)
        self.refused += 1
        if reply is not None:
            self._reply(reply, sender.key, TriggerReply(ok=False, error=f"trigger refused: {reason}"))

    def _reply(self, reply: str | None, signer: str, answer: TriggerReply) -> None:
        """Only into the signer's own inbox: the master publishes with `>` rights."""
        if not reply:
            return
        if subjects.inbox_owner(reply) != signer:
            self.counters.count("trigger.foreign-reply", reply=reply[:200])
            return
        self._bus.publish(reply, encode(answer))

    # -- routing ------------------------------------------------------------------------

    def route(self, name: str, where: str, data: dict[str, Any], sender: Sender) -> TriggerReply:
        """Select the agents, record the trigger, hand it to their windows; the reply."""
        from partout.inventory import Query, QueryError

        try:
            query = Query.parse(where)
        except QueryError as error:
            self.refused += 1
            self._record(name, where, data, sender, (), "refused", str(error))
            return TriggerReply(ok=False, error=str(error))
        reached, warnings = self._store.run(approved_matching, query)
        trigger_id = self._record(name, where, data, sender, tuple(reached), "fired", "; ".join(warnings))
        fired = FiredTrigger(name=name, trigger_id=trigger_id, sender=sender.name, data=data)
        for agent_id in reached:
            self._agents.add(agent_id, {name: fired})
        self.fired += 1
        log.info("trigger fired", extra={"trigger": name, "trigger_id": trigger_id, "sender": sender.name,
                                         "reached": len(reached)})
        return TriggerReply(ok=True, trigger_id=trigger_id, reached=reached, warnings=warnings)

    def _record(self, name: str, where: str, data: dict[str, Any], sender: Sender, reached: tuple[str, ...],
                status: str, reason: str) -> str:
        trigger_id = uuid.uuid4().hex
        record = TriggerRecord(trigger_id=trigger_id, name=name, sender=sender.name, sender_key=sender.key,
                               where=where, data=data, received_at=datetime.now(UTC), reached=reached,
                               status=status, reason=reason[:2000])
        try:
            self._store.record_trigger(record)
        except Exception as error:  # routing goes on: the record is for the operator's eyes
            log.warning("trigger not recorded", extra={"trigger_id": trigger_id, "error": str(error)})
        return trigger_id

    def _send(self, agent_id: str, fired: Fired) -> None:
        for part in message_sized(list(fired.values())):
            control = Control(command=TRIGGER_COMMAND, parameters=trigger_parameters(part), sent_at=datetime.now(UTC))
            self._bus.publish(subjects.agent_control(agent_id), encode(control))

    # -- rules --------------------------------------------------------------------------

    def _rule_hit(self, hit: RuleHit) -> None:
        from partout.inventory import Query

        rule = self._rules.get(hit.rule)
        if rule is None:
            return
        if rule.from_ is not None:
            # asked of the one agent (an id is a subject token: safe inside a query string),
            # not of the fleet and then searched: a storm of hits stays cheap
            sender = Query.parse(f"id == {json.dumps(hit.agent_id)} and ({rule.from_})", max_length=None)
            senders, _ = self._store.run(approved_matching, sender)
            if hit.agent_id not in senders:
                return
        self._rule_window.add(rule.name, frozenset({hit.agent_id}))

    def _fire_rule(self, name: str, agents: frozenset[str]) -> None:
        rule = self._rules[name]
        reply = self.route(rule.trigger, rule.where, rule.data, Sender(rule_name(rule.name)))
        log.info("trigger rule fired", extra={"rule": name, "from_agents": sorted(agents), "ok": reply.ok,
                                              "reached": len(reply.reached)})


__all__ = ["TriggerRouterActor"]

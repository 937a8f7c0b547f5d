"""`OperatorApiActor`: answers the operator CLI on `partout.master.api` (queue group).

A request counts only when it is signed (fresh) by a key that is an operator key, carries a
nonce not seen before within the signature's window by any master of the group (a replay
is refused; the nonces are shared through a KV bucket), and asks for its
answer in that operator's own inbox (`_INBOX_<operator key>.…`): the master never publishes
on a reply subject the requester chose elsewhere; such requests are dropped and counted.
The NATS permissions alone are not trusted for this, since every master shares the subject space.

Verbs (OperatorRequest.verb -> arguments -> OperatorReply.data):
  agents.list     {status?, environment?}   -> [agent summary]; with `where` (an inventory query):
                                               {agents: [agent summary], warnings} (inventory_api.py)
  inventory.query {where, fields?, environment?, status?} -> {rows, warnings}
  agents.show     {id}                      -> agent summary + facts + last_report + dependencies
  agents.approve  {id, environment?}        -> agent summary
  agents.revoke   {id}                      -> agent summary + disconnected (count)
  agents.apply    {id}                      -> agent summary; the agent gets Control "apply"
  reports         {id, limit?, with_agent?} -> [report summary + results]; with_agent:
                                               {agent: summary, matched, reports: [...]}
  policy.errors   {environment?, limit?}    -> [policy error]
  integrations.*                            -> see partout.master.integrations
  events          {agent?, module?, status?, since?, until?, limit?} -> see events_query.py
`id` is an agent id, public key, a unique prefix of either, or else a unique hostname
(see `match_agent`); the replies about one agent say how it was `matched`.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import pykka

from partout import subjects
from partout.errors import BusError, PartoutError
from partout.master.address import Address
from partout.master.events_query import events_reply
from partout.master.guard import NonceCache, SecurityCounters, SharedNonces, reply_allowed
from partout.master.integrations import IntegrationVerbs
from partout.master.inventory_api import agents_where, dependencies_of, inventory_query
from partout.master.kick import Kick
from partout.master.store.base import AgentRecord, ReportRecord, match_agent
from partout.master.store_actor import StoreHandle
from partout.master.supervisor import Child, SupervisedActor
from partout.bus.messages import BusMessage
from partout.wire import decode, encode
from partout.wire.fleet import (
    MAX_ENROL_BYTES, SIGNATURE_MAX_AGE, Control, EnrolReply, OperatorReply, OperatorRequest,
)

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)

KICK_TIMEOUT = 10.0  # seconds; the revocation holds anyway (the callout refuses the agent from now on)
approval_subject = subjects.approval_inbox  # where a pending agent hears of its approval


def agent_summary(agent: AgentRecord) -> dict[str, Any]:
    return agent.model_dump(mode="json", exclude={"facts"})


def report_summary(record: ReportRecord, *, results: bool = False) -> dict[str, Any]:
    data = record.model_dump(mode="json", exclude={"report"})
    if results:
        data["results"] = [
            {"resource": result.id, "status": result.status.value, "summary": result.summary}
            for result in record.report.results
        ]
    return data


def facts_summary(facts: dict[str, Any]) -> dict[str, Any]:
    """The facts an operator looks at first; the rest is one `--json` away."""
    keys = ("hostname", "fqdn", "cpus", "memory", "python")
    summary: dict[str, Any] = {key: facts[key] for key in keys if key in facts}
    system = facts.get("os")
    if isinstance(system, dict):
        summary["os"] = {key: system[key] for key in ("name", "family", "version", "kernel", "arch") if key in system}
    nics = facts.get("nics")
    if isinstance(nics, dict):
        summary["addresses"] = sorted(
            address for nic in nics.values() if isinstance(nic, dict) and nic.get("state") == "up"
            for address in nic.get("addresses") or [] if not str(address).startswith("fe80:"))
    return summary


class OperatorApiActor(SupervisedActor):
    def __init__(self, bus: Bus, store: StoreHandle, *, operator_keys: Collection[str],
                 kicker: Address | None, default_environment: str, master_public_key: str = "",
                 counters: SecurityCounters | None = None, child: Child | None = None) -> None:
        super().__init__(child=child)
        self._master_public_key = master_public_key
        self._bus = bus
        self._store = store
        self._operator_keys = frozenset(operator_keys)
        self._kicker = kicker
        self._default_environment = default_environment
        self.counters = counters or SecurityCounters()
        # shared with the other masters of the group (the nonce KV bucket)
        self._nonces = SharedNonces(bus, NonceCache(SIGNATURE_MAX_AGE))
        reserved = {*self._operator_keys, master_public_key} - {""}
        self._integrations = IntegrationVerbs(store, self._kick, reserved_keys=reserved)

    def handle(self, message: object) -> None:
        if not isinstance(message, BusMessage):
            return super().handle(message)
        # only an operator's own inbox may get an answer, whatever the request says
        if not reply_allowed(message.reply, self._operator_keys, self.counters, "operator"):
            return None
        reply, signer = self.answer_from(message.data)
        if signer is not None and subjects.inbox_owner(message.reply) != signer:
            self.counters.count("operator.foreign-reply", reply=message.reply[:200])
            return None
        self._bus.publish(message.reply, encode(reply))
        return None

    def answer(self, data: bytes) -> OperatorReply:
        return self.answer_from(data)[0]

    def answer_from(self, data: bytes) -> tuple[OperatorReply, str | None]:
        """The reply, and the key that signed the request when the signature verified."""
        if len(data) > MAX_ENROL_BYTES:
            self.counters.count("operator.oversized")
            return OperatorReply(ok=False, error="request too large"), None
        request = decode(OperatorRequest, data)
        if request is None:
            self.counters.count("operator.malformed")
            return OperatorReply(ok=False, error="malformed operator request"), None
        problem = request.verify()
        if problem is not None:
            self.counters.count("operator.bad-signature")
            return OperatorReply(ok=False, error=f"signature check failed: {problem}"), None
        signer = request.public_key
        if signer not in self._operator_keys:
            self.counters.count("operator.unknown-key", public_key=signer)
            return OperatorReply(ok=False, error="this key is not an operator key of this master"), signer
        try:
            fresh = bool(request.nonce) and self._nonces.first_use(signer, request.nonce)
        except (BusError, pykka.Timeout) as error:  # unchecked is refused: a replay must not slip through
            log.warning("operator request nonce not checked", extra={"error": str(error)})
            return OperatorReply(ok=False, error="the master could not check this request's nonce; "
                                                 "retry in a moment"), signer
        if not fresh:
            self.counters.count("operator.replay", public_key=signer)
            return OperatorReply(ok=False, error="replayed request (its nonce was already used); "
                                                 "send a new one"), signer
        try:
            return OperatorReply(ok=True, data=self._dispatch(request.verb, request.arguments)), signer
        except PartoutError as error:
            return OperatorReply(ok=False, error=str(error)), signer
        except Exception as error:
            log.exception("operator request failed", extra={"verb": request.verb})
            return OperatorReply(ok=False, error=f"the master failed: {type(error).__name__}: {error}"), signer

    def _resolve(self, arguments: dict[str, Any]) -> tuple[AgentRecord, str]:
        text = str(arguments.get("id") or "")
        if not text:
            raise PartoutError("give an agent: id, public key, a unique prefix of either, or hostname")
        return self._store.run(match_agent, text)

    def _notify_approval(self, agent: AgentRecord) -> None:
        """Tell a waiting agent now, on its pending inbox, rather than at its next enrol."""
        reply = EnrolReply(status="approved", agent_id=agent.agent_id, environment=agent.environment,
                           master_public_key=self._master_public_key, reason="approved by an operator")
        self._bus.publish(approval_subject(agent.public_key), encode(reply))

    def _disconnect(self, agent: AgentRecord) -> int:
        return self._kick(tuple(name for name in (agent.agent_id, agent.public_key) if name))

    def _kick(self, users: tuple[str, ...]) -> int:
        """Close the live connections authorized as `users`; how many closed."""
        if self._kicker is None:
            return 0
        closed: pykka.Future[int] = pykka.ThreadingFuture()
        self._kicker.tell(Kick(users, closed))
        try:
            return closed.get(timeout=KICK_TIMEOUT)
        except Exception as error:  # it is refused at its next connection all the same
            log.warning("revoked identity not disconnected", extra={"users": list(users), "error": str(error)})
            return 0

    def _dispatch(self, verb: str, arguments: dict[str, Any]) -> Any:
        match verb:
            case "agents.list" if arguments.get("where") is not None:
                agents, warnings = self._store.run(agents_where, arguments)
                return {"agents": [agent_summary(agent) for agent in agents], "warnings": warnings}
            case "inventory.query":
                return self._store.run(inventory_query, arguments)
            case "agents.list":
                agents = self._store.agents(arguments.get("status"), arguments.get("environment"))
                return [agent_summary(agent) for agent in agents]
            case "agents.show":
                agent, matched = self._resolve(arguments)
                reports = self._store.reports(agent.agent_id, 1) if agent.agent_id else []
                return {**agent_summary(agent), "matched": matched, "facts": facts_summary(agent.facts),
                        "facts_count": len(agent.facts),
                        "last_report": report_summary(reports[0], results=True) if reports else None,
                        "dependencies": self._store.run(dependencies_of, agent)}
            case "agents.approve":
                agent, matched = self._resolve(arguments)
                environment = str(arguments.get("environment") or agent.environment or self._default_environment)
                subjects.policy_key(environment)  # a name fit for a subject, or a clear error now
                approved = self._store.approve(agent.public_key, environment)
                log.info("agent approved by an operator", extra={"agent_id": approved.agent_id,
                                                                 "environment": environment})
                self._notify_approval(approved)
                return {**agent_summary(approved), "matched": matched}
            case "agents.revoke":
                agent, matched = self._resolve(arguments)
                revoked = self._store.revoke(agent.public_key)
                closed = self._disconnect(agent)
                log.info("agent revoked", extra={"agent_id": revoked.agent_id, "disconnected": closed})
                return {**agent_summary(revoked), "matched": matched, "disconnected": closed}
            case "agents.apply":
                agent, matched = self._resolve(arguments)
                if agent.status != "approved" or not agent.agent_id:
                    raise PartoutError(f"agent {agent.key} is {agent.status}, not approved: nothing to apply")
                self._bus.publish(subjects.agent_control(agent.agent_id), encode(Control(command="apply")))
                return {**agent_summary(agent), "matched": matched}
            case "reports":
                agent, matched = self._resolve(arguments)
                limit = max(1, min(int(arguments.get("limit") or 20), 1000))
                reports = self._store.reports(agent.agent_id, limit) if agent.agent_id else []
                summaries = [report_summary(record, results=True) for record in reports]
                if arguments.get("with_agent"):
                    return {"agent": agent_summary(agent), "matched": matched, "reports": summaries}
                return summaries
            case "policy.errors":
                limit = max(1, min(int(arguments.get("limit") or 20), 1000))
                errors = self._store.policy_errors(arguments.get("environment"), limit)
                return [error.model_dump(mode="json") for error in errors]
            case _ if verb.startswith("integrations."):
                return self._integrations.dispatch(verb, arguments)
            case "events":
                return events_reply(self._store, arguments)
        raise PartoutError(f"unknown verb {verb!r}")

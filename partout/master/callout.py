"""The master's answer to NATS auth callout: who is this nkey, and what may it do.

    master key                  -> master (PARTOUT account); with the connection name
                                   SYSTEM_CONNECTION -> the SYS account, for the kick API
    operator key (config)       -> operator(key)
    integration key (store)     -> reader(key) or trigger(key), refused once removed
                                   (partout.master.integrations)
    approved agent (store)      -> agent(agent_id, environment, key), with credentials expiring
                                   after `agent_credentials_ttl` when that is set
    revoked agent               -> refused
    anything else               -> pending(public key): enrolment and its own inbox only

The responder is a child actor of the master (CalloutActor) with a Bus of its own, connected
as the callout service user: a slow store never stalls the master's bus and vice versa.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from partout import subjects
from partout.bus.messages import BusMessage, BusOptions
from partout.master.store.base import Store
from partout.master.supervisor import Child, SupervisedActor
from partout.nats import jwt, permissions
from partout.nats.callout import ACCOUNT, AuthorizationRequest, CalloutResponder, Decision
from partout.nats.permissions import Permissions, Role

if TYPE_CHECKING:
    from partout.bus.facade import Bus

log = logging.getLogger(__name__)

SYSTEM_ACCOUNT = "SYS"
SYSTEM_CONNECTION = "partout-master-system"
CALLOUT_QUEUE = "partout-callout"
CALLOUT_CONNECTION = "partout-callout"


@dataclass(frozen=True)
class AccountDecision(Decision):
    """A Decision that may place the user in another account and make its credentials expire."""

    account: str = ACCOUNT
    expires_in: float | None = None


def system_permissions() -> Permissions:
    """The master's system connection: server requests (CONNZ, KICK) and their replies only."""
    return Permissions(publish_allow=(subjects.SERVER_REQUESTS_ALL,), subscribe_allow=(subjects.DEFAULT_INBOX_ALL,))


class MasterResponder(CalloutResponder):
    """CalloutResponder whose user JWTs honour AccountDecision (account, expiry)."""

    def user_jwt(self, user_nkey: str, decision: Decision, identity: str) -> str:
        assert decision.permissions is not None
        account = decision.account if isinstance(decision, AccountDecision) else ACCOUNT
        expires_in = decision.expires_in if isinstance(decision, AccountDecision) else None
        body: dict[str, Any] = {"sub": user_nkey, "aud": account, "name": decision.name or identity,
                                "nats": decision.permissions.user_claims()}
        if expires_in is not None:
            body["exp"] = int(time.time() + expires_in)
        return jwt.encode(body, self._issuer)


# (status, agent_id, environment) of a public key, or None when unknown
AgentLookup = Callable[[str], "tuple[str, str, str] | None"]
# the Decision for an integration's key, or None when the key is not an integration's
IntegrationLookup = Callable[[str], "Decision | None"]


class Authorizer:
    """The authorize callback; `lookup` may wait on the store (it runs on the callout actor)."""

    def __init__(self, master_key: str, operator_keys: Collection[str], lookup: AgentLookup,
                 *, agent_ttl: float | None, integrations: IntegrationLookup | None = None) -> None:
        self.master_key = master_key
        self.operator_keys = frozenset(operator_keys)
        self._lookup = lookup
        self._agent_ttl = agent_ttl
        self._integrations = integrations

    def __call__(self, request: AuthorizationRequest) -> Decision:
        key = request.public_key
        if key == self.master_key:
            if request.name == SYSTEM_CONNECTION:
                return AccountDecision(Role.MASTER, system_permissions(), name="partout-master-system",
                                       account=SYSTEM_ACCOUNT)
            return Decision.allow(Role.MASTER, permissions.master(), name="partout-master")
        if key in self.operator_keys:
            return Decision.allow(Role.OPERATOR, permissions.operator(key), name="partout-operator")
        if self._integrations is not None and (integration := self._integrations(key)) is not None:
            if not integration.allowed or integration.permissions is None:
                return integration
            # expiring like an agent's: should the kick at removal fail, the credentials still end
            return AccountDecision(integration.role, integration.permissions, name=integration.name,
                                   expires_in=self._agent_ttl)
        found = self._lookup(key)
        if found is None:
            return Decision.allow(Role.PENDING, permissions.pending(key), name=key)
        status, agent_id, environment = found
        if status == "approved":
            granted = permissions.agent(agent_id, environment, key)
            return AccountDecision(Role.AGENT, granted, name=agent_id, expires_in=self._agent_ttl)
        if status == "revoked":
            return Decision.refuse("this agent has been revoked")
        return Decision.allow(Role.PENDING, permissions.pending(key), name=key)


def store_lookup(store: Store) -> AgentLookup:
    """The Authorizer's lookup answered from `store` (the master's StoreHandle)."""

    def lookup(public_key: str) -> tuple[str, str, str] | None:
        agent = store.agent_by_public_key(public_key)
        if agent is None:
            return None
        return str(agent.status), agent.agent_id or "", agent.environment or ""

    return lookup


class CalloutActor(SupervisedActor):
    """Answers the server's authorization requests on a Bus of its own, connected as the
    callout service user (the one user the server never sends to the callout), so the
    master's bus and the callout never wait on each other. The bus is this incarnation's:
    opened in start_up, closed in on_stop, so a restart reconnects."""

    def __init__(self, options: BusOptions, responder: CalloutResponder, *, subscribe_timeout: float = 15.0,
                 child: Child | None = None) -> None:
        super().__init__(child=child)
        self._options = options
        self._responder = responder
        self._subscribe_timeout = subscribe_timeout
        self._bus: Bus | None = None

    def start_up(self) -> None:
        from partout.bus.facade import Bus

        self._bus = Bus.start(self._options)
        # several masters share the requests (queue group); answering starts once the server has it
        self._bus.subscribe(subjects.AUTH_CALLOUT, self.actor_ref, queue=CALLOUT_QUEUE).get(
            timeout=self._subscribe_timeout)

    def handle(self, message: object) -> None:
        if not isinstance(message, BusMessage):
            return super().handle(message)
        try:
            response = self._responder.respond(message.data)
        except Exception:  # a request the responder chokes on is refused by timeout, not a crash
            log.exception("auth callout request failed", extra={"bytes": len(message.data)})
            return None
        if response is not None and message.reply and self._bus is not None:
            self._bus.publish(message.reply, response.encode("ascii"))
        return None

    def on_stop(self) -> None:
        if self._bus is not None:
            self._bus.stop()
            self._bus = None

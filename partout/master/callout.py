"""The master's answer to NATS auth callout: who is this nkey, and what may it do.

    master key                  -> master (PARTOUT account); with the connection name
                                   SYSTEM_CONNECTION -> the SYS account, for the kick API
    operator key (config)       -> operator(key)
    approved agent (store)      -> agent(agent_id, environment, key), with credentials expiring
                                   after `agent_credentials_ttl` when that is set
    revoked agent               -> refused
    anything else               -> pending(public key): enrolment and its own inbox only

The responder runs on its own thread and asyncio loop with its own connection (as the callout
service user), so a slow store never stalls the master's bus and vice versa.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from partout.nats import jwt, permissions
from partout.nats.callout import ACCOUNT, AuthorizationRequest, CalloutResponder, Decision
from partout.nats.permissions import Permissions, Role

log = logging.getLogger(__name__)

SYSTEM_ACCOUNT = "SYS"
SYSTEM_CONNECTION = "partout-master-system"


@dataclass(frozen=True)
class AccountDecision(Decision):
    """A Decision that may place the user in another account and make its credentials expire."""

    account: str = ACCOUNT
    expires_in: float | None = None


def system_permissions() -> Permissions:
    """The master's system connection: server requests (CONNZ, KICK) and their replies only."""
    return Permissions(publish_allow=("$SYS.REQ.SERVER.>",), subscribe_allow=("_INBOX.>",))


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


class Authorizer:
    """The authorize callback; `lookup` runs in a worker thread (it may wait on the store)."""

    def __init__(self, master_key: str, operator_keys: Collection[str], lookup: AgentLookup,
                 *, agent_ttl: float | None) -> None:
        self.master_key = master_key
        self.operator_keys = frozenset(operator_keys)
        self._lookup = lookup
        self._agent_ttl = agent_ttl

    async def __call__(self, request: AuthorizationRequest) -> Decision:
        key = request.public_key
        if key == self.master_key:
            if request.name == SYSTEM_CONNECTION:
                return AccountDecision(Role.MASTER, system_permissions(), name="partout-master-system",
                                       account=SYSTEM_ACCOUNT)
            return Decision.allow(Role.MASTER, permissions.master(), name="partout-master")
        if key in self.operator_keys:
            return Decision.allow(Role.OPERATOR, permissions.operator(key), name="partout-operator")
        found = await asyncio.get_running_loop().run_in_executor(None, self._lookup, key)
        if found is None:
            return Decision.allow(Role.PENDING, permissions.pending(key), name=key)
        status, agent_id, environment = found
        if status == "approved":
            granted = permissions.agent(agent_id, environment, key)
            return AccountDecision(Role.AGENT, granted, name=agent_id, expires_in=self._agent_ttl)
        if status == "revoked":
            return Decision.refuse("this agent has been revoked")
        return Decision.allow(Role.PENDING, permissions.pending(key), name=key)


class CalloutService:
    """Runs a MasterResponder on its own loop thread until `stop()`."""

    def __init__(self, servers: list[str], service_seed: bytes, issuer: Any, authorize: Authorizer) -> None:
        self._servers = servers
        self._seed = service_seed
        self._issuer = issuer
        self._authorize = authorize
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="partout-callout", daemon=True)
        self._connection: Any = None
        self.responder: MasterResponder | None = None

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._connect(), self._loop).result(timeout=timeout)

    async def _connect(self) -> None:
        import nats

        async def quiet(error: Exception) -> None:
            log.debug("callout connection error", extra={"error": str(error)})

        self._connection = await nats.connect(
            self._servers, nkeys_seed_str=self._seed.decode("ascii").strip(), name="partout-callout",
            max_reconnect_attempts=-1, reconnect_time_wait=0.2, error_cb=quiet,
        )
        self.responder = MasterResponder(self._issuer, self._authorize)
        await self.responder.start(self._connection)

    def stop(self) -> None:
        if self._thread.is_alive():
            if self._connection is not None:
                try:
                    asyncio.run_coroutine_threadsafe(self._connection.close(), self._loop).result(timeout=5)
                except Exception:
                    log.warning("callout connection did not close cleanly", exc_info=True)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

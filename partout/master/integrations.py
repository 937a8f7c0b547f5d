"""Integrations on the master: what the auth callout grants their keys, and the operator
API verbs that register and remove them.

    integration key, not removed -> reader(key) or trigger(key), named by the key
    integration key, removed     -> refused (its live connections were kicked at removal)

Operator verbs (OperatorRequest.verb -> arguments -> OperatorReply.data):
  integrations.add     {name, role, public_key} -> integration summary
  integrations.list    {removed?}               -> [integration summary]
  integrations.remove  {name}                   -> integration summary + disconnected (count)
The key pair is made by the operator's CLI: only the public key reaches the master.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from partout.bundle.verify import public_key_bytes
from partout.errors import PartoutError
from partout.master.store.base import Store
from partout.master.store.integrations import (
    IntegrationError, IntegrationRecord, IntegrationRole, check_integration_name, check_integration_role,
)
from partout.master.store_actor import StoreHandle
from partout.nats import permissions
from partout.nats.callout import Decision
from partout.nats.permissions import Permissions, Role

log = logging.getLogger(__name__)

VERBS = ("integrations.add", "integrations.list", "integrations.remove")

# what the callout says about a key: a Decision, or None when it is not an integration's
IntegrationAuthorizer = Callable[[str], "Decision | None"]
# close the live connections authorized as one of these users; how many closed
Disconnect = Callable[[tuple[str, ...]], int]

GRANTS: dict[IntegrationRole, tuple[Role, Callable[[str], Permissions]]] = {
    IntegrationRole.READER: (Role.READER, permissions.reader),
    IntegrationRole.TRIGGER: (Role.TRIGGER, permissions.trigger),
}


def integration_decision(found: IntegrationRecord | None) -> Decision | None:
    """The callout's answer for an integration's key (None: not an integration)."""
    if found is None:
        return None
    if found.removed:
        return Decision.refuse("this integration has been removed")
    role, grant = GRANTS[found.role]
    # named by its key, unique for ever, so a kick finds this key's connections only
    return Decision.allow(role, grant(found.public_key), name=found.public_key)


def store_authorizer(store: Store) -> IntegrationAuthorizer:
    """The callout's integration check, answered from `store` (the master's StoreHandle)."""
    return lambda public_key: integration_decision(store.integration_by_public_key(public_key))


def integration_summary(found: IntegrationRecord) -> dict[str, Any]:
    return found.model_dump(mode="json")


def check_public_key(text: str) -> str:
    """`text` when it is a public user nkey ('U...', valid checksum), else an error naming the field."""
    problem = "" if text.startswith("U") else "it does not start with 'U' (a user key)"
    if not problem:
        try:
            public_key_bytes(text)
        except PartoutError as error:
            problem = str(error)
    if problem:
        raise IntegrationError(f"integration public_key {text[:80]!r} is invalid: {problem}")
    return text


def _register(store: Store, name: str, role: IntegrationRole, public_key: str,
              reserved: frozenset[str]) -> IntegrationRecord:
    """Add, on the store thread in one go: a key the master already knows in another role
    (master, operator, any agent) is refused, so no key ever has two identities."""
    if public_key in reserved:
        raise IntegrationError("this public key is the master's or an operator's; make a new key pair")
    if store.agent_by_public_key(public_key) is not None:
        raise IntegrationError("this public key is an agent's; make a new key pair")
    return store.add_integration(name, role, public_key)


class IntegrationVerbs:
    """The integrations part of the operator API (OperatorApiActor hands these verbs over)."""

    def __init__(self, store: StoreHandle, disconnect: Disconnect, *, reserved_keys: Collection[str]) -> None:
        self._store = store
        self._disconnect = disconnect
        self._reserved = frozenset(reserved_keys)

    def dispatch(self, verb: str, arguments: dict[str, Any]) -> Any:
        match verb:
            case "integrations.add":
                name = check_integration_name(str(arguments.get("name") or ""))
                role = check_integration_role(str(arguments.get("role") or ""))
                public_key = check_public_key(str(arguments.get("public_key") or ""))
                added = self._store.run(_register, name, role, public_key, self._reserved)
                log.info("integration added", extra={"integration": name, "role": role.value,
                                                     "public_key": public_key})
                return integration_summary(added)
            case "integrations.list":
                return [integration_summary(found) for found in
                        self._store.integrations(removed=bool(arguments.get("removed")))]
            case "integrations.remove":
                removed = self._store.remove_integration(check_integration_name(str(arguments.get("name") or "")))
                closed = self._disconnect((removed.public_key,))
                log.info("integration removed", extra={"integration": removed.name, "disconnected": closed})
                return {**integration_summary(removed), "disconnected": closed}
        raise PartoutError(f"unknown verb {verb!r}")


__all__ = ["VERBS", "IntegrationVerbs", "check_public_key", "integration_decision", "store_authorizer"]

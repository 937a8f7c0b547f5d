"""Who may fire a trigger, and how `partout events` names them.

    sender, refusal = store.run(trigger_sender, public_key, operator_keys)

A key may fire when it is one of the master's operator keys, or an integration's that is
not removed and has the trigger role. Everything else is refused with the reason (the
key's integration named, never a secret)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from partout.master.store.base import AgentStatus, Store
from partout.master.store.integrations import IntegrationRole

if TYPE_CHECKING:
    from partout.inventory import Query

OPERATOR_PREFIX = 8  # characters of an operator's key that name it


def operator_name(public_key: str) -> str:
    return f"operator {public_key[:OPERATOR_PREFIX]}"


def rule_name(rule: str) -> str:
    return f"rule:{rule}"


@dataclass(frozen=True)
class Sender:
    """A trigger's sender as recorded: its name, and the key that signed (empty for a rule)."""

    name: str
    key: str = ""


def trigger_sender(store: Store, public_key: str, operator_keys: Collection[str]) -> tuple[Sender, str]:
    """On the store thread: the sender, and "" when it may fire, else why it may not."""
    if public_key in operator_keys:
        return Sender(operator_name(public_key), public_key), ""
    integration = store.integration_by_public_key(public_key)
    if integration is None:
        return Sender("", public_key), "this key is neither an operator's nor an integration's"
    sender = Sender(integration.name, public_key)
    if integration.removed:
        return sender, f"integration {integration.name!r} was removed"
    if integration.role is not IntegrationRole.TRIGGER:
        return sender, f"integration {integration.name!r} has the {integration.role.value} role, not trigger"
    return sender, ""


def approved_matching(store: Store, query: Query) -> tuple[list[str], list[str]]:
    """On the store thread: the ids of the approved agents of every environment `query`
    matches (sorted by hostname, then id), and the warnings (facts no agent has)."""
    found = store.inventory(query, ["id"], status=AgentStatus.APPROVED)
    return [str(row["id"]) for row in found.rows], list(found.warnings)


__all__ = ["OPERATOR_PREFIX", "Sender", "approved_matching", "operator_name", "rule_name", "trigger_sender"]

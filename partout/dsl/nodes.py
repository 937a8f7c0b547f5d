"""`p2.nodes(query, fields=[...])`: the fleet's data in a policy, from an `Inventory`.

    backends = p2.nodes("role == 'web'", fields=["hostname", "nics.eth0.addresses"])
    # [{"hostname": "web1", "nics.eth0.addresses": [...]}, ...], sorted by hostname then id

Where the answer comes from depends on who compiles:
- the agent: the master's inventory, asked over NATS during the compile (partout.agent.nodes);
  the master remembers the question and sends `data-changed` when its answer changes;
- `partout apply --inventory FILE`: a local JSON or YAML file (`FileInventory`);
- the master's test compile of an environment (sample facts): `EmptyInventory`, every
  answer empty, so that a policy using p2.nodes compiles and is published;
- `partout apply` without --inventory: `NoInventory`, a policy error naming the line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from partout.dsl.catalog import SourceLocation
from partout.errors import PartoutError, PolicyError

NodesScope = Literal["environment", "all"]


class InventoryUnavailable(PartoutError):
    """The inventory cannot answer (no master, a refusal, a bad file); the message says why."""


class Inventory(Protocol):
    def nodes(self, query: str, fields: Sequence[str], scope: NodesScope) -> list[dict[str, Any]]:
        """The rows of the nodes `query` matches, each its `fields`, in a deterministic order.
        Raises InventoryUnavailable (or partout.inventory.QueryError)."""
        ...


class NoInventory:
    """`partout apply` without --inventory: p2.nodes has nothing to read."""

    def nodes(self, query: str, fields: Sequence[str], scope: NodesScope) -> list[dict[str, Any]]:
        raise InventoryUnavailable("no inventory to read: run the policy under an agent (it asks the "
                                   "master), or give `partout apply --inventory FILE` (a JSON or YAML list of "
                                   "nodes: hostname, facts ...)")


class EmptyInventory:
    """The master's test compile against sample facts: every query answers no node."""

    def nodes(self, query: str, fields: Sequence[str], scope: NodesScope) -> list[dict[str, Any]]:
        from partout.inventory import Query, parse_field

        Query.parse(query)
        for name in fields:
            parse_field(name)
        return []


class FileInventory:
    """Nodes from a JSON or YAML file: a list (or {"nodes": [...]}) of objects with `hostname`
    and optionally `id` (default the hostname), `environment`, `status` (default "approved"),
    `last_seen` and `facts`. Every node in the file is in scope."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._documents: list[dict[str, Any]] | None = None

    def documents(self) -> list[dict[str, Any]]:
        if self._documents is None:
            self._documents = load_inventory_file(self.path)
        return self._documents

    def nodes(self, query: str, fields: Sequence[str], scope: NodesScope) -> list[dict[str, Any]]:
        from partout.inventory import Query, answer

        return list(answer(Query.parse(query), self.documents(), fields=fields).rows)


def load_inventory_file(path: Path) -> list[dict[str, Any]]:
    from partout.inventory import node_document

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InventoryUnavailable(f"inventory file {path}: cannot read it: {error}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            loaded: Any = yaml.safe_load(text)
        else:
            loaded = json.loads(text)
    except Exception as error:  # json and yaml errors both say where
        raise InventoryUnavailable(f"inventory file {path}: not valid {path.suffix[1:] or 'JSON'}: {error}") from None
    entries = loaded.get("nodes") if isinstance(loaded, dict) else loaded
    if not isinstance(entries, list):
        raise InventoryUnavailable(f"inventory file {path}: expected a list of nodes (or {{\"nodes\": [...]}})")
    documents = []
    for index, entry in enumerate(entries):
        where = f"inventory file {path}: node {index + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("hostname"), str) or not entry["hostname"]:
            raise InventoryUnavailable(f"{where}: each node is an object with a 'hostname'")
        unknown = set(entry) - {"id", "hostname", "environment", "status", "last_seen", "facts"}
        if unknown:
            raise InventoryUnavailable(f"{where} ({entry['hostname']}): unknown keys {', '.join(sorted(unknown))}; "
                                       "facts go under 'facts'")
        facts = entry.get("facts", {})
        if not isinstance(facts, dict):
            raise InventoryUnavailable(f"{where} ({entry['hostname']}): 'facts' must be an object")
        documents.append(node_document(
            id=str(entry.get("id") or entry["hostname"]), hostname=entry["hostname"],
            environment=entry.get("environment"), status=str(entry.get("status", "approved")),
            last_seen=entry.get("last_seen"), facts=facts))
    return documents


__all__ = [
    "EmptyInventory", "FileInventory", "Inventory", "InventoryUnavailable", "NoInventory",
    "NodesScope", "load_inventory_file", "nodes_of",
]


def nodes_of(inventory: Inventory, query: Any, fields: Sequence[str] | None, scope: Any,
             location: SourceLocation) -> list[dict[str, Any]]:
    """`p2.nodes`: check the call, ask the inventory; every failure a PolicyError at the call."""
    from partout.inventory import DEFAULT_NODE_FIELDS, Query, QueryError, parse_field

    def fail(message: str) -> PolicyError:
        return PolicyError(f"p2.nodes: {message}", file=location.file, line=location.line)

    if not isinstance(query, str):
        raise fail(f"the query is a string such as \"role == 'web'\", not {type(query).__name__}")
    if isinstance(fields, str) or not (fields is None or all(isinstance(name, str) for name in fields)):
        raise fail("fields= takes a list of field names, e.g. fields=[\"hostname\", \"os.family\"]")
    if scope not in ("environment", "all"):
        raise fail(f"scope= is 'environment' or 'all', not {scope!r}")
    chosen = tuple(fields) if fields is not None else DEFAULT_NODE_FIELDS
    try:
        Query.parse(query)
        for name in chosen:
            parse_field(name)
        return inventory.nodes(query, chosen, scope)
    except (QueryError, InventoryUnavailable) as error:
        raise fail(str(error)) from None

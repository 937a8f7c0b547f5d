"""The inventory request of `p2.nodes`: agent -> master on `partout.inventory.<agent id>`,
answered into the agent's own inbox.

Not signed: only the agent itself may publish on its request subject (its NATS permissions
name it), so the subject is the proof of who asks, as for facts and reports."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from partout.inventory.results import DEFAULT_NODE_FIELDS
from partout.wire import WireMessage

MAX_INVENTORY_REQUEST_BYTES = 64 * 1024
MAX_QUERY_TEXT = 4096  # partout.inventory.parser.MAX_QUERY_LENGTH
MAX_FIELDS = 64

InventoryScopeName = Literal["environment", "all"]


class InventoryRequest(WireMessage):
    kind: ClassVar[str] = "inventory"

    query: str = Field(max_length=MAX_QUERY_TEXT)
    fields: tuple[str, ...] = Field(DEFAULT_NODE_FIELDS, max_length=MAX_FIELDS)
    scope: InventoryScopeName = Field("environment", description="The asker's environment, or every one "
                                      "(refused unless the master's inventory_scope is 'all').")
    compile_id: str = Field("", max_length=64, description="Random per compile: a newer one makes the "
                            "queries an older compile asked stale.")
    forget: bool = Field(False, description="The last compile asked nothing: forget what earlier ones asked "
                         "(the query is then ignored).")


class InventoryReply(WireMessage):
    kind: ClassVar[str] = "inventory-reply"

    ok: bool
    rows: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    error: str = ""


__all__ = [
    "DEFAULT_NODE_FIELDS", "MAX_INVENTORY_REQUEST_BYTES", "InventoryReply", "InventoryRequest", "InventoryScopeName",
]

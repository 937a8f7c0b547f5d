"""The collections and indexes of the ArangoDB store, created on start (idempotently).

Adding a kind of record is adding a `CollectionSpec` to COLLECTIONS (queries name it
as `@@name`; tests/master/test_store_arango_offline.py checks both agree) and a
methods module beside agents.py. Two rules keep the schema valid on a cluster too:

- uniqueness comes from `_key` only (a cluster refuses unique indexes that do not
  include the shard key), so natural keys become `_key` through `document_key`;
- a record's order of arrival comes from the "padded" key generator, whose keys
  ascend in text order (per coordinator on a cluster)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import arango.errno as errno
from arango.database import StandardDatabase
from arango.exceptions import ArangoError, ArangoServerError

from partout.master.store.base import StoreError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SCHEMA_DOCUMENT_KEY = "schema"


@dataclass(frozen=True)
class IndexSpec:
    """A persistent index; never unique (see the module docstring)."""

    name: str
    fields: tuple[str, ...]
    sparse: bool = False

    def definition(self) -> dict[str, Any]:
        """The body python-arango's `add_index` sends."""
        return {"type": "persistent", "name": self.name, "fields": list(self.fields), "unique": False,
                "sparse": self.sparse}


@dataclass(frozen=True)
class CollectionSpec:
    name: str
    key_generator: str = "traditional"
    indexes: tuple[IndexSpec, ...] = ()


AGENTS = CollectionSpec(
    "agents",
    indexes=(
        # agent_id is a UUID4 made by the master, so no unique index is needed for it
        IndexSpec("agents_agent_id", ("agent_id",), sparse=True),
        IndexSpec("agents_status_environment", ("status", "environment")),
        IndexSpec("agents_environment", ("environment",)),
        IndexSpec("agents_enrolled_at", ("enrolled_at",)),
    ),
)
REPORTS = CollectionSpec("reports", indexes=(
    IndexSpec("reports_agent_started", ("agent_id", "started_at", "received_at")),
    IndexSpec("reports_received", ("received_at",)),  # pruned by age
))
ENROLMENTS = CollectionSpec("enrolments", key_generator="padded")
POLICY_ERRORS = CollectionSpec(
    "policy_errors", key_generator="padded", indexes=(IndexSpec("policy_errors_environment", ("environment",)),)
)
POLICY_VERSIONS = CollectionSpec(
    "policy_versions", indexes=(IndexSpec("policy_versions_environment_sequence", ("environment", "sequence")),)
)
EVENTS = CollectionSpec("events", key_generator="padded", indexes=(
    IndexSpec("events_received", ("received_at",)),
    IndexSpec("events_agent_received", ("agent_id", "received_at")),
))
EVENT_ROLLUPS = CollectionSpec("event_rollups", indexes=(
    IndexSpec("event_rollups_granularity_start", ("granularity", "start")),
    IndexSpec("event_rollups_agent", ("agent_id",)),
))
EVENT_BATCHES = CollectionSpec("event_batches", indexes=(IndexSpec("event_batches_received", ("received_at",)),))
EVENT_STATE = CollectionSpec("event_state")
INVENTORY_DEPENDENCIES = CollectionSpec(
    "inventory_dependencies", indexes=(IndexSpec("inventory_dependencies_agent", ("agent_id", "query")),)
)
META = CollectionSpec("partout_meta")
# `_key` = document_key(public key): a key is registered once, ever; names are unique among
# those not removed (store/arango/integrations.py checks that under an exclusive lock)
INTEGRATIONS = CollectionSpec("integrations", indexes=(IndexSpec("integrations_name", ("name", "removed_at")),))
TRIGGERS = CollectionSpec("triggers", indexes=(IndexSpec("triggers_received", ("received_at",)),))

COLLECTIONS: tuple[CollectionSpec, ...] = (AGENTS, REPORTS, ENROLMENTS, POLICY_ERRORS, POLICY_VERSIONS, EVENTS,
                                           EVENT_ROLLUPS, EVENT_BATCHES, EVENT_STATE, META, INTEGRATIONS,
                                           INVENTORY_DEPENDENCIES, TRIGGERS)
COLLECTION_NAMES = frozenset(spec.name for spec in COLLECTIONS)


def document_key(*natural_key: str | int) -> str:
    """The `_key` for a record known by `natural_key` (a public key, a report id, an
    environment and sequence): hex sha256 of it, as any text may come from agents and
    `_key` allows only some characters and 254 bytes."""
    digest = hashlib.sha256()
    for part in natural_key:
        encoded = str(part).encode()
        digest.update(len(encoded).to_bytes(8, "big") + encoded)  # length-prefixed: no ambiguous joins
    return digest.hexdigest()


def _ensure_collection(database: StandardDatabase, spec: CollectionSpec) -> None:
    if not database.has_collection(spec.name):
        try:
            database.create_collection(spec.name, key_generator=spec.key_generator)
            log.info("created store collection", extra={"collection": spec.name})
        except ArangoServerError as exc:
            if exc.error_code != errno.DUPLICATE_NAME:  # else another master just made it
                raise
    collection = database.collection(spec.name)
    for index in spec.indexes:
        # The server returns the existing index when an identical one exists.
        try:
            collection.add_index(index.definition())
        except ArangoServerError as exc:
            raise StoreError(
                f"store collection {spec.name!r}: index {index.name!r} on {list(index.fields)} cannot be "
                f"created ({exc.error_message or exc}); an index of that name with another definition?"
            ) from exc


def ensure_schema(database: StandardDatabase, shown: str) -> None:
    """Create what is missing; refuse a database written by a newer Partout."""
    try:
        for spec in COLLECTIONS:
            _ensure_collection(database, spec)
        meta = database.collection(META.name)
        found = meta.get(SCHEMA_DOCUMENT_KEY)
        version = int(found["version"]) if isinstance(found, dict) else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"store {shown} has schema version {version}, newer than this Partout's {SCHEMA_VERSION}; "
                "upgrade Partout"
            )
        if version < SCHEMA_VERSION:
            # Migrations from `version` go here when SCHEMA_VERSION grows.
            meta.insert({"_key": SCHEMA_DOCUMENT_KEY, "version": SCHEMA_VERSION}, overwrite=True)
    except ArangoError as exc:
        raise StoreError(f"store {shown}: cannot create its collections and indexes: {exc}") from exc

"""What a query returns: matching nodes sorted deterministically, with the chosen fields,
plus warnings for the fields no node has (a typo answers nothing; it should say why).

`p2.nodes(query, fields=[...])` returns the same rows in the same order on every compile,
so that a policy built from them (an haproxy backend list) changes only when the data does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from partout.inventory.document import FACTS, read_field
from partout.inventory.evaluate import kind, matches
from partout.inventory.names import unknown_field_warning
from partout.inventory.parser import parse_field
from partout.inventory.query import Query
from partout.inventory.syntax import Field

DEFAULT_ORDER = ("hostname", "id")
# what `p2.nodes(query)` returns of each node when no fields are named: what identifies a
# node, nothing that changes on every contact (last_seen) or every run (facts)
DEFAULT_NODE_FIELDS = ("id", "hostname", "environment")
_RANK = {"null": 0, "boolean": 1, "number": 2, "string": 3, "array": 4, "object": 5, "other": 6}


@dataclass(frozen=True)
class Answer:
    """The rows of a query (each the chosen fields of one node, or the whole document)
    in a deterministic order, and why it may be emptier than expected."""

    rows: tuple[dict[str, Any], ...]
    warnings: tuple[str, ...] = ()


def json_order(value: Any) -> tuple[Any, ...]:
    """A total order over JSON values: null < booleans < numbers < strings < arrays <
    objects (as ArangoDB orders them); arrays and objects element by element."""
    rank = _RANK[kind(value)]
    if rank in (1, 2, 3):
        return (rank, value)
    if rank == 4:
        return (rank, tuple(json_order(item) for item in value))
    if rank == 5:
        return (rank, tuple((key, json_order(item)) for key, item in sorted(value.items())))
    if rank == 6:
        return (rank, json.dumps(value, sort_keys=True, default=str))
    return (rank,)


def sort_documents(documents: Iterable[Mapping[str, Any]], order_by: Sequence[str] = DEFAULT_ORDER) -> list[Mapping[str, Any]]:
    """Documents ordered by the named fields, then by id: the same set gives the same list."""
    keys = [parse_field(name) for name in order_by]
    identity = parse_field("id")

    def position(document: Mapping[str, Any]) -> tuple[Any, ...]:
        return (*(json_order(read_field(document, key)) for key in keys), json_order(read_field(document, identity)))

    return sorted(documents, key=position)


def select_fields(document: Mapping[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    """The chosen fields of one document, keyed as written (`{"os.family": "debian"}`);
    a field the node lacks is None. No fields: the whole document."""
    if fields is None:
        return dict(document)
    return {name: read_field(document, parse_field(name)) for name in fields}


def missing_fields(query: Query, documents: Sequence[Mapping[str, Any]]) -> list[str]:
    """A warning for each fact the query names that no document has (present, not null)."""
    warnings = []
    for field in query.fields:
        if field.source == "facts" and all(read_field(document, field) is None for document in documents):
            warnings.append(unknown_field_warning(field, _sibling_keys(field, documents)))
    return warnings


def _sibling_keys(field: Field, documents: Sequence[Mapping[str, Any]]) -> set[str]:
    parent = Field("facts", field.path[:-1])
    keys: set[str] = set()
    for document in documents:
        found = read_field(document, parent) if parent.path else document.get(FACTS)
        if isinstance(found, Mapping):
            keys.update(found)
    return keys


def answer(
    query: Query,
    documents: Iterable[Mapping[str, Any]],
    *,
    fields: Sequence[str] | None = None,
    order_by: Sequence[str] = DEFAULT_ORDER,
) -> Answer:
    """Evaluate `query` in Python over `documents` (the nodes in scope)."""
    for name in (*(fields or ()), *order_by):
        parse_field(name)  # a bad field name fails before any work, as a QueryError
    scope = list(documents)
    selected = sort_documents((document for document in scope if matches(query.condition, document)), order_by)
    rows = tuple(select_fields(document, fields) for document in selected)
    return Answer(rows, tuple(missing_fields(query, scope)))

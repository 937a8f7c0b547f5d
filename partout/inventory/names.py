"""How a name in a query resolves to a field, decided once at parse time.

1. `facts.` and `custom.` prefixes are explicit: `facts.os.family`, `custom.rack`
   (= `facts.custom.rack`).
2. A metadata name is the agent record's field: `id`, `hostname`, `environment` (or
   `env`), `status`, `last_seen`. A metadata field has no sub-keys.
3. A name whose first key is a built-in fact section (`os`, `cpus`, `memory`, `nics`,
   `packages` ...; the fields of partout.facts.model.Facts) reads the facts:
   `os.family` = `facts.os.family`.
4. Any other name is a custom fact (what `add_fact` and facts.d set): `role` =
   `facts.custom.role`.

The resolution is static, never per node: the same query means the same thing on every
node and in every store, and the stores can index the paths it names. Metadata wins
over facts of the same name (`hostname` is the record's; `facts.hostname` the fact).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence

from partout.facts.model import LAZY_SECTIONS, Facts
from partout.inventory.syntax import KEYWORDS, PLAIN_NAME, Field

# name in a query -> metadata field of the inventory document (see document.py)
METADATA_NAMES: dict[str, str] = {
    "id": "id",
    "hostname": "hostname",
    "environment": "environment",
    "env": "environment",
    "status": "status",
    "last_seen": "last_seen",
}
METADATA_FIELDS: tuple[str, ...] = tuple(dict.fromkeys(METADATA_NAMES.values()))
BUILTIN_FACTS: frozenset[str] = frozenset(Facts.model_fields) | frozenset(LAZY_SECTIONS)


# what a store's translation (SQL, AQL) may splice into query text: tables, columns, variables
_QUERY_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_identifiers(names: Iterable[str], what: str) -> None:
    """ValueError unless every name is a plain identifier (the translations splice them)."""
    for name in names:
        if not _QUERY_IDENTIFIER.fullmatch(name):
            raise ValueError(f"not a plain {what}: {name!r}")


def check_metadata_targets(metadata: Mapping[str, str], holder: str) -> None:
    """ValueError unless every metadata field has somewhere to be read from."""
    if missing := set(METADATA_FIELDS) - set(metadata):
        raise ValueError(f"no {holder} for metadata {', '.join(sorted(missing))}")


class NameResolutionError(ValueError):
    """A name that cannot resolve; the parser turns it into a QueryError at its column."""


def resolve(keys: Sequence[str], written: str = "") -> Field:
    """The field that `keys` (a name split at its dots) names; see the module docstring."""
    written = written or ".".join(keys)
    first, rest = keys[0], tuple(keys[1:])
    if first == "facts":
        if not rest:
            raise NameResolutionError("'facts' alone is every fact: name one, e.g. facts.os.family")
        return Field("facts", rest, written)
    if first == "custom":
        return Field("facts", ("custom", *rest), written)
    if first in METADATA_NAMES:
        if rest:
            raise NameResolutionError(f"{first!r} is a metadata field and has no sub-keys; for the fact, write facts.{written}")
        return Field("metadata", (METADATA_NAMES[first],), written)
    if first in BUILTIN_FACTS:
        return Field("facts", tuple(keys), written)
    return Field("facts", ("custom", *keys), written)


def shortest_name(field: Field) -> str:
    """The shortest spelling that resolves back to `field`: `role` for facts.custom.role."""
    canonical = field.canonical
    if field.source == "metadata":
        return canonical
    plain = all(PLAIN_NAME.fullmatch(key) and key not in KEYWORDS for key in field.path)
    if not plain:
        return canonical
    custom = field.path[0] == "custom" and len(field.path) > 1
    keys = field.path[1:] if custom else field.path
    bare = ".".join(keys)
    if keys[0] in METADATA_NAMES or keys[0] in {"facts", "custom"} or not (custom or keys[0] in BUILTIN_FACTS):
        return canonical
    if custom and keys[0] in BUILTIN_FACTS:
        return "custom." + bare
    return bare


def unknown_field_warning(field: Field, sibling_keys: Iterable[str]) -> str:
    """The warning for a field no node in scope has, with near names from its siblings."""
    text = f"no node has {shortest_name(field)!r}"
    if field.written and field.written != shortest_name(field):
        text = f"no node has {field.written!r} ({shortest_name(field)})"
    close = difflib.get_close_matches(field.path[-1], sorted(set(sibling_keys)), n=3)
    if close:
        near = [shortest_name(Field("facts", (*field.path[:-1], key))) for key in close]
        text += f"; did you mean {' or '.join(repr(name) for name in near)}?"
    return text

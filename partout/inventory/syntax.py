"""The query's syntax tree: small frozen dataclasses, evaluated and translated without eval.

A `Field` is already resolved (see names.py): it names either a metadata field of the
agent record or a path of keys inside its facts. Every other node is a condition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

# the spelling of an unquoted key; the grammar's NAME terminal uses the same pattern
PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# words the grammar reserves: a key spelt like one must be quoted (`custom."exists"`)
KEYWORDS = frozenset({"and", "or", "not", "in", "exists", "true", "false", "null"})

# JSON scalars: what a literal in a query may be
Scalar = str | int | float | bool | None
Source = Literal["metadata", "facts"]
Comparator = Literal["==", "!=", "<", "<=", ">", ">="]
ORDERING: tuple[Comparator, ...] = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class Field:
    """A metadata field (`path` is its one name) or a path of keys under the facts."""

    source: Source
    path: tuple[str, ...]
    # as the query spelt it, for messages; two spellings of one field are equal
    written: str = field(default="", compare=False)

    @property
    def canonical(self) -> str:
        """The name that always resolves back to this field (`facts.custom.role`, `hostname`)."""
        if self.source == "metadata":
            return self.path[0]
        return "facts" + "".join(f".{key}" if _plain(key) else f'."{key}"' for key in self.path)


def _plain(key: str) -> bool:
    return PLAIN_NAME.fullmatch(key) is not None and key not in KEYWORDS


@dataclass(frozen=True)
class Comparison:
    """`field <op> literal`: `==`/`!=` for any scalar, ordering for numbers and strings."""

    field: Field
    op: Comparator
    value: Scalar


@dataclass(frozen=True)
class Membership:
    """`field in [a, b]`: equal to one of the literals."""

    field: Field
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class RegexMatch:
    """`field =~ "pattern"`: a string the RE2 pattern finds a match in (search, not full match)."""

    field: Field
    pattern: str


@dataclass(frozen=True)
class Exists:
    """`exists(field)`: the field is present and not null."""

    field: Field


@dataclass(frozen=True)
class Truth:
    """A bare field as a condition (`decommissioned`): true when its value is JSON `true`."""

    field: Field


@dataclass(frozen=True)
class Constant:
    """`true` or `false` as a whole condition (`true` selects every node)."""

    value: bool


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class And:
    operands: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Condition, ...]


Leaf = Comparison | Membership | RegexMatch | Exists | Truth
Condition = Leaf | Constant | Not | And | Or


def children(condition: Condition) -> tuple[Condition, ...]:
    match condition:
        case Not(operand):
            return (operand,)
        case And(operands) | Or(operands):
            return operands
        case _:
            return ()


def walk(condition: Condition) -> Iterator[Condition]:
    """Every node, parents before children (iterative: trees are bounded, but cheaply so)."""
    stack = [condition]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(children(node)))


def fields_of(condition: Condition) -> tuple[Field, ...]:
    """The distinct fields a condition reads, in order of first appearance."""
    seen: dict[Field, None] = {}
    for node in walk(condition):
        if isinstance(node, Comparison | Membership | RegexMatch | Exists | Truth):
            seen.setdefault(node.field, None)
    return tuple(seen)

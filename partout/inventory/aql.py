"""Condition -> an ArangoDB AQL FILTER expression with bind variables only.

Every user value, and every attribute name (fact keys included), is a bind variable
(`@q0`, `@q1` ...), so the text is fixed by the tree's shape alone: nothing a query
says can change what the AQL means. The document variable and metadata attribute
names come from the store's code and are checked to be identifiers.

AQL already means what the Python evaluator does for `==` (strictly typed, `1 == 1.0`,
a missing attribute is null) and `IN`; ordering is guarded by IS_NUMBER / IS_STRING
because AQL orders across types (null < bool < number < string). Known differences,
which tests against a live ArangoDB must confirm: strings order by ArangoDB's ICU
collation, not code points, and REGEX_TEST's dialect is close to but not exactly RE2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from partout.inventory.names import METADATA_FIELDS, check_identifiers, check_metadata_targets
from partout.inventory.query import Query
from partout.inventory.syntax import (
    And,
    Comparison,
    Condition,
    Constant,
    Exists,
    Field,
    Membership,
    Not,
    Or,
    RegexMatch,
    Truth,
)


@dataclass(frozen=True)
class AqlNames:
    """The loop variable, the facts attribute and one attribute per metadata field."""

    variable: str = "node"
    facts: str = "facts"
    metadata: Mapping[str, str] = field(default_factory=lambda: {name: name for name in METADATA_FIELDS})
    prefix: str = "q"  # of the bind variables: keep it apart from the store's own

    def __post_init__(self) -> None:
        check_identifiers((self.variable, self.facts, self.prefix, *self.metadata.values()), "AQL name")
        check_metadata_targets(self.metadata, "attribute")


@dataclass(frozen=True)
class AqlFilter:
    """`FILTER <expression>` with its bind variables."""

    expression: str
    bind_vars: dict[str, Any]


class _Translator:
    def __init__(self, names: AqlNames) -> None:
        self._names = names
        self.bind_vars: dict[str, Any] = {}
        self._attributes: dict[str, str] = {}

    def bind(self, value: Any) -> str:
        name = f"{self._names.prefix}{len(self.bind_vars)}"
        self.bind_vars[name] = value
        return f"@{name}"

    def attribute(self, name: str) -> str:
        """An attribute name's bind variable, one per distinct name."""
        if name not in self._attributes:
            self._attributes[name] = self.bind(name)
        return self._attributes[name]

    def value(self, field: Field) -> str:
        if field.source == "metadata":
            return f"{self._names.variable}[{self.attribute(self._names.metadata[field.path[0]])}]"
        keys = [self.attribute(name) for name in (self._names.facts, *field.path)]
        return self._names.variable + "".join(f"[{key}]" for key in keys)

    def translate(self, condition: Condition) -> str:
        match condition:
            case Comparison(field, "==", value):
                return f"({self.value(field)} == {self.bind(value)})"
            case Comparison(field, "!=", value):
                return f"({self.value(field)} != {self.bind(value)})"
            case Comparison(field, op, value):
                guard = "IS_STRING" if isinstance(value, str) else "IS_NUMBER"
                found = self.value(field)
                return f"({guard}({found}) AND {found} {op} {self.bind(value)})"
            case Membership(field, values):
                return f"({self.value(field)} IN {self.bind(list(values))})"
            case RegexMatch(field, pattern):
                found = self.value(field)
                return f"(IS_STRING({found}) AND REGEX_TEST({found}, {self.bind(pattern)}))"
            case Exists(field):
                return f"({self.value(field)} != null)"
            case Truth(field):
                return f"({self.value(field)} == true)"
            case Constant(value):
                return "true" if value else "false"
            case Not(operand):
                return f"(NOT {self.translate(operand)})"
            case And(operands):
                return "(" + " AND ".join(self.translate(operand) for operand in operands) + ")"
            case Or(operands):
                return "(" + " OR ".join(self.translate(operand) for operand in operands) + ")"
        raise TypeError(f"not a condition: {condition!r}")


def to_aql(query: Query | Condition, names: AqlNames | None = None) -> AqlFilter:
    """The FILTER expression selecting exactly the documents `query` matches in Python."""
    condition = query.condition if isinstance(query, Query) else query
    translator = _Translator(names or AqlNames())
    return AqlFilter(translator.translate(condition), translator.bind_vars)

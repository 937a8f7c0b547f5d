"""The Python evaluator: a condition against one document, by structural match on the tree.

The semantics every translation (sql.py, aql.py) reproduces, and tests compare against:
- a missing field reads as null; `exists(f)` is true when it is present and not null;
- `==` is equality of JSON values of one kind: `1 == 1.0`, but `"1" != 1`, `true != 1`,
  and a list or object equals no literal; `!=` is exactly `not ==` (a missing field is
  `!= "web"`);
- `<`, `<=`, `>`, `>=` compare numbers with numbers and strings with strings (code point
  order); any other pair is false, so a missing field is neither `< 4` nor `>= 4`;
- `in [...]` is `==` to one of the items; `=~` is an RE2 search in a string (false for
  any other kind); a bare field is true only when its value is JSON `true`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from partout.inventory.document import read_field
from partout.inventory.patterns import compile_pattern
from partout.inventory.syntax import (
    And,
    Comparison,
    Condition,
    Constant,
    Exists,
    Membership,
    Not,
    Or,
    RegexMatch,
    Scalar,
    Truth,
)

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def kind(value: object) -> str:
    """The JSON kind of a value: null, boolean, number, string, array, object (or other)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "other"


def equal(value: object, literal: Scalar) -> bool:
    return kind(value) == kind(literal) and kind(value) in {"null", "boolean", "number", "string"} and value == literal


def matches(condition: Condition, document: Mapping[str, Any]) -> bool:
    """True when the document satisfies the condition."""
    match condition:
        case Comparison(field, "==", value):
            return equal(read_field(document, field), value)
        case Comparison(field, "!=", value):
            return not equal(read_field(document, field), value)
        case Comparison(field, op, value):
            found = read_field(document, field)
            comparable = kind(found) == kind(value) and kind(value) in {"number", "string"}
            return comparable and _ORDER[op](found, value)
        case Membership(field, values):
            found = read_field(document, field)
            return any(equal(found, value) for value in values)
        case RegexMatch(field, pattern):
            found = read_field(document, field)
            return isinstance(found, str) and compile_pattern(pattern).search(found)
        case Exists(field):
            return read_field(document, field) is not None
        case Truth(field):
            return read_field(document, field) is True
        case Constant(value):
            return value
        case Not(operand):
            return not matches(operand, document)
        case And(operands):
            return all(matches(operand, document) for operand in operands)
        case Or(operands):
            return any(matches(operand, document) for operand in operands)
    raise TypeError(f"not a condition: {condition!r}")

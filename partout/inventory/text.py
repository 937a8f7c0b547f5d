"""Syntax tree -> canonical query text: one spelling per tree, which parses back to it.

Used as the key under which the master records which agent depends on which query, and
in messages; `role == 'web'` and `custom.role=="web"` have one canonical text.
"""

from __future__ import annotations

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

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
# binding strength: a child that binds looser than its parent gets parentheses
_OR, _AND, _NOT, _ATOM = range(4)


def format_literal(value: Scalar) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + "".join(_escape(character) for character in value) + '"'


def _escape(character: str) -> str:
    if character in _ESCAPES:
        return _ESCAPES[character]
    if not character.isprintable() and ord(character) <= 0xFFFF:
        return f"\\u{ord(character):04x}"
    return character


def format_condition(condition: Condition) -> str:
    return _format(condition)[0]


def _format(condition: Condition) -> tuple[str, int]:
    match condition:
        case Comparison(field, op, value):
            return f"{field.canonical} {op} {format_literal(value)}", _ATOM
        case Membership(field, values):
            return f"{field.canonical} in [{', '.join(format_literal(value) for value in values)}]", _ATOM
        case RegexMatch(field, pattern):
            return f"{field.canonical} =~ {format_literal(pattern)}", _ATOM
        case Not(Membership(field, values)):
            return f"{field.canonical} not in [{', '.join(format_literal(value) for value in values)}]", _ATOM
        case Not(RegexMatch(field, pattern)):
            return f"{field.canonical} !~ {format_literal(pattern)}", _ATOM
        case Exists(field):
            return f"exists({field.canonical})", _ATOM
        case Truth(field):
            return field.canonical, _ATOM
        case Constant(value):
            return format_literal(value), _ATOM
        case Not(operand):
            return f"not {_child(operand, _NOT)}", _NOT
        case And(operands):
            return " and ".join(_child(operand, _AND + 1) for operand in operands), _AND
        case Or(operands):
            return " or ".join(_child(operand, _OR + 1) for operand in operands), _OR
    raise TypeError(f"not a condition: {condition!r}")


def _child(condition: Condition, strength: int) -> str:
    text, own = _format(condition)
    return text if own >= strength else f"({text})"

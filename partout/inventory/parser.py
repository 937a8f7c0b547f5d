"""Text -> syntax tree. Every failure is a QueryError pointing at the line and column.

Limits keep a hostile query cheap: its length, its nesting depth (checked without
recursion before the tree is transformed) and its number of conditions (each becomes a
few SQL bind parameters and a branch of the store's plan).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import cast

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from partout.inventory.errors import QueryError
from partout.inventory.grammar import GRAMMAR, TERMINAL_NAMES
from partout.inventory.names import NameResolutionError, resolve
from partout.inventory.patterns import PatternError, compile_pattern
from partout.inventory.syntax import (
    ORDERING,
    And,
    Comparator,
    Comparison,
    Condition,
    Constant,
    Exists,
    Field,
    Membership,
    Not,
    Or,
    RegexMatch,
    Scalar,
    Truth,
)

MAX_QUERY_LENGTH = 4096
MAX_DEPTH = 32
MAX_CONDITIONS = 256
# SQLite and ArangoDB keep integers in 64 bits
_INT64 = (-(2**63), 2**63 - 1)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}


@functools.cache
def _lark() -> Lark:
    return Lark(GRAMMAR, parser="lalr", start=["start", "path_only"], propagate_positions=True)


def parse_condition(text: str, max_length: int | None = MAX_QUERY_LENGTH) -> Condition:
    """The syntax tree of a whole query. `max_length=None` for a canonical text made
    from a parsed query (it may be longer than what was typed; the tree limits hold)."""
    tree = _parse(text, "start", max_length)
    _check_shape(tree, text)
    condition = _build(tree, text)
    assert not isinstance(condition, Field)
    return condition


def parse_field(text: str) -> Field:
    """One name (`os.family`, `custom."rack-id"`), resolved as in a query."""
    field = _build(_parse(text, "path_only", MAX_QUERY_LENGTH), text)
    assert isinstance(field, Field)
    return field


def _parse(text: str, start: str, max_length: int | None) -> Tree[Token]:
    if not isinstance(text, str):
        raise QueryError(f"a query is text, not {type(text).__name__}", query=repr(text)[:80])
    if max_length is not None and len(text) > max_length:
        raise QueryError(f"the query is {len(text)} characters long; the limit is {max_length}", query=text[:80])
    surrogate = next((index for index, character in enumerate(text) if 0xD800 <= ord(character) <= 0xDFFF), None)
    if surrogate is not None:  # not Unicode text: it cannot be stored, bound or sent
        line = text.count("\n", 0, surrogate) + 1
        column = surrogate - (text.rfind("\n", 0, surrogate) + 1) + 1
        raise QueryError("a lone surrogate is not a character", query=text, line=line, column=column)
    if not text.strip():
        raise QueryError("the query is empty; `true` selects every node", query=text, line=1, column=1)
    try:
        return _lark().parse(text, start=start)
    except UnexpectedInput as error:
        raise _syntax_error(error, text) from None


def _syntax_error(error: UnexpectedInput, text: str) -> QueryError:
    line, column = error.line, error.column
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream
        character = text[position] if position is not None and 0 <= position < len(text) else ""
        if character in {'"', "'"}:
            return QueryError(f"unterminated string: no closing {character} on this line", query=text, line=line,
                              column=column)
        found = f"character {character!r}" if character else "input"
        expected = error.allowed or set()
    elif isinstance(error, UnexpectedToken):
        token = error.token
        found = "end of the query" if token.type == "$END" else f"{token.value!r}"
        expected = error.expected
        if token.type == "$END" or line is None or line < 1:
            line, column = _end_position(text)
    else:
        found, expected = "input", set()
    if line is None or column is None or line < 1:
        line, column = _end_position(text)
    names = sorted({TERMINAL_NAMES.get(name, name) for name in _acceptable(error) or expected})
    hint = f"; expected {', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else (
        f"; expected {names[0]}" if names else "")
    return QueryError(f"unexpected {found}{hint}", query=text, line=line, column=column)


def _acceptable(error: UnexpectedInput) -> set[str]:
    """What the parser would take here: exact, unlike the lexer's guess in `expected`."""
    parser = getattr(error, "interactive_parser", None)
    if parser is None:
        return set()
    try:
        return set(parser.accepts())
    except UnexpectedInput:
        return set()


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _check_shape(tree: Tree[Token], text: str) -> None:
    """Depth and size, walked with a stack: the transformer below recurses."""
    conditions = 0
    stack: list[tuple[Tree[Token], int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        place = {"line": getattr(node.meta, "line", None), "column": getattr(node.meta, "column", None)}
        if depth > MAX_DEPTH:
            raise QueryError(f"the query nests deeper than {MAX_DEPTH} levels", query=text, **place)
        if node.data in {"comparison", "membership", "non_membership", "regex_match", "exists", "truth"}:
            conditions += 1
            if conditions > MAX_CONDITIONS:
                raise QueryError(f"the query has more than {MAX_CONDITIONS} conditions", query=text, **place)
            continue
        # reversed: the stack then pops in reading order, so a limit points at the first excess
        stack.extend(reversed([(child, depth + 1) for child in node.children if isinstance(child, Tree)]))


def _build(tree: Tree[Token], text: str) -> Condition | Field:
    try:
        result: Condition | Field = _ToSyntax(text).transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, QueryError):
            raise error.orig_exc from None
        raise
    return result


def _position(token: Token) -> dict[str, int | None]:
    return {"line": token.line, "column": token.column}


def decode_string(token: Token, text: str) -> str:
    """A quoted literal's value. `\\"`, `\\'`, `\\\\`, `\\n`, `\\t` and `\\uXXXX` are escapes;
    any other backslash stays as written, so `"^db-\\d+"` is the regex it looks like."""
    body, out, index = token.value[1:-1], [], 0
    while index < len(body):
        character = body[index]
        if character != "\\" or index + 1 == len(body):
            out.append(character)
            index += 1
            continue
        following = body[index + 1]
        if following in _ESCAPES:
            out.append(_ESCAPES[following])
            index += 2
        elif following == "u":
            digits = body[index + 2 : index + 6]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise QueryError("\\u needs four hex digits", query=text, **_position(token))
            code = int(digits, 16)
            if 0xD800 <= code <= 0xDFFF:
                raise QueryError("\\u names a surrogate, not a character", query=text, **_position(token))
            out.append(chr(code))
            index += 6
        else:
            out.append(character)
            index += 1
    return "".join(out)


def _number(token: Token, text: str) -> int | float:
    value: int | float
    if any(mark in token.value for mark in ".eE"):
        value = float(token.value)
        if not math.isfinite(value):
            raise QueryError(f"number {token.value} is out of range", query=text, **_position(token))
        return value
    value = int(token.value)
    if not _INT64[0] <= value <= _INT64[1]:
        raise QueryError(f"integer {token.value} does not fit in 64 bits", query=text, **_position(token))
    return value


class _ToSyntax(Transformer[Token, "Condition | Field"]):
    """Lark tree -> syntax tree; semantic checks raise QueryError at the token's column."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _error(self, reason: str, token: Token) -> QueryError:
        return QueryError(reason, query=self._text, **_position(token))

    def start(self, children: list[Condition]) -> Condition:
        return children[0]

    def path_only(self, children: list[Field]) -> Field:
        return children[0]

    def path(self, tokens: list[Token]) -> Field:
        keys = [decode_string(token, self._text) if token.type == "STRING" else str(token) for token in tokens]
        for key, token in zip(keys, tokens, strict=True):
            if not key or any(c in key for c in '"\\') or not key.isprintable():
                raise self._error('a quoted key must be non-empty printable text without " or \\', token)
        written = ".".join(str(token) for token in tokens)
        try:
            field = resolve(keys, written)
        except NameResolutionError as error:
            raise self._error(str(error), tokens[0]) from None
        return field

    def literal(self, tokens: list[Token]) -> tuple[Scalar, Token]:
        token = tokens[0]
        value: Scalar
        match token.type:
            case "STRING":
                value = decode_string(token, self._text)
            case "NUMBER":
                value = _number(token, self._text)
            case "TRUE" | "FALSE":
                value = token.type == "TRUE"
            case _:
                value = None
        return value, token

    def items(self, items: list[tuple[Scalar, Token] | None]) -> list[tuple[Scalar, Token]]:
        return [item for item in items if item is not None]

    def any_of(self, operands: Sequence[Condition]) -> Condition:
        return Or(_flatten(Or, operands))

    def all_of(self, operands: Sequence[Condition]) -> Condition:
        return And(_flatten(And, operands))

    def negation(self, operands: list[Condition]) -> Condition:
        return Not(operands[0])

    @v_args(inline=True)
    def comparison(self, field: Field, comparator: Token, literal: tuple[Scalar, Token]) -> Condition:
        value, token = literal
        op = cast(Comparator, comparator.value)
        if op in ORDERING and (value is None or isinstance(value, bool)):
            raise self._error(f"{op} compares numbers or strings, not {token.value}", token)
        return Comparison(field, op, value)

    @v_args(inline=True)
    def membership(self, field: Field, items: list[tuple[Scalar, Token]]) -> Condition:
        return Membership(field, tuple(value for value, _ in items))

    @v_args(inline=True)
    def non_membership(self, field: Field, items: list[tuple[Scalar, Token]]) -> Condition:
        return Not(self.membership(field, items))

    @v_args(inline=True)
    def regex_match(self, field: Field, matcher: Token, pattern: Token) -> Condition:
        source = decode_string(pattern, self._text)
        try:
            compile_pattern(source)
        except PatternError as error:
            raise self._error(str(error), pattern) from None
        match = RegexMatch(field, source)
        return match if matcher.value == "=~" else Not(match)

    @v_args(inline=True)
    def exists(self, field: Field) -> Condition:
        return Exists(field)

    @v_args(inline=True)
    def truth(self, field: Field) -> Condition:
        return Truth(field)

    @v_args(inline=True)
    def constant(self, token: Token) -> Condition:
        return Constant(token.type == "TRUE")


def _flatten(kind: type[And] | type[Or], operands: Sequence[Condition]) -> tuple[Condition, ...]:
    """`(a or b) or c` is one three-way `or`: one canonical tree per meaning of the grouping."""
    flat: list[Condition] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else (operand,))
    return tuple(flat)

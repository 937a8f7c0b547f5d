"""Condition -> an SQLite WHERE expression over a table with one JSON facts column.

User values reach SQLite only as bind parameters (`?`); the text holds column names
(from the store's code, checked to be identifiers), SQL keywords and JSON type names.
Facts are read with json_extract/json_type over a JSON path that is itself a parameter.
Every sub-expression is 0 or 1, never NULL, so that `not` keeps its two-valued meaning
(SQL's `NULL <> 'web'` is NULL; the query language's missing `!= "web"` is true).
`=~` uses the REGEXP operator, which `register_functions` binds to RE2 (patterns.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from partout.inventory.document import FACTS
from partout.inventory.names import METADATA_FIELDS, check_identifiers, check_metadata_targets, unknown_field_warning
from partout.inventory.parser import parse_field
from partout.inventory.patterns import compile_pattern
from partout.inventory.query import Query
from partout.inventory.results import DEFAULT_ORDER, Answer, select_fields, sort_documents
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
    Scalar,
    Truth,
)


@dataclass(frozen=True)
class SqlColumns:
    """Where the document's parts live in the table: the facts JSON column and one
    column per metadata field (text or NULL)."""

    facts: str = "facts"
    metadata: Mapping[str, str] = field(default_factory=lambda: {name: name for name in METADATA_FIELDS})

    def __post_init__(self) -> None:
        check_identifiers((self.facts, *self.metadata.values()), "column name")
        check_metadata_targets(self.metadata, "column")


@dataclass(frozen=True)
class SqlFilter:
    """A WHERE expression and its bind parameters, in order."""

    where: str
    parameters: tuple[Any, ...]


def json_path(keys: Sequence[str]) -> str:
    """SQLite's JSON path for keys, each quoted (the parser refuses keys with `"` or `\\`)."""
    return "$" + "".join(f'."{key}"' for key in keys)


class _Translator:
    def __init__(self, columns: SqlColumns) -> None:
        self._columns = columns
        self.parameters: list[Any] = []

    def bind(self, value: Any) -> str:
        self.parameters.append(value)
        return "?"

    # kinds of a field's value: SQL conditions, NULL-free when combined by _leaf
    def _column(self, field: Field) -> str:
        return f'"{self._columns.metadata[field.path[0]]}"'

    def _json_type(self, field: Field) -> str:
        return f'json_type("{self._columns.facts}", {self.bind(json_path(field.path))})'

    def value(self, field: Field) -> str:
        if field.source == "metadata":
            return self._column(field)
        return f'json_extract("{self._columns.facts}", {self.bind(json_path(field.path))})'

    def is_kind(self, field: Field, literal: Scalar) -> str:
        """The field holds a value of the literal's kind (for numbers and strings)."""
        if field.source == "metadata":
            sql_types = "'text'" if isinstance(literal, str) else "'integer', 'real'"
            return f"typeof({self._column(field)}) IN ({sql_types})"
        json_types = "'text'" if isinstance(literal, str) else "'integer', 'real'"
        return f"{self._json_type(field)} IN ({json_types})"

    def is_null(self, field: Field) -> str:
        if field.source == "metadata":
            return f"{self._column(field)} IS NULL"
        return f"IFNULL({self._json_type(field)}, 'null') = 'null'"

    def is_boolean(self, field: Field, value: bool) -> str:
        if field.source == "metadata":
            return "0"  # metadata columns hold text, never booleans
        return f"{self._json_type(field)} = '{'true' if value else 'false'}'"

    def equal(self, field: Field, literal: Scalar) -> str:
        if literal is None:
            return self.is_null(field)
        if isinstance(literal, bool):
            return self.is_boolean(field, literal)
        return f"{self.is_kind(field, literal)} AND {self.value(field)} = {self.bind(literal)}"

    def member(self, field: Field, values: tuple[Scalar, ...]) -> str:
        """One IN list per kind: a chain of one OR per item would reach SQLite's
        expression-depth limit (1000) on a long list."""
        strings = [value for value in values if isinstance(value, str)]
        numbers = [value for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
        constants = [value for value in dict.fromkeys(values) if value is None or isinstance(value, bool)]
        tests = [_leaf(self.equal(field, value)) for value in constants]
        for group, example in ((strings, ""), (numbers, 0)):
            if group:
                # parameters are positional: bind in the order the text reads
                is_kind, found = self.is_kind(field, example), self.value(field)
                items = ", ".join(self.bind(value) for value in group)
                tests.append(_leaf(f"{is_kind} AND {found} IN ({items})"))
        return "(" + " OR ".join(tests) + ")" if tests else "0"

    def translate(self, condition: Condition) -> str:
        match condition:
            case Comparison(field, "==", value):
                return _leaf(self.equal(field, value))
            case Comparison(field, "!=", value):
                return f"NOT {_leaf(self.equal(field, value))}"
            case Comparison(field, op, value):
                return _leaf(f"{self.is_kind(field, value)} AND {self.value(field)} {op} {self.bind(value)}")
            case Membership(field, values):
                return self.member(field, values)
            case RegexMatch(field, pattern):
                is_text = self.is_kind(field, "")
                return _leaf(f"{is_text} AND {self.value(field)} REGEXP {self.bind(pattern)}")
            case Exists(field):
                return f"NOT {_leaf(self.is_null(field))}"
            case Truth(field):
                return _leaf(self.is_boolean(field, True))
            case Constant(value):
                return "1" if value else "0"
            case Not(operand):
                return f"NOT {self.translate(operand)}"
            case And(operands):
                return "(" + " AND ".join(self.translate(operand) for operand in operands) + ")"
            case Or(operands):
                return "(" + " OR ".join(self.translate(operand) for operand in operands) + ")"
        raise TypeError(f"not a condition: {condition!r}")


def _leaf(sql: str) -> str:
    # CASE folds SQL's NULL (a missing fact) into 0: the leaf is exactly true or false
    return f"(CASE WHEN {sql} THEN 1 ELSE 0 END)"


def to_sql(query: Query | Condition, columns: SqlColumns | None = None) -> SqlFilter:
    """The WHERE expression selecting exactly the rows `query` matches in Python."""
    condition = query.condition if isinstance(query, Query) else query
    translator = _Translator(columns or SqlColumns())
    where = translator.translate(condition)
    return SqlFilter(where, tuple(translator.parameters))


def _regexp(pattern: str, value: object) -> bool:
    return isinstance(value, str) and compile_pattern(pattern).search(value)


def register_functions(connection: sqlite3.Connection) -> None:
    """Bind REGEXP to RE2 on this connection (deterministic: SQLite may cache results)."""
    connection.create_function("regexp", 2, _regexp, deterministic=True)


def missing_fields(
    connection: sqlite3.Connection,
    table: str,
    query: Query,
    columns: SqlColumns | None = None,
    scope: SqlFilter | None = None,
) -> list[str]:
    """A warning for each fact the query names that no row in scope has (present, not
    null), with near names from the same level: one probe per fact, which stops at the
    first row that has it."""
    check_identifiers((table,), "table name")
    columns = columns or SqlColumns()
    within = f" AND ({scope.where})" if scope else ""
    warnings = []
    for field in query.fields:
        if field.source != "facts":
            continue
        probe = f'SELECT 1 FROM "{table}" WHERE json_type("{columns.facts}", ?) NOT IN (\'null\'){within} LIMIT 1'
        scope_parameters = scope.parameters if scope else ()
        if connection.execute(probe, (json_path(field.path), *scope_parameters)).fetchone():
            continue
        # the scope is applied in a subquery: json_each's own columns (id, key, path ...)
        # would otherwise shadow the table's in the scope's expression
        siblings = (
            f'SELECT DISTINCT each.key FROM (SELECT "{columns.facts}" AS document FROM "{table}" '
            f"WHERE 1{within}) AS scoped, json_each(scoped.document, ?) AS each "
            "WHERE each.key IS NOT NULL LIMIT 1000"
        )
        rows = connection.execute(siblings, (*scope_parameters, json_path(field.path[:-1]))).fetchall()
        warnings.append(unknown_field_warning(field, [str(row[0]) for row in rows]))
    return warnings


def answer_from_table(
    connection: sqlite3.Connection,
    table: str,
    query: Query,
    *,
    columns: SqlColumns | None = None,
    scope: SqlFilter | None = None,
    fields: Sequence[str] | None = None,
    order_by: Sequence[str] = DEFAULT_ORDER,
) -> Answer:
    """The store's answer: SQLite filters the rows, Python orders them and picks the
    fields (the same helpers as the Python path, so both order alike)."""
    check_identifiers((table,), "table name")
    columns = columns or SqlColumns()
    for name in (*(fields or ()), *order_by):
        parse_field(name)  # a bad field name fails before any work, as a QueryError
    found = to_sql(query, columns)
    names = ", ".join(f'"{columns.metadata[name]}"' for name in METADATA_FIELDS)
    within = f" AND ({scope.where})" if scope else ""
    rows = connection.execute(
        f'SELECT {names}, "{columns.facts}" FROM "{table}" WHERE ({found.where}){within}',
        (*found.parameters, *(scope.parameters if scope else ())),
    ).fetchall()
    documents = [{**dict(zip(METADATA_FIELDS, row[:-1], strict=True)), FACTS: json.loads(row[-1])} for row in rows]
    ordered = sort_documents(documents, order_by)
    selected = tuple(select_fields(document, fields) for document in ordered)
    return Answer(selected, tuple(missing_fields(connection, table, query, columns, scope)))

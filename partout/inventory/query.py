"""A parsed query: its text, its syntax tree, the fields it reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from partout.inventory.evaluate import matches
from partout.inventory.parser import MAX_QUERY_LENGTH, parse_condition
from partout.inventory.syntax import Condition, Field, fields_of
from partout.inventory.text import format_condition


@dataclass(frozen=True)
class Query:
    """`Query.parse('role == "web"')`; raises QueryError with line and column."""

    text: str
    condition: Condition

    @classmethod
    def parse(cls, text: str, *, max_length: int | None = MAX_QUERY_LENGTH) -> Query:
        return cls(text, parse_condition(text, max_length))

    @cached_property
    def canonical(self) -> str:
        """One spelling per meaning: the key for recording who depends on this query.
        It may be longer than the text typed: parse it back with `max_length=None`."""
        return format_condition(self.condition)

    @cached_property
    def fields(self) -> tuple[Field, ...]:
        return fields_of(self.condition)

    def matches(self, document: Mapping[str, Any]) -> bool:
        return matches(self.condition, document)

    def __str__(self) -> str:
        return self.canonical

"""A parsed query: its text, its syntax tree, the fields it reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from partout.inventory.evaluate import matches
from partout.inventory.parser import parse_condition
from partout.inventory.syntax import Condition, Field, fields_of
from partout.inventory.text import format_condition


@dataclass(frozen=True)
class Query:
    """`Query.parse('role == "web"')`; raises QueryError with line and column."""

    text: str
    condition: Condition

    @classmethod
    def parse(cls, text: str) -> Query:
        return cls(text, parse_condition(text))

    @cached_property
    def canonical(self) -> str:
        """One spelling per meaning: the key for recording who depends on this query."""
        return format_condition(self.condition)

    @cached_property
    def fields(self) -> tuple[Field, ...]:
        return fields_of(self.condition)

    def matches(self, document: Mapping[str, Any]) -> bool:
        return matches(self.condition, document)

    def __str__(self) -> str:
        return self.canonical

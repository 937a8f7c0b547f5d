"""The one error the inventory query language raises: where in the query, and what."""

from __future__ import annotations

from partout.errors import PartoutError


class QueryError(PartoutError):
    """A query does not parse or asks for something the language cannot do.

    `line` and `column` are 1-based and point at the offending character; the message
    ends with the query's line and a caret under that column, so that a terminal shows
    the place at a glance.
    """

    def __init__(self, reason: str, *, query: str, line: int | None = None, column: int | None = None) -> None:
        self.reason = reason
        self.query = query
        self.line = line
        self.column = column
        super().__init__(_describe(reason, query, line, column))


def _describe(reason: str, query: str, line: int | None, column: int | None) -> str:
    if line is None or column is None:
        return f"query: {reason}"
    lines = query.split("\n") or [""]
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    # a tab would shift the caret: show tabs as one space in both lines
    shown = "".join(" " if character == "\t" or not character.isprintable() else character for character in text)
    caret = " " * (column - 1) + "^"
    return f"query, line {line}, column {column}: {reason}\n  {shown}\n  {caret}"

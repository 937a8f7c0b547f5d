"""The inventory query language: which nodes have these facts and metadata.

    from partout.inventory import Query, answer, to_sql, to_aql
    query = Query.parse('role == "web" and os.family in ["debian", "redhat"]')
    query.matches(document)                      # the Python evaluator (evaluate.py)
    answer(query, documents, fields=["hostname"])  # sorted rows + warnings (results.py)
    to_sql(query)                                # SQLite WHERE over a JSON facts column (sql.py)
    to_aql(query)                                # ArangoDB FILTER with bind variables (aql.py)

Pieces:
  grammar.py   the Lark grammar (LALR(1)) and names of its terminals for messages
  parser.py    text -> syntax tree, limits, QueryError with line, column and caret
  syntax.py    the syntax tree (frozen dataclasses)
  names.py     how names resolve: metadata, built-in facts, custom facts
  patterns.py  RE2 for `=~`: linear-time matching, bounded patterns
  document.py  the document a query reads about one node
  evaluate.py  the Python evaluator: the reference semantics
  text.py      syntax tree -> canonical text
  results.py   sorting, field selection, unknown-field warnings, answer()
  sql.py       SQLite translation, REGEXP, unknown-field warnings and answers from a table
  aql.py       AQL translation
"""

from __future__ import annotations

from partout.inventory.aql import AqlFilter, AqlNames, to_aql
from partout.inventory.document import node_document
from partout.inventory.errors import QueryError
from partout.inventory.parser import parse_field
from partout.inventory.query import Query
from partout.inventory.results import DEFAULT_NODE_FIELDS, Answer, answer, select_fields, sort_documents
from partout.inventory.sql import SqlColumns, SqlFilter, answer_from_table, missing_fields, register_functions, to_sql

__all__ = [
    "DEFAULT_NODE_FIELDS",
    "AqlFilter",
    "AqlNames",
    "Answer",
    "Query",
    "QueryError",
    "SqlColumns",
    "SqlFilter",
    "answer",
    "answer_from_table",
    "missing_fields",
    "node_document",
    "parse_field",
    "register_functions",
    "select_fields",
    "sort_documents",
    "to_aql",
    "to_sql",
]

"""AQL queries as static text with bind variables, and the one place that runs them.

Every query is a module-level `Query("...")` of constant text: values only ever reach
the server as bind variables (`@name`), collections as collection bind variables
(`@@agents`) filled from the schema. `bind_variables` refuses a call that leaves a
parameter unbound or binds one the query does not use, so a typo fails loudly."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import arango.errno as errno
from arango.cursor import Cursor
from arango.database import Database, StandardDatabase
from arango.exceptions import ArangoError, ArangoServerError

from partout.master.store.arango.schema import COLLECTION_NAMES
from partout.master.store.base import StoreError

# Queries hold no string literals (checked by the offline tests), so every "@" starts
# a bind parameter.
_PARAMETER = re.compile(r"(@@?)([A-Za-z_][A-Za-z0-9_]*)")

# Write-write conflicts (two masters updating one document) and the unique-key race of
# UPSERT are answered by running the query again, as ArangoDB's manual advises.
RETRIED_ERRORS = frozenset({errno.CONFLICT, errno.UNIQUE_CONSTRAINT_VIOLATED})
RETRIES = 5
# where filtered_rows puts an inventory query's FILTER
FILTER_PLACEHOLDER = "FILTER_BY_QUERY"
# LIMIT needs a count: "all the rest" is this many.
EVERYTHING = 2**53 - 1


@dataclass(frozen=True)
class Query:
    text: str

    @property
    def collections(self) -> frozenset[str]:
        return frozenset(name for at, name in _PARAMETER.findall(self.text) if at == "@@")

    @property
    def values(self) -> frozenset[str]:
        return frozenset(name for at, name in _PARAMETER.findall(self.text) if at == "@")


class QueryError(StoreError):
    """ArangoDB refused a query; `code` is its error number (arango.errno)."""

    def __init__(self, message: str, code: int | None) -> None:
        self.code = code
        super().__init__(message)


def bind_variables(query: Query, values: dict[str, Any]) -> dict[str, Any]:
    """The bind variables for `query`: `values` (exactly its parameters) and its collections."""
    missing, unused = query.values - values.keys(), values.keys() - query.values
    if missing or unused:
        raise TypeError(f"query binds {sorted(values)} but uses {sorted(query.values)}: {query.text!r}")
    unknown = query.collections - COLLECTION_NAMES
    if unknown:
        raise TypeError(f"query names collections {sorted(unknown)} that the schema lacks")
    return {**values, **{f"@{name}": name for name in query.collections}}


def limit_count(count: int) -> int:
    """A LIMIT count: negative means no limit, as in SQLite."""
    return EVERYTHING if count < 0 else count


class QueryRunner:
    """Runs queries on one database, one at a time: python-arango's HTTP session and
    cursors are not meant to be shared between threads, and the master calls the
    store from one actor anyway."""

    def __init__(self, database: StandardDatabase, shown: str) -> None:
        self._standard = database
        self._database: Database = database
        self._shown = shown
        # reentrant: a transaction holds it while its queries run
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self, write: tuple[str, ...]) -> Iterator[None]:
        """Run this thread's queries inside one stream transaction writing `write` (the
        collections): committed when the block ends, aborted when it raises."""
        with self._lock:
            try:
                transaction = self._standard.begin_transaction(write=list(write))
            except (ArangoError, OSError) as exc:
                raise QueryError(f"store {self._shown}: cannot begin a transaction: {exc}", None) from exc
            self._database = transaction
            try:
                yield
            except BaseException:
                try:
                    transaction.abort_transaction()
                except (ArangoError, OSError):
                    pass  # the server drops an unfinished transaction after its timeout anyway
                raise
            else:
                try:
                    transaction.commit_transaction()
                except (ArangoError, OSError) as exc:
                    raise QueryError(f"store {self._shown}: the transaction did not commit: {exc}", None) from exc
            finally:
                self._database = self._standard

    def rows(self, query: Query, *, retry_conflicts: bool = False, **values: Any) -> list[Any]:
        """All result rows of `query`; ArangoDB's errors become QueryError."""
        bind = bind_variables(query, values)
        for attempt in range(RETRIES):
            try:
                with self._lock:
                    cursor = self._database.aql.execute(query.text, bind_vars=bind, batch_size=1000)
                    if not isinstance(cursor, Cursor):  # only async/batch databases return jobs
                        raise StoreError(f"store {self._shown}: the query returned no cursor")
                    return list(cursor)
            except ArangoServerError as exc:
                if retry_conflicts and exc.error_code in RETRIED_ERRORS and attempt + 1 < RETRIES:
                    time.sleep(0.01 * 2**attempt)
                    continue
                raise QueryError(f"store {self._shown}: {exc.error_message or exc}", exc.error_code) from exc
            except (ArangoError, OSError) as exc:  # requests' errors are OSErrors
                raise QueryError(f"store {self._shown}: {type(exc).__name__}: {exc}", None) from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def filtered_rows(self, query: Query, condition: tuple[str, dict[str, Any]], **values: Any) -> list[Any]:
        """`rows` of a query whose one `FILTER_BY_QUERY` line becomes `FILTER <expression>`:
        `condition` is an inventory query's AQL (partout.inventory.aql), whose text holds only
        operators and its own bind variables (prefix `q`), its values all in the dict."""
        expression, bind_vars = condition
        if FILTER_PLACEHOLDER not in query.text or values.keys() & bind_vars.keys():
            raise TypeError(f"query cannot take a filter: {query.text!r}")
        # the one AQL text made at run time: the expression's shape from the query's syntax
        # tree, its values all bind variables (tests/inventory check the translation)
        spliced = dataclasses.replace(query, text=query.text.replace(FILTER_PLACEHOLDER, f"FILTER {expression}"))
        return self.rows(spliced, **values, **bind_vars)

    def first(self, query: Query, *, retry_conflicts: bool = False, **values: Any) -> Any:
        """The first row, or None."""
        found = self.rows(query, retry_conflicts=retry_conflicts, **values)
        return found[0] if found else None

    def insert_once(self, query: Query, **values: Any) -> bool:
        """Run an INSERT whose `_key` names the record: False when it was there already."""
        try:
            self.rows(query, **values)
        except QueryError as exc:
            if exc.code == errno.UNIQUE_CONSTRAINT_VIOLATED:
                return False
            raise
        return True

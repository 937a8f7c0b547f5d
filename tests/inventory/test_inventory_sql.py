"""The SQLite translation answers exactly what the Python evaluator answers, on real
SQLite tables of generated agents, for many random queries; user values are bound."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from query_generators import random_document, random_query

from partout.inventory import Query, SqlColumns, SqlFilter, answer, node_document, register_functions, to_sql
from partout.inventory.sql import answer_from_table, missing_fields

SEEDS = range(120)
TABLE = "agents"


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    database = sqlite3.connect(tmp_path / "inventory.db")
    register_functions(database)
    database.execute(
        f"CREATE TABLE {TABLE} (id TEXT PRIMARY KEY, hostname TEXT NOT NULL, environment TEXT, "
        "status TEXT NOT NULL, last_seen TEXT, facts TEXT NOT NULL)"
    )
    try:
        yield database
    finally:
        database.close()


def store(connection: sqlite3.Connection, documents: list[dict[str, Any]]) -> None:
    connection.execute(f"DELETE FROM {TABLE}")
    connection.executemany(
        f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?)",
        [
            (doc["id"], doc["hostname"], doc["environment"], doc["status"], doc["last_seen"], json.dumps(doc["facts"]))
            for doc in documents
        ],
    )


def sql_ids(connection: sqlite3.Connection, query: Query, scope: SqlFilter | None = None) -> set[str]:
    found = to_sql(query)
    where = f"({found.where}) AND ({scope.where})" if scope else found.where
    parameters = (*found.parameters, *(scope.parameters if scope else ()))
    return {row[0] for row in connection.execute(f"SELECT id FROM {TABLE} WHERE {where}", parameters)}


@pytest.mark.parametrize("seed", SEEDS)
def test_sql_and_python_select_the_same_agents(connection: sqlite3.Connection, seed: int) -> None:
    rng = random.Random(seed)
    documents = [random_document(rng, index) for index in range(40)]
    store(connection, documents)
    partial = 0
    for _ in range(40):
        query = Query.parse(random_query(rng))
        expected = {doc["id"] for doc in documents if query.matches(doc)}
        assert sql_ids(connection, query) == expected, query.text
        partial += 0 < len(expected) < len(documents)
    assert partial >= 4  # the generated queries split the fleet, not only all-or-nothing


@pytest.mark.parametrize("seed", range(20))
def test_sql_and_python_warn_about_the_same_unknown_facts(connection: sqlite3.Connection, seed: int) -> None:
    rng = random.Random(1000 + seed)
    documents = [random_document(rng, index) for index in range(rng.randrange(0, 6))]
    store(connection, documents)
    for _ in range(20):
        query = Query.parse(random_query(rng))
        python = answer(query, documents).warnings
        assert tuple(missing_fields(connection, TABLE, query)) == python, query.text


def test_a_canonical_query_selects_what_the_original_selects(connection: sqlite3.Connection) -> None:
    rng = random.Random(7)
    documents = [random_document(rng, index) for index in range(60)]
    store(connection, documents)
    for _ in range(200):
        query = Query.parse(random_query(rng))
        assert sql_ids(connection, Query.parse(query.canonical, max_length=None)) == sql_ids(connection, query), query.text


def test_a_scope_limits_the_answer_to_one_environment(connection: sqlite3.Connection) -> None:
    documents = [random_document(random.Random(3), index) for index in range(50)]
    store(connection, documents)
    scope = SqlFilter('"environment" = ?', ("prod",))
    query = Query.parse("true")
    assert sql_ids(connection, query, scope) == {doc["id"] for doc in documents if doc["environment"] == "prod"}


def test_an_unknown_fact_answers_nothing_and_warns_with_a_near_name(connection: sqlite3.Connection) -> None:
    store(connection, [random_document(random.Random(1), 0) | {"facts": {"custom": {"role": "web"}}}])
    query = Query.parse('rol == "web"')
    assert sql_ids(connection, query) == set()
    assert missing_fields(connection, TABLE, query) == ["no node has 'rol'; did you mean 'role'?"]


def test_the_warning_probe_respects_the_scope(connection: sqlite3.Connection) -> None:
    documents = [random_document(random.Random(2), index) for index in range(2)]
    documents[0].update(environment="prod", facts={"custom": {}})
    documents[1].update(environment="dev", facts={"custom": {"rack": "r1"}})
    store(connection, documents)
    query = Query.parse("exists(rack)")
    assert missing_fields(connection, TABLE, query, scope=SqlFilter('"environment" = ?', ("dev",))) == []
    assert missing_fields(connection, TABLE, query, scope=SqlFilter('"environment" = ?', ("prod",))) == [
        "no node has 'rack'"
    ]


def test_user_values_reach_sqlite_only_as_parameters() -> None:
    hostile = "x'; DROP TABLE agents; --"
    query = Query.parse(f'custom."{hostile}" == "{hostile}" or hostname =~ "{hostile}" or role in ["{hostile}", 1]')
    found = to_sql(query)
    assert hostile not in found.where and "DROP" not in found.where
    assert found.where.count("?") == len(found.parameters)
    assert hostile in found.parameters and '$."custom"."' + hostile + '"' in found.parameters


def test_user_values_never_appear_in_random_translations() -> None:
    rng = random.Random(11)
    for _ in range(500):
        found = to_sql(Query.parse(random_query(rng)))
        assert found.where.count("?") == len(found.parameters)
        # the text is made of columns, SQL words, JSON type names and the digits 0/1 only
        words = set(found.where.replace("(", " ").replace(")", " ").replace(",", " ").split())
        allowed = {
            "?", "AND", "OR", "NOT", "CASE", "WHEN", "THEN", "ELSE", "END", "IN", "IS", "NULL", "REGEXP", "IFNULL",
            "=", "<", "<=", ">", ">=", "1", "0", "'null'", "'text'", "'integer'", "'real'", "'true'", "'false'",
            "json_type", "json_extract", "typeof", '"facts"', '"id"', '"hostname"', '"environment"', '"status"',
            '"last_seen"',
        }
        extra = {word for word in words if not (word in allowed or word.startswith(('json_type', 'json_extract', 'typeof')))}
        assert not extra, found.where


def test_column_names_from_the_store_must_be_plain_identifiers() -> None:
    with pytest.raises(ValueError, match="plain column"):
        SqlColumns(facts='facts"; DROP TABLE x; --')


def test_the_master_store_table_answers_like_python(tmp_path: Path) -> None:
    # the master's real SQLite store: its agents table, written through its own API, and
    # documents built from its records as the store will build them
    from partout.master.store.sqlite import SqliteStore

    rng = random.Random(5)
    master_store = SqliteStore(tmp_path / "master.db")
    for index in range(30):
        generated = random_document(rng, index)
        record = master_store.upsert_pending(f"UKEY{index:04d}", generated["hostname"], generated["facts"])
        if index % 3:
            master_store.approve(record.key, rng.choice(["prod", "dev"]))
    documents = [
        node_document(id=record.public_key, hostname=record.hostname, environment=record.environment,
                      status=record.status.value, last_seen=record.last_seen, facts=record.facts)
        for record in master_store.agents()
    ]
    master_store.close()
    database = sqlite3.connect(tmp_path / "master.db")
    register_functions(database)
    columns = SqlColumns(metadata={"id": "public_key", "hostname": "hostname", "environment": "environment",
                                   "status": "status", "last_seen": "last_seen"})
    queries = [random_query(rng) for _ in range(300)] + [f'last_seen == "{documents[0]["last_seen"]}"']
    for text in queries:
        query = Query.parse(text)
        found = to_sql(query, columns)
        selected = {row[0] for row in database.execute(f"SELECT public_key FROM agents WHERE {found.where}",
                                                       found.parameters)}
        assert selected == {doc["id"] for doc in documents if query.matches(doc)}, query.text
    assert sum(query_selects_any(text, documents) for text in queries[-1:]) == 1
    database.close()


def query_selects_any(text: str, documents: list[dict[str, Any]]) -> bool:
    return any(Query.parse(text).matches(doc) for doc in documents)


@pytest.mark.parametrize("seed", range(10))
def test_the_table_answer_equals_the_python_answer(connection: sqlite3.Connection, seed: int) -> None:
    rng = random.Random(500 + seed)
    documents = [random_document(rng, index) for index in range(30)]
    store(connection, documents)
    scope = SqlFilter('"environment" = ?', ("prod",))
    in_scope = [doc for doc in documents if doc["environment"] == "prod"]
    for _ in range(30):
        query = Query.parse(random_query(rng))
        fields = rng.choice([None, ["hostname", "os.family"], ["id", "role", "custom.nested.deep"]])
        order_by = rng.choice([("hostname", "id"), ("cpus",), ("tags", "os")])
        expected = answer(query, in_scope, fields=fields, order_by=order_by)
        assert answer_from_table(connection, TABLE, query, scope=scope, fields=fields, order_by=order_by) == expected


def test_golden_sql_for_the_example_query() -> None:
    found = to_sql(Query.parse('role == "web" and cpus >= 4'))
    assert found.where == (
        "((CASE WHEN json_type(\"facts\", ?) IN ('text') AND json_extract(\"facts\", ?) = ? THEN 1 ELSE 0 END) AND "
        "(CASE WHEN json_type(\"facts\", ?) IN ('integer', 'real') AND json_extract(\"facts\", ?) >= ? "
        "THEN 1 ELSE 0 END))"
    )
    assert found.parameters == ('$."custom"."role"', '$."custom"."role"', "web", '$."cpus"', '$."cpus"', 4)

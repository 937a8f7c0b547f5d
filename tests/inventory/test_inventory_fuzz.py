"""Fuzzing the parser: random text and mutated valid queries either parse, or fail with
the documented QueryError (with a place when the text is a query at all); whatever
parses also evaluates, translates and runs in SQLite without any other error."""

from __future__ import annotations

import random
import sqlite3
import string

import pytest
from query_generators import random_document, random_query

from partout.inventory import Query, QueryError, answer, register_functions, to_aql, to_sql
from partout.inventory.parser import MAX_QUERY_LENGTH

ALPHABET = string.printable + "éß€\U0001f600\x00\u200b\ud800"
FRAGMENTS = ["==", "!=", "<", "<=", ">", ">=", "=~", "!~", "and", "or", "not", "in", "exists", "(", ")", "[", "]",
             ",", ".", '"', "'", "\\", "true", "false", "null", "-", "1e999", "0x10", "99999999999999999999", " "]


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 40)))
    return " ".join(rng.choice(FRAGMENTS + ["role", "os.family", "cpus", "4", '"web"']) for _ in range(rng.randrange(1, 12)))


def mutate(rng: random.Random, text: str) -> str:
    characters = list(text)
    for _ in range(rng.randrange(1, 4)):
        position = rng.randrange(len(characters) + 1)
        roll = rng.random()
        if roll < 0.4 and characters:
            del characters[min(position, len(characters) - 1)]
        elif roll < 0.8:
            characters.insert(position, rng.choice(ALPHABET + "()[]\"'.,=!~<>"))
        else:
            characters[position:position] = list(rng.choice(FRAGMENTS))
    return "".join(characters)


def exercise(text: str, connection: sqlite3.Connection, documents: list[dict[str, object]]) -> bool:
    """Parse, and when it parses use it every way; False when the text was refused."""
    try:
        query = Query.parse(text)
    except QueryError as error:
        assert error.reason and str(error).startswith("query")
        if error.line is not None:
            assert error.column is not None and error.column >= 1 and str(error).endswith("^")
        return False
    answer(query, documents, fields=["hostname", "os.family"])
    found = to_sql(query)
    connection.execute(f"SELECT count(*) FROM agents WHERE {found.where}", found.parameters).fetchone()
    to_aql(query)
    assert Query.parse(query.canonical, max_length=None).condition == query.condition
    return True


@pytest.fixture
def connection() -> sqlite3.Connection:
    database = sqlite3.connect(":memory:")
    register_functions(database)
    database.execute("CREATE TABLE agents (id TEXT, hostname TEXT, environment TEXT, status TEXT, "
                     "last_seen TEXT, facts TEXT)")
    database.execute("INSERT INTO agents VALUES ('a', 'web-1', 'prod', 'approved', NULL, "
                     "'{\"os\": {\"family\": \"debian\"}, \"custom\": {\"role\": \"web\"}}')")
    return database


@pytest.mark.parametrize("seed", range(10))
def test_random_text_parses_or_fails_with_a_query_error(seed: int, connection: sqlite3.Connection) -> None:
    rng = random.Random(seed)
    documents = [random_document(rng, index) for index in range(5)]
    outcomes = [exercise(random_text(rng), connection, documents) for _ in range(600)]
    assert not all(outcomes)


@pytest.mark.parametrize("seed", range(10))
def test_mutated_queries_parse_or_fail_with_a_query_error(seed: int, connection: sqlite3.Connection) -> None:
    rng = random.Random(100 + seed)
    documents = [random_document(rng, index) for index in range(5)]
    outcomes = [exercise(mutate(rng, random_query(rng)), connection, documents) for _ in range(600)]
    assert any(outcomes) and not all(outcomes)  # the fuzz reaches both sides


@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_QUERY_LENGTH // 2 - 1) + "a" + ")" * (MAX_QUERY_LENGTH // 2 - 1),
        "(" * MAX_QUERY_LENGTH,
        "not " * (MAX_QUERY_LENGTH // 4),
        "a in [" + "1," * (MAX_QUERY_LENGTH // 2 - 4) + "]",
        " or ".join(['hostname =~ "(a+)+$"'] * 200),
        "\x00",
        "\ud800 == 1",
        'x == "\ud800"',
    ],
    ids=["deep-parentheses", "unclosed", "nots", "long-list", "many-regexes", "nul", "surrogate-name", "surrogate-string"],
)
def test_pathological_queries_are_handled(text: str, connection: sqlite3.Connection) -> None:
    exercise(text, connection, [])


def test_a_catastrophic_regex_runs_in_linear_time_on_a_long_name(connection: sqlite3.Connection) -> None:
    # with Python's re this search takes exponential time (the suite's timeout would fail it)
    query = Query.parse('custom.role =~ "^(a+)+$"')
    document = {"facts": {"custom": {"role": "a" * 50_000 + "!"}}}
    assert not query.matches(document)

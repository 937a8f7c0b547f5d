"""The AQL translation: golden outputs, bind variables only, and (with a live ArangoDB
at PARTOUT_TEST_ARANGO_URL) the same answers as the Python evaluator."""

from __future__ import annotations

import os
import random
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from query_generators import random_document, random_query

from partout.inventory import AqlNames, Query, to_aql
from partout.inventory.syntax import ORDERING, Comparison, RegexMatch, walk

GOLDEN = [
    (
        'role == "web" and env == "prod"',
        "((node[@q0][@q1][@q2] == @q3) AND (node[@q4] == @q5))",
        {"q0": "facts", "q1": "custom", "q2": "role", "q3": "web", "q4": "environment", "q5": "prod"},
    ),
    (
        'os.family in ["debian", "redhat"]',
        "(node[@q0][@q1][@q2] IN @q3)",
        {"q0": "facts", "q1": "os", "q2": "family", "q3": ["debian", "redhat"]},
    ),
    ("cpus >= 4", "(IS_NUMBER(node[@q0][@q1]) AND node[@q0][@q1] >= @q2)", {"q0": "facts", "q1": "cpus", "q2": 4}),
    (
        'hostname =~ "^db-"',
        "(IS_STRING(node[@q0]) AND REGEX_TEST(node[@q0], @q1))",
        {"q0": "hostname", "q1": "^db-"},
    ),
    (
        "not decommissioned",
        "(NOT (node[@q0][@q1][@q2] == true))",
        {"q0": "facts", "q1": "custom", "q2": "decommissioned"},
    ),
    ("exists(custom.rack)", "(node[@q0][@q1][@q2] != null)", {"q0": "facts", "q1": "custom", "q2": "rack"}),
    ('status != "revoked" or true', "((node[@q0] != @q1) OR true)", {"q0": "status", "q1": "revoked"}),
]


@pytest.mark.parametrize(("text", "expression", "bind_vars"), GOLDEN)
def test_aql_golden_output(text: str, expression: str, bind_vars: dict[str, Any]) -> None:
    found = to_aql(Query.parse(text))
    assert (found.expression, found.bind_vars) == (expression, bind_vars)


def test_aql_names_the_store_chooses_are_used() -> None:
    names = AqlNames(variable="agent", facts="f", metadata={"id": "_key", "hostname": "host", "environment": "env",
                                                            "status": "state", "last_seen": "seen"}, prefix="inv")
    found = to_aql(Query.parse('id == "a1" and hostname == "h"'), names)
    assert found.expression == "((agent[@inv0] == @inv1) AND (agent[@inv2] == @inv3))"
    assert found.bind_vars == {"inv0": "_key", "inv1": "a1", "inv2": "host", "inv3": "h"}


def test_aql_names_must_be_plain_identifiers() -> None:
    with pytest.raises(ValueError, match="plain AQL name"):
        AqlNames(variable="node RETURN 1 //")


# the AQL text may hold only these, whatever the query says
_AQL_TOKEN = re.compile(r"@q\d+|\(|\)|\[|\]|,|==|!=|<=|>=|<|>|\b(?:node|AND|OR|NOT|IN|IS_NUMBER|IS_STRING|REGEX_TEST|true|false|null)\b")


def test_aql_holds_no_user_value_only_bind_variables() -> None:
    rng = random.Random(21)
    for _ in range(2000):
        query = Query.parse(random_query(rng))
        found = to_aql(query)
        leftover = _AQL_TOKEN.sub(" ", found.expression).split()
        assert leftover == [], (query.text, found.expression)
        used = set(re.findall(r"@(q\d+)", found.expression))
        assert used == set(found.bind_vars), query.text


def test_hostile_text_stays_in_bind_variables() -> None:
    hostile = "x' || 1 == 1 RETURN DOCUMENT('_users/root') //"
    found = to_aql(Query.parse(f'custom.a == {_quoted(hostile)} or custom.{_quoted(hostile)} =~ "a"'))
    assert hostile not in found.expression and "DOCUMENT" not in found.expression
    assert list(found.bind_vars.values()).count(hostile) == 2


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


ARANGO_URL = os.environ.get("PARTOUT_TEST_ARANGO_URL")


def _comparable_in_arango(query: Query) -> bool:
    """Leave out the documented differences: ICU string order and the regex dialect."""
    for node in walk(query.condition):
        if isinstance(node, RegexMatch):
            return False
        if isinstance(node, Comparison) and node.op in ORDERING and isinstance(node.value, str):
            return False
    return True


@pytest.mark.arango
@pytest.mark.skipif(not ARANGO_URL, reason="PARTOUT_TEST_ARANGO_URL is not set")
def test_aql_and_python_select_the_same_nodes_in_arangodb() -> None:
    from arango import ArangoClient

    location = urlsplit(str(ARANGO_URL))
    scheme = "https" if location.scheme.endswith("+https") else "http"
    client = ArangoClient(hosts=f"{scheme}://{location.hostname}:{location.port or 8529}")
    system = client.db("_system", username=location.username or "root", password=location.password or "")
    name = f"partout_test_{uuid.uuid4().hex[:12]}"
    system.create_database(name)
    try:
        database = client.db(name, username=location.username or "root", password=location.password or "")
        nodes = database.create_collection("nodes")
        rng = random.Random(31)
        documents = [random_document(rng, index) for index in range(40)]
        nodes.insert_many([document | {"_key": document["id"]} for document in documents])
        checked = 0
        for _ in range(400):
            query = Query.parse(random_query(rng))
            if not _comparable_in_arango(query):
                continue
            found = to_aql(query)
            cursor = database.aql.execute(
                f"FOR node IN nodes FILTER {found.expression} RETURN node.id", bind_vars=found.bind_vars
            )
            assert set(cursor) == {doc["id"] for doc in documents if query.matches(doc)}, query.text
            checked += 1
        assert checked > 100
    finally:
        system.delete_database(name)

"""Answers: deterministic order, chosen fields, and a warning (not a crash) for a fact
no node has."""

from __future__ import annotations

import random
from typing import Any

import pytest
from query_generators import random_document

from partout.inventory import Query, QueryError, answer, select_fields, sort_documents
from partout.inventory.results import json_order


def web(name: str, identity: str, **facts: Any) -> dict[str, Any]:
    return {"id": identity, "hostname": name, "environment": "prod", "status": "approved", "last_seen": None,
            "facts": {"os": {"family": "debian"}, "custom": {"role": "web", **facts}}}


FLEET = [web("web-2", "b"), web("web-1", "c", rack="r1"), web("web-1", "a"), web("db-1", "d") | {"facts": {}}]


def test_rows_are_sorted_by_hostname_then_id_whatever_the_input_order() -> None:
    query = Query.parse('role == "web"')
    expected = [{"hostname": "web-1", "id": "a"}, {"hostname": "web-1", "id": "c"}, {"hostname": "web-2", "id": "b"}]
    for seed in range(20):
        shuffled = FLEET[:]
        random.Random(seed).shuffle(shuffled)
        assert list(answer(query, shuffled, fields=["hostname", "id"]).rows) == expected


def test_fields_are_chosen_by_query_names_and_a_missing_one_is_none() -> None:
    rows = answer(Query.parse("exists(rack)"), FLEET, fields=["os.family", "hostname", "rack", "custom.nope"]).rows
    assert rows == ({"os.family": "debian", "hostname": "web-1", "rack": "r1", "custom.nope": None},)


def test_no_fields_gives_whole_documents() -> None:
    assert answer(Query.parse('id == "a"'), FLEET).rows == (FLEET[2],)


def test_a_bad_field_name_is_a_query_error_at_its_column() -> None:
    with pytest.raises(QueryError) as caught:
        answer(Query.parse("true"), FLEET, fields=["os..family"])
    assert caught.value.column == 4


def test_an_unknown_fact_answers_nothing_and_warns_with_a_near_name() -> None:
    result = answer(Query.parse('rol == "web" and os.familly == "debian"'), FLEET)
    assert result.rows == ()
    assert result.warnings == (
        "no node has 'rol'; did you mean 'role'?",
        "no node has 'os.familly'; did you mean 'os.family'?",
    )


def test_a_known_fact_gives_no_warning_even_when_nothing_matches() -> None:
    result = answer(Query.parse('role == "lb"'), FLEET)
    assert result.rows == () and result.warnings == ()


def test_metadata_never_warns() -> None:
    assert answer(Query.parse("exists(last_seen)"), FLEET).warnings == ()


def test_order_by_other_fields_breaks_ties_by_id() -> None:
    ordered = sort_documents(FLEET, order_by=["rack"])
    assert [document["id"] for document in ordered] == ["a", "b", "d", "c"]  # null racks first


def test_json_order_is_total_across_kinds() -> None:
    values: list[Any] = [{"b": 1}, [2], [1, "x"], "b", "a", 2.5, 2, False, True, None, {"a": [None]}]
    ordered = sorted(values, key=json_order)
    assert ordered == [None, False, True, 2, 2.5, "a", "b", [1, "x"], [2], {"a": [None]}, {"b": 1}]


def test_sorting_random_fleets_is_deterministic() -> None:
    rng = random.Random(9)
    documents = [random_document(rng, index) for index in range(50)]
    once = sort_documents(documents, order_by=["os.family", "cpus", "tags"])
    rng.shuffle(documents)
    assert sort_documents(documents, order_by=["os.family", "cpus", "tags"]) == once


def test_select_fields_reads_through_the_same_names_as_queries() -> None:
    assert select_fields(FLEET[1], ["env", "facts.custom.rack", 'custom."rack"']) == {
        "env": "prod", "facts.custom.rack": "r1", 'custom."rack"': "r1"}

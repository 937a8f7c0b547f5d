"""The reference semantics, one rule per test: what the Python evaluator answers for
each operator on present, missing, null and mistyped values (sql.py and aql.py follow)."""

from __future__ import annotations

from typing import Any

import pytest

from partout.inventory import Query, node_document


def node(**custom: Any) -> dict[str, Any]:
    return node_document(id="a1", hostname="db-1", environment="prod", status="approved",
                         last_seen="2025-01-31T12:00:00+00:00",
                         facts={"os": {"family": "debian"}, "cpus": 4, "custom": custom})


def selects(text: str, document: dict[str, Any]) -> bool:
    return Query.parse(text).matches(document)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('role == "web"', True),
        ('role == "Web"', False),
        ('role != "web"', False),
        ("cpus == 4.0", True),
        ('cpus == "4"', False),
        ("cpus >= 4 and cpus < 5", True),
        ('os.family in ["debian", "redhat"]', True),
        ('os.family not in ["debian", "redhat"]', False),
        ('hostname =~ "^db-"', True),
        ('hostname =~ "(?i)^DB-"', True),
        ('hostname !~ "^db-"', False),
        ('env == "prod" and status == "approved"', True),
        ('last_seen > "2025-01-31"', True),
        ('id == "a1"', True),
        ("exists(custom.role)", True),
        ("exists(rack)", False),
        ("not decommissioned", True),
        ("true", True),
        ("false", False),
    ],
)
def test_the_examples_of_the_language(text: str, expected: bool) -> None:
    assert selects(text, node(role="web")) is expected


def test_a_missing_fact_reads_as_null() -> None:
    assert selects("rack == null", node())
    assert not selects('rack == "r1"', node())
    assert selects('rack != "r1"', node())  # `!=` is exactly `not ==`


def test_a_missing_fact_is_neither_less_nor_more() -> None:
    assert not selects("rack < 4", node())
    assert not selects("rack >= 4", node())
    assert not selects('rack < "z"', node())


def test_exists_is_present_and_not_null() -> None:
    assert not selects("exists(rack)", node(rack=None))
    assert selects("exists(rack)", node(rack=""))
    assert selects("exists(rack)", node(rack=False))


def test_a_bare_fact_is_true_only_when_it_is_json_true() -> None:
    assert selects("decommissioned", node(decommissioned=True))
    for value in ("yes", 1, "true", [True], None):
        assert not selects("decommissioned", node(decommissioned=value)), value


def test_booleans_are_not_numbers() -> None:
    assert not selects("flag == 1", node(flag=True))
    assert not selects("flag >= 1", node(flag=True))
    assert not selects("count == true", node(count=1))
    assert selects("count in [true, 1]", node(count=1))


def test_ordering_compares_only_like_with_like() -> None:
    assert not selects('cpus < "5"', node())
    assert not selects("version < 13", node(version="12"))
    assert selects('version < "13"', node(version="12"))
    assert selects('version > "100"', node(version="12"))  # strings order by code point


def test_lists_and_objects_equal_no_literal() -> None:
    assert not selects('role == "web"', node(role=["web"]))
    assert not selects('role in ["web"]', node(role=["web"]))
    assert not selects('os == "debian"', node())
    assert selects('role != "web"', node(role=["web"]))


def test_a_path_through_a_scalar_reads_as_missing() -> None:
    assert selects("cpus.count == null", node())
    assert not selects("exists(os.family.name)", node())


def test_a_regex_matches_strings_only() -> None:
    assert not selects('cpus =~ "4"', node())
    assert selects('cpus !~ "4"', node())


def test_metadata_wins_over_a_fact_of_the_same_name() -> None:
    document = node()
    document["facts"]["hostname"] = "web-9"
    assert selects('hostname == "db-1"', document)
    assert selects('facts.hostname == "web-9"', document)


def test_a_custom_fact_named_like_a_built_in_section_is_reached_with_custom() -> None:
    document = node(os="custom-os")
    assert selects('custom.os == "custom-os"', document)
    assert selects('os.family == "debian"', document)


def test_not_and_or_combine_with_the_usual_precedence() -> None:
    document = node(role="web")
    assert selects('not role == "db" and cpus == 4', document)
    assert selects('role == "db" or role == "web" and cpus == 4', document)
    assert not selects('(role == "db" or role == "web") and cpus == 8', document)

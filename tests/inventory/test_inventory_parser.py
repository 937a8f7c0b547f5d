"""Parsing: the examples of the language give the trees they mean; mistakes give a
QueryError at the right line and column, with a caret line."""

from __future__ import annotations

import random

import pytest
from query_generators import NAMES, random_query

from partout.inventory import Query, QueryError, parse_field
from partout.inventory.names import shortest_name
from partout.inventory.parser import MAX_CONDITIONS, MAX_DEPTH, MAX_QUERY_LENGTH
from partout.inventory.syntax import (
    And,
    Comparison,
    Constant,
    Exists,
    Field,
    Membership,
    Not,
    Or,
    RegexMatch,
    Truth,
)

ROLE = Field("facts", ("custom", "role"))
ENVIRONMENT = Field("metadata", ("environment",))


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ('role == "web" and env == "prod"', And((Comparison(ROLE, "==", "web"), Comparison(ENVIRONMENT, "==", "prod")))),
        ("role == 'web'", Comparison(ROLE, "==", "web")),
        ('os.family in ["debian", "redhat"]', Membership(Field("facts", ("os", "family")), ("debian", "redhat"))),
        ("cpus >= 4", Comparison(Field("facts", ("cpus",)), ">=", 4)),
        ("memory < 2.5e9", Comparison(Field("facts", ("memory",)), "<", 2.5e9)),
        ('hostname =~ "^db-"', RegexMatch(Field("metadata", ("hostname",)), "^db-")),
        ('hostname !~ "^db-\\d+"', Not(RegexMatch(Field("metadata", ("hostname",)), "^db-\\d+"))),
        ("not decommissioned", Not(Truth(Field("facts", ("custom", "decommissioned"))))),
        ("exists(custom.rack)", Exists(Field("facts", ("custom", "rack")))),
        ("rack not in [1, null, true, 'r2',]", Not(Membership(Field("facts", ("custom", "rack")), (1, None, True, "r2")))),
        ("a or b and c", Or((Truth(Field("facts", ("custom", "a"))),
                             And((Truth(Field("facts", ("custom", "b"))), Truth(Field("facts", ("custom", "c")))))))),
        ("(a or b) or c", Or(tuple(Truth(Field("facts", ("custom", key)))for key in "abc"))),
        ("status != null", Comparison(Field("metadata", ("status",)), "!=", None)),
        ("true", Constant(True)),
        ('packages."libc6:amd64" == "2.36"', Comparison(Field("facts", ("packages", "libc6:amd64")), "==", "2.36")),
    ],
)
def test_a_query_parses_to_the_tree_it_means(text: str, tree: object) -> None:
    assert Query.parse(text).condition == tree


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("role", Field("facts", ("custom", "role"))),
        ("custom.role", Field("facts", ("custom", "role"))),
        ("facts.custom.role", Field("facts", ("custom", "role"))),
        ("os.family", Field("facts", ("os", "family"))),
        ("hostname", Field("metadata", ("hostname",))),
        ("facts.hostname", Field("facts", ("hostname",))),
        ("env", Field("metadata", ("environment",))),
        ("last_seen", Field("metadata", ("last_seen",))),
        ("id", Field("metadata", ("id",))),
        ("custom.os", Field("facts", ("custom", "os"))),
        ("rack-id", Field("facts", ("custom", "rack-id"))),
        ("android", Field("facts", ("custom", "android"))),  # starts like `and`, is a name
    ],
)
def test_names_resolve_metadata_first_then_built_in_facts_then_custom_facts(name: str, field: Field) -> None:
    assert parse_field(name) == field


@pytest.mark.parametrize(
    ("text", "line", "column", "reason"),
    [
        ("role ==", 1, 8, "unexpected end of the query; expected 'false', 'null', 'true', a number or a string"),
        ("role = 'web'", 1, 6, "unexpected character '='"),
        ('role == "web" andd x', 1, 15, "unexpected 'andd'; expected 'and', 'or' or the end of the query"),
        ("(role == 1", 1, 11, "expected ')'"),
        ("cpus < true", 1, 8, "< compares numbers or strings, not true"),
        ('hostname =~ "(a)\\1"', 1, 13, "bad regular expression: invalid escape sequence: \\1"),
        ('hostname =~ "(?=x)"', 1, 13, "bad regular expression"),
        ("status.code == 1", 1, 1, "'status' is a metadata field and has no sub-keys"),
        ("role == 'web'\n  and cpus >= \n  4 4", 3, 5, "unexpected '4'"),
        ("x == 99999999999999999999", 1, 6, "does not fit in 64 bits"),
        ("x == 1e999", 1, 6, "out of range"),
        ('x == "\\uZZZZ"', 1, 6, "\\u needs four hex digits"),
        ('custom."" == 1', 1, 8, "quoted key must be non-empty"),
        ("   ", 1, 1, "the query is empty"),
        ("facts == 1", 1, 1, "'facts' alone is every fact"),
        ("role == 'web", 1, 9, "unterminated string: no closing ' on this line"),
    ],
)
def test_a_bad_query_is_refused_at_its_line_and_column(text: str, line: int, column: int, reason: str) -> None:
    with pytest.raises(QueryError) as caught:
        Query.parse(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert reason in caught.value.reason
    shown_line, caret = str(caught.value).split("\n")[-2:]
    assert shown_line == "  " + text.split("\n")[line - 1]
    assert caret == "  " + " " * (column - 1) + "^"


def test_the_message_leads_with_the_place() -> None:
    with pytest.raises(QueryError, match=r"^query, line 1, column 6: unexpected character '='"):
        Query.parse("role = 'web'")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a" * (MAX_QUERY_LENGTH + 1), "characters long"),
        ("(" * (MAX_DEPTH + 5) + "a" + ")" * (MAX_DEPTH + 5), ""),
        ("not " * (MAX_DEPTH + 1) + "a", "nests deeper"),
        (" or ".join(["a and (b or not c)"] * (MAX_DEPTH + 1)), ""),
        (" or ".join(["a"] * (MAX_CONDITIONS + 1)), "more than 256 conditions"),
    ],
)
def test_limits_bound_a_hostile_query(text: str, reason: str) -> None:
    if not reason:  # deep parentheses around one name, or a long flat chain: allowed
        Query.parse(text)
        return
    with pytest.raises(QueryError, match=reason) as caught:
        Query.parse(text)
    if "conditions" in reason:  # the first condition past the limit
        assert caught.value.column == len(" or ".join(["a"] * MAX_CONDITIONS)) + len(" or ") + 1
    elif "nests" in reason:
        assert caught.value.column is not None


def test_a_query_that_is_not_text_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="a query is text"):
        Query.parse(42)  # type: ignore[arg-type]


def test_strings_keep_unknown_escapes_so_regexes_read_naturally() -> None:
    tree = Query.parse(r'hostname =~ "^db-\d+\.example\\." and x == "tab\there \"quoted\" \u00e9"').condition
    assert isinstance(tree, And)
    assert tree.operands[0] == RegexMatch(Field("metadata", ("hostname",)), r"^db-\d+\.example\.")
    assert tree.operands[1] == Comparison(Field("facts", ("custom", "x")), "==", 'tab\there "quoted" é')


def test_the_canonical_text_parses_back_to_the_same_tree() -> None:
    rng = random.Random(3)
    for _ in range(3000):
        query = Query.parse(random_query(rng))
        again = Query.parse(query.canonical, max_length=None)
        assert again.condition == query.condition, (query.text, query.canonical)
        assert again.canonical == query.canonical


def test_spellings_of_one_query_share_a_canonical_text() -> None:
    spellings = ["role == 'web' and cpus>=4", 'custom.role=="web" and facts.cpus >= 4', '(facts.custom.role == "web") and (cpus >= 4)']
    assert {Query.parse(text).canonical for text in spellings} == {'facts.custom.role == "web" and facts.cpus >= 4'}


@pytest.mark.parametrize("name", [*NAMES, "facts.foo", "facts.env", "custom", "custom.cpus", 'custom."in"', "facts.os"])
def test_the_shortest_name_and_the_canonical_name_resolve_back(name: str) -> None:
    field = parse_field(name)
    assert parse_field(shortest_name(field)) == field
    assert parse_field(field.canonical) == field
    assert len(shortest_name(field)) <= len(field.canonical)

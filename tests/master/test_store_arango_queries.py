"""The ArangoDB store's AQL and schema, checked statically (no server runs here).

These do not show that the queries run: only a server can (the contract tests, with
PARTOUT_TEST_ARANGO_URL). They show that every value reaches AQL as a bind variable,
that each call binds exactly the parameters its query uses, and that the queries
and the schema agree."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from partout.master.store.arango import aql
from partout.master.store.arango.aql import Query, bind_variables
from partout.master.store.arango.schema import COLLECTIONS, META

PACKAGE = Path(aql.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))
RUNNER_METHODS = {"rows", "first", "insert_once", "filtered_rows"}
RUNNER_OPTIONS = {"retry_conflicts"}
MODIFICATION = re.compile(r"\b(INSERT|UPDATE|REPLACE|REMOVE|UPSERT)\b")


def module_of(path: Path) -> Any:
    return importlib.import_module(f"partout.master.store.arango.{path.stem}")


def all_queries() -> dict[str, Query]:
    found: dict[str, Query] = {}
    for path in MODULES:
        for name, value in vars(module_of(path)).items():
            if isinstance(value, Query):
                found[f"{path.stem}.{name}"] = value
    return found


QUERIES = all_queries()


def test_the_package_has_the_queries_of_every_record_kind() -> None:
    assert {name.split(".")[0] for name in QUERIES} == {"agents", "reports", "enrolments", "policies", "integrations",
                                                         "events", "inventory", "triggers"}


def test_every_query_is_built_from_one_constant_string() -> None:
    """No f-string, concatenation, % or .format can put a value into AQL text."""
    calls = 0
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Query":
                calls += 1
                assert not node.keywords and len(node.args) == 1, f"{path.name}:{node.lineno}"
                argument = node.args[0]
                assert isinstance(argument, ast.Constant) and isinstance(argument.value, str), (
                    f"{path.name}:{node.lineno}: Query() takes a string literal, not {ast.dump(argument)[:60]}"
                )
    assert calls == len(QUERIES)


def test_only_the_runner_talks_to_aql() -> None:
    for path in MODULES:
        tree = ast.parse(path.read_text())
        uses = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "aql"]
        if path.name != "aql.py":
            assert uses == [], f"{path.name} lines {uses} use database.aql: go through QueryRunner"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_a_query_holds_no_literal_values_or_comments(name: str) -> None:
    text = QUERIES[name].text
    for forbidden in ("'", '"', "`", "//", "/*", "#", "{{", "}}"):
        assert forbidden not in text, f"{name} holds {forbidden!r}: values go in bind variables"
    assert not re.search(r"(?<![\w.])\d+(?![\w.])", text.replace("LIMIT 1\n", "")), f"{name} holds a number literal"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_a_query_has_balanced_brackets(name: str) -> None:
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for character in QUERIES[name].text:
        if character in "([{":
            stack.append(character)
        elif character in pairs:
            assert stack and stack.pop() == pairs[character], f"{name}: unbalanced {character!r}"
    assert not stack, f"{name}: unclosed {stack}"


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_a_query_never_reads_a_collection_after_modifying_it(name: str) -> None:
    """AQL refuses that ("access after data-modification"); PRUNE reads in a LET first."""
    text = QUERIES[name].text
    first_change = MODIFICATION.search(text)
    if first_change is None:
        return
    after = text[first_change.end():]
    for collection in QUERIES[name].collections:
        assert not re.search(rf"\bFOR\s+\w+\s+IN\s+@@{collection}\b", after), f"{name} reads {collection} after writing"


def runner_calls() -> list[tuple[str, int, str, set[str]]]:
    """(file, line, query constant, keyword names) for every QueryRunner call."""
    calls = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in RUNNER_METHODS and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "_aql"):
                assert isinstance(node.args[0], ast.Name), f"{path.name}:{node.lineno}: pass a Query constant"
                assert all(keyword.arg is not None for keyword in node.keywords), f"{path.name}:{node.lineno}: no **"
                names = {str(keyword.arg) for keyword in node.keywords} - RUNNER_OPTIONS
                calls.append((path.stem, node.lineno, node.args[0].id, names))
    return calls


def test_every_call_binds_exactly_the_parameters_its_query_uses() -> None:
    calls = runner_calls()
    assert {f"{module}.{query}" for module, _, query, _ in calls} == set(QUERIES), "a query is never run"
    for module, line, query, names in calls:
        used = QUERIES[f"{module}.{query}"].values
        assert names == used, f"{module}.py:{line} binds {sorted(names)} to {query}, which uses {sorted(used)}"


def test_queries_and_schema_name_the_same_collections() -> None:
    queried = set().union(*(query.collections for query in QUERIES.values()))
    assert queried == {spec.name for spec in COLLECTIONS} - {META.name}


def test_a_query_sorting_by_key_reads_a_collection_with_ascending_keys() -> None:
    """Newest-first logs rely on the padded key generator's ascending keys."""
    generators = {spec.name: spec.key_generator for spec in COLLECTIONS}
    for name, query in QUERIES.items():
        for variable, collection in re.findall(r"\bFOR\s+(\w+)\s+IN\s+@@(\w+)", query.text):
            if re.search(rf"\bSORT\s+{variable}\._key\b", query.text):
                assert generators[collection] == "padded", f"{name} sorts {collection} by _key"


def test_bind_variables_fill_collections_and_refuse_missing_or_unused_values() -> None:
    query = Query("FOR agent IN @@agents FILTER agent.status == @status RETURN agent")
    assert bind_variables(query, {"status": "pending"}) == {"status": "pending", "@agents": "agents"}
    with pytest.raises(TypeError, match="uses \\['status'\\]"):
        bind_variables(query, {})
    with pytest.raises(TypeError, match="binds \\['environment', 'status'\\]"):
        bind_variables(query, {"status": "pending", "environment": "production"})
    with pytest.raises(TypeError, match="collections \\['agnets'\\]"):
        bind_variables(Query("FOR agent IN @@agnets RETURN agent"), {})


def test_the_schema_is_valid_for_arangodb() -> None:
    names = [spec.name for spec in COLLECTIONS]
    assert len(set(names)) == len(names)
    for spec in COLLECTIONS:
        assert re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_-]{0,255}", spec.name), spec.name
        assert spec.key_generator in {"traditional", "padded"}
        index_names = [index.name for index in spec.indexes]
        assert len(set(index_names)) == len(index_names), spec.name
        for index in spec.indexes:
            definition = index.definition()
            # unique indexes on other attributes than the shard key are refused on a cluster
            assert definition["type"] == "persistent" and definition["unique"] is False
            assert definition["fields"] and all(not field.startswith("_") for field in definition["fields"])


def test_every_filtered_or_sorted_attribute_of_a_big_collection_is_indexed() -> None:
    """Agents and reports grow with the fleet: their queries must not scan. (Events filter by
    agent and time through indexes; module and status are narrowing filters on those.)"""
    for spec in COLLECTIONS:
        if spec.name not in {"agents", "reports", "policy_versions", "event_batches"}:
            continue
        leading = {index.fields[0] for index in spec.indexes} | {"_key"}
        for name, query in QUERIES.items():
            for variable, collection in re.findall(r"\bFOR\s+(\w+)\s+IN\s+@@(\w+)", query.text):
                if collection != spec.name:
                    continue
                filtered = re.findall(rf"FILTER\s+(?:@\w+\s*==\s*null\s+OR\s+)?{variable}\.(\w+)", query.text)
                for attribute in filtered:
                    assert attribute in leading, f"{name} filters {collection}.{attribute} without an index"

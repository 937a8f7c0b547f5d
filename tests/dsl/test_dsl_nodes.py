"""`p2.nodes(query, fields=[...])`: the inventory in a policy, from a local file (as under
`partout apply --inventory`), none (an error at the line), or the master's test compile (empty)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dsl_support import Compile

from partout.dsl.nodes import EmptyInventory, FileInventory, InventoryUnavailable, load_inventory_file
from partout.errors import PolicyError

NODES = [
    {"hostname": "web2", "environment": "prod", "facts": {"custom": {"role": "web", "port": 8080}}},
    {"hostname": "web1", "id": "w-1", "facts": {"custom": {"role": "web"}, "os": {"family": "debian"}}},
    {"hostname": "db1", "facts": {"custom": {"role": "db"}}},
]
# each backend becomes a probe named after it, so the catalog shows what p2.nodes returned
POLICY = """
for node in p2.nodes("role == 'web'", fields=["hostname", "port", "os.family"]):
    p2.probe(node["hostname"] + "/" + str(node["port"]) + "/" + str(node["os.family"]))
"""


def inventory_file(tmp_path: Path, name: str = "nodes.json", content: str | None = None) -> Path:
    path = tmp_path / name
    path.write_text(content if content is not None else json.dumps(NODES))
    return path


def titles(catalog: object) -> list[str]:
    return [resource.id for resource in catalog.resources]  # type: ignore[attr-defined]


def test_nodes_from_a_file_are_the_matching_nodes_sorted_with_their_fields(compile_text: Compile,
                                                                              tmp_path: Path) -> None:
    catalog = compile_text(POLICY, inventory=FileInventory(inventory_file(tmp_path)))
    assert titles(catalog) == ["probe:web1/None/debian", "probe:web2/8080/None"]


def test_yaml_inventory_files_and_default_fields(compile_text: Compile, tmp_path: Path) -> None:
    path = inventory_file(tmp_path, "nodes.yaml", "nodes:\n  - hostname: b\n    facts: {custom: {role: web}}\n"
                                                  "  - hostname: a\n    environment: prod\n")
    assert FileInventory(path).nodes("exists(hostname)", ("id", "hostname", "environment"), "environment") == [
        {"id": "a", "hostname": "a", "environment": "prod"}, {"id": "b", "hostname": "b", "environment": None}]
    catalog = compile_text('p2.probe([n["id"] + "@" + str(n["environment"]) for n in p2.nodes("exists(id)")])\n',
                           inventory=FileInventory(path))
    assert titles(catalog) == ["probe:a@prod", "probe:b@None"]


def test_without_an_inventory_p2_nodes_is_an_error_at_its_line(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a")\nweb = p2.nodes("role == \'web\'")\n')
    assert caught.value.line == 2 and str(caught.value.file) == str(tmp_path / "site.p2")
    assert "--inventory FILE" in str(caught.value)


def test_a_query_syntax_error_names_the_policy_line_and_the_column(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('\n\np2.nodes("role == = 1")\n', inventory=FileInventory(inventory_file(tmp_path)))
    assert caught.value.line == 3
    message = str(caught.value)
    assert "column 9" in message and message.splitlines()[-1].endswith("        ^")


@pytest.mark.parametrize(("call", "says"), [
    ("p2.nodes(42)", "the query is a string"),
    ("p2.nodes('exists(id)', fields='hostname')", "fields= takes a list"),
    ("p2.nodes('exists(id)', fields=['os..family'])", "query, line 1"),
    ("p2.nodes('exists(id)', scope='everything')", "scope= is 'environment' or 'all'"),
])
def test_bad_calls_are_policy_errors(compile_text: Compile, tmp_path: Path, call: str, says: str) -> None:
    with pytest.raises(PolicyError, match="p2.nodes") as caught:
        compile_text(call + "\n", inventory=FileInventory(inventory_file(tmp_path)))
    assert says in str(caught.value) and caught.value.line == 1


@pytest.mark.parametrize(("content", "says"), [
    ("{not json", "not valid json"),
    ('{"nodes": 3}', "expected a list of nodes"),
    ('[{"facts": {}}]', "node 1: each node is an object with a 'hostname'"),
    ('[{"hostname": "a", "role": "web"}]', "node 1 (a): unknown keys role; facts go under 'facts'"),
    ('[{"hostname": "a", "facts": []}]', "'facts' must be an object"),
])
def test_a_bad_inventory_file_is_named_in_the_error(tmp_path: Path, content: str, says: str) -> None:
    path = inventory_file(tmp_path, content=content)
    with pytest.raises(InventoryUnavailable) as caught:
        load_inventory_file(path)
    assert str(path) in str(caught.value) and says in str(caught.value)


def test_a_bad_inventory_file_fails_the_compile_at_the_p2_nodes_line(compile_text: Compile, tmp_path: Path) -> None:
    path = inventory_file(tmp_path, content="[1]")
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a")\np2.probe("b")\np2.nodes("exists(id)")\n', inventory=FileInventory(path))
    assert caught.value.line == 3 and str(path) in str(caught.value)


def test_the_masters_test_compile_answers_no_node_but_still_checks_the_query(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe("x", count=len(p2.nodes("role == \'web\'")))\n', inventory=EmptyInventory())
    assert [resource.options.count for resource in catalog.resources] == [0]
    with pytest.raises(PolicyError, match="column"):
        compile_text('p2.nodes("role ==")\n', inventory=EmptyInventory())

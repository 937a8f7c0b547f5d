"""`p2.on_trigger(name)`: what a block declares exists only in a compile its trigger fired,
with the trigger's data in scope; anywhere else the block declares nothing."""

from __future__ import annotations

import pytest
from dsl_support import Compile

from partout.dsl.triggers import Trigger, fired
from partout.errors import PolicyError

BLOCK = """
p2.probe("always")
with p2.on_trigger("deploy") as deploy:
    p2.probe("deploy-" + deploy.data.get("version", "latest") + "-by-" + (deploy.sender or "nobody"))
p2.on_trigger("restart", lambda t: p2.probe("restart-" + t.data["why"]))
"""


def ids(catalog: object) -> list[str]:
    return sorted(resource.id for resource in catalog.resources)  # type: ignore[attr-defined]


def test_without_a_fired_trigger_the_blocks_declare_nothing_and_handlers_are_not_called(
        compile_text: Compile) -> None:
    assert ids(compile_text(BLOCK)) == ["probe:always"]


def test_a_fired_trigger_activates_its_block_with_its_data_and_sender(compile_text: Compile) -> None:
    catalog = compile_text(BLOCK, triggers=(fired("deploy", {"version": "1.2"}, sender="ci"),))
    assert ids(catalog) == ["probe:always", "probe:deploy-1.2-by-ci"]


def test_a_fired_trigger_calls_its_handlers_with_the_trigger(compile_text: Compile) -> None:
    catalog = compile_text(BLOCK, triggers=(fired("restart", {"why": "openssl"}), fired("deploy")))
    assert ids(catalog) == ["probe:always", "probe:deploy-latest-by-nobody", "probe:restart-openssl"]


def test_trigger_blocks_nest_in_node_blocks_and_reset_watch(compile_text: Compile) -> None:
    text = """
with p2.watch():
    with p2.node(False):
        with p2.on_trigger("deploy"):
            p2.probe("never")
    with p2.on_trigger("deploy"):
        p2.probe("once")
"""
    catalog = compile_text(text, triggers=(fired("deploy"),))
    assert ids(catalog) == ["probe:once"]
    assert [resource.watch for resource in catalog.resources] == [False]


def test_the_trigger_is_falsy_and_its_data_empty_unless_fired(compile_text: Compile) -> None:
    text = """
with p2.on_trigger("deploy") as deploy:
    pass
p2.probe(f"{bool(deploy)}-{dict(deploy.data)}")
"""
    assert ids(compile_text(text)) == ["probe:False-{}"]
    assert ids(compile_text(text, triggers=(fired("deploy", {"a": 1}),))) == ["probe:True-{'a': 1}"]


def test_the_data_is_read_only_in_a_policy(compile_text: Compile) -> None:
    text = 'def change(t):\n    t.data["a"] = 2\np2.on_trigger("deploy", change)\n'
    with pytest.raises(PolicyError, match=r"site\.p2:2: TypeError"):
        compile_text(text, triggers=(fired("deploy", {"a": 1}),))


@pytest.mark.parametrize(("text", "message"), [
    ('p2.on_trigger("two words")\n', "a trigger name is 1-100 letters"),
    ("p2.on_trigger(3)\n", "a trigger name is 1-100 letters"),
    ('p2.on_trigger("x", "not callable")\n', "handlers are callables taking the trigger"),
])
def test_bad_calls_are_policy_errors_at_the_line(compile_text: Compile, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message) as raised:
        compile_text("\n" + text)
    assert raised.value.line == 2


def test_a_trigger_is_a_plain_value() -> None:
    assert not Trigger("x")
    assert fired("x", {"k": "v"}).data["k"] == "v"

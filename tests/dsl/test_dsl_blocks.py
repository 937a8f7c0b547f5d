"""Blocks: p2.node selection, p2.watch, and p2.on event handlers in their three forms."""

from __future__ import annotations

import pytest
from dsl_support import Compile

from partout.errors import PolicyError


def ids(catalog: object) -> list[str]:
    return [resource.id for resource in catalog.resources]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "selector, selected",
    [
        ("True", True),
        ("False", False),
        ("lambda f: f.os.family == 'debian'", True),
        ("lambda f: f.os.family == 'redhat'", False),
        ("'web[0-9]+'", True),
        ("'web'", False),  # a regex must match the whole hostname
        ("r'web1\\.example\\.com'", False),  # regexes see the hostname only
        ("['db1', 'web1']", True),
        ("['db1.example.com', 'web1.example.com']", True),  # dotted names are fqdns
        ("['web1.example.org']", False),
        ("['db1', 'db2']", False),
    ],
)
def test_node_selects_by_bool_callable_regex_or_hostname_list(
    compile_text: Compile, selector: str, selected: bool
) -> None:
    catalog = compile_text(f'p2.probe("everywhere")\nwith p2.node({selector}):\n    p2.probe("selected")\n')
    assert ids(catalog) == (["probe:everywhere", "probe:selected"] if selected else ["probe:everywhere"])


def test_node_blocks_nest_and_restore_the_outer_block(compile_text: Compile) -> None:
    catalog = compile_text(
        'with p2.node(True):\n'
        '    with p2.node(False):\n'
        '        p2.probe("inner-off")\n'
        '        with p2.node(True):\n'
        '            p2.probe("still-off")\n'
        '    p2.probe("outer-on")\n'
        'p2.probe("top")\n'
    )
    assert ids(catalog) == ["probe:outer-on", "probe:top"]


def test_a_block_that_does_not_select_this_node_still_checks_option_names(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:2: probe\(\"x\"\): unknown option 'mdoe'"):
        compile_text('with p2.node(False):\n    p2.probe("x", mdoe="0644")\n')


def test_a_block_that_does_not_select_this_node_does_not_resolve_or_decide_guards(compile_text: Compile) -> None:
    catalog = compile_text(
        'with p2.node(False):\n'
        '    p2.probe("x", fail="value", onlyif=lambda f: f.no_such_fact)\n'
    )
    assert ids(catalog) == []


def test_a_resource_may_repeat_in_blocks_for_different_nodes(compile_text: Compile) -> None:
    catalog = compile_text(
        'with p2.node(["web1"]):\n    p2.probe("x", count=1)\n'
        'with p2.node(["db1"]):\n    p2.probe("x", count=2)\n'
    )
    assert [resource.options.count for resource in catalog.resources] == [1]  # type: ignore[attr-defined]


def test_a_selector_of_the_wrong_type_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="site.p2:1: p2.node takes a bool, a callable on facts"):
        compile_text("with p2.node(42):\n    pass\n")


def test_a_selector_that_is_not_a_regex_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:1: p2.node\('web\['\): not a regular expression"):
        compile_text("with p2.node('web['):\n    pass\n")


def test_watch_block_sets_watch_on_its_resources_only(compile_text: Compile) -> None:
    catalog = compile_text(
        'with p2.watch():\n    p2.probe("a").probe("b", watch=False)\np2.probe("c")\n'
    )
    assert [resource.watch for resource in catalog.resources] == [True, False, False]


def test_on_block_declares_handlers_with_the_modules_first_action(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.probe("conf")\n'
        'with p2.on("probe:conf:changed"):\n'
        '    p2.probe("reload")\n'
        'p2.probe("after")\n'
    )
    handler = catalog.by_id()["probe:reload"]
    assert handler.refresh_only
    assert handler.on == {"probe:conf:changed": "refresh"}
    assert not catalog.by_id()["probe:after"].refresh_only


def test_on_handlers_of_a_module_without_actions_default_to_apply(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe("conf")\nwith p2.on("probe:conf:ok"):\n    p2.guarded("x")\n')
    assert catalog.by_id()["guarded:x"].on == {"probe:conf:ok": "apply"}


def test_on_takes_an_explicit_action(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe("conf")\np2.on("probe:conf:failed", p2.probe("x"), action="stop")\n')
    assert catalog.by_id()["probe:x"].on == {"probe:conf:failed": "stop"}


def test_on_turns_resources_declared_in_its_arguments_into_handlers(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.probe("conf")\n'
        'p2.on("probe:conf:changed", p2.probe("a").probe("b"), p2.guarded("c"))\n'
        'p2.probe("d")\n'
    )
    by_id = catalog.by_id()
    assert [by_id[name].refresh_only for name in ("probe:a", "probe:b", "guarded:c", "probe:d")] == [
        True, True, True, False,
    ]
    assert by_id["guarded:c"].on == {"probe:conf:changed": "apply"}
    assert ids(catalog) == ["probe:conf", "probe:a", "probe:b", "guarded:c", "probe:d"]


def test_on_runs_callables_as_handler_declarations(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.probe("conf")\n'
        'def handlers():\n'
        '    p2.probe("b")\n'
        'p2.on("probe:conf:changed", lambda: p2.probe("a"), handlers)\n'
        'p2.probe("c")\n'
    )
    by_id = catalog.by_id()
    assert by_id["probe:a"].refresh_only and by_id["probe:b"].refresh_only
    assert not by_id["probe:c"].refresh_only


def test_nested_on_blocks_listen_to_both_events(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.probe("one").probe("two")\n'
        'with p2.on("probe:one:changed"):\n'
        '    with p2.on("probe:two:changed", action="stop"):\n'
        '        p2.probe("x")\n'
    )
    assert catalog.by_id()["probe:x"].on == {"probe:one:changed": "refresh", "probe:two:changed": "stop"}


def test_on_with_a_malformed_event_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:1: p2.on: event 'probe:x' must be"):
        compile_text('with p2.on("probe:x"):\n    pass\n')


def test_on_with_an_action_the_handler_lacks_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:2: p2.on\('probe:a:changed'\): guarded\(\"x\"\): unknown action 'refresh'"):
        compile_text('p2.probe("a")\np2.on("probe:a:changed", p2.guarded("x"), action="refresh")\n')


def test_on_with_a_handler_that_is_not_a_directive_or_callable_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="p2.on handlers are directive calls or callables, not int"):
        compile_text('p2.probe("a")\np2.on("probe:a:changed", 3)\n')


def test_on_naming_an_undeclared_resource_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:3: probe\(\"x\"\): on names 'probe:nope', which is not declared for this node"):
        compile_text('p2.probe("a")\nwith p2.on("probe:nope:changed"):\n    p2.probe("x")\n')


def test_a_role_called_in_an_on_block_declares_handlers(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.role("pair", lambda p2, title: p2.probe(title + "1").guarded(title + "2"))\n'
        'p2.probe("conf")\n'
        'with p2.on("probe:conf:changed"):\n'
        '    p2.pair("h")\n'
        'p2.on("probe:conf:failed", p2.pair("f"))\n'
    )
    by_id = catalog.by_id()
    assert by_id["probe:h1"].on == {"probe:conf:changed": "refresh"}
    assert by_id["guarded:h2"].on == {"probe:conf:changed": "apply"}
    assert by_id["guarded:f2"].on == {"probe:conf:failed": "apply"} and by_id["guarded:f2"].refresh_only


def test_a_block_gives_back_the_builder(compile_text: Compile) -> None:
    catalog = compile_text('with p2.watch() as watched:\n    watched.probe("a")\n')
    assert catalog.resources[0].watch


def test_a_module_that_cannot_load_here_is_fine_in_a_block_for_other_nodes(compile_text: Compile) -> None:
    from partout.modules import registry

    registry.register("unloadable", "dsl_no_such_python_module")
    try:
        catalog = compile_text('with p2.node(False):\n    p2.unloadable("x")\np2.probe("a")\n')
        assert [resource.id for resource in catalog.resources] == ["probe:a"]
        with pytest.raises(PolicyError, match=r"site.p2:1: directive 'unloadable' cannot be loaded: ModuleNotFoundError"):
            compile_text('p2.unloadable("x")\n')
    finally:
        registry._MODULES.pop("unloadable", None)

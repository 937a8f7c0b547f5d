"""Directive calls: chaining, titles, option validation, meta-options, guards, resolve."""

from __future__ import annotations

from pathlib import Path

import pytest
from dsl_support import Compile

from partout.dsl.catalog import SourceLocation
from partout.dsl.compiler import compile_source
from partout.errors import PolicyError


def test_chained_directives_compile_in_declaration_order(compile_text: Compile, tmp_path: Path) -> None:
    catalog = compile_text('(p2\n  .probe("b", count=2)\n  .probe("a")\n  .guarded("c"))\n')
    assert [resource.id for resource in catalog.resources] == ["probe:b", "probe:a", "guarded:c"]
    assert catalog.policy == str(tmp_path / "site.p2")
    assert catalog.resources[0].options.count == 2  # type: ignore[attr-defined]


def test_each_resource_records_the_line_of_its_own_call_in_a_chain(compile_text: Compile, tmp_path: Path) -> None:
    catalog = compile_text('x = 1\n(p2\n  .probe("a")\n  .probe("b",\n         count=3)\n  .probe("c"))\n')
    policy = str(tmp_path / "site.p2")
    assert [resource.source for resource in catalog.resources] == [
        SourceLocation(file=policy, line=3), SourceLocation(file=policy, line=4), SourceLocation(file=policy, line=6),
    ]


def test_a_list_title_declares_one_resource_per_title(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe(["one", "two", "three"], mode="0644")')
    assert [resource.title for resource in catalog.resources] == ["one", "two", "three"]
    assert {resource.options.mode for resource in catalog.resources} == {"0644"}  # type: ignore[attr-defined]


def test_facts_are_in_scope_with_attribute_access(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe("family-" + facts.os.family)')
    assert catalog.resources[0].id == "probe:family-debian"


def test_the_title_fills_the_modules_title_field(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe("x")')
    assert catalog.resources[0].options.name == "x"  # type: ignore[attr-defined]


def test_resolve_runs_at_compile_time_with_facts_title_and_the_policy_directory(
    compile_text: Compile, tmp_path: Path
) -> None:
    options = compile_text('p2.probe("x")').resources[0].options
    assert options.greeting == "x@web1"  # type: ignore[attr-defined]
    assert options.resolved_in == str(tmp_path)  # type: ignore[attr-defined]


def test_meta_options_are_kept_on_the_resource_not_given_to_the_module(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.probe("a").probe("b", require="probe:a", before=["probe:c"], on={"probe:a:changed": "refresh"},\n'
        '    onlyif="test -e /etc/hosts", unless="false", watch=True, hidden=True)\n'
        'p2.probe("c")\n'
    )
    resource = catalog.by_id()["probe:b"]
    assert resource.require == ("probe:a",)
    assert resource.before == ("probe:c",)
    assert resource.on == {"probe:a:changed": "refresh"}
    assert (resource.onlyif, resource.unless) == ("test -e /etc/hosts", "false")
    assert resource.watch and resource.hidden and not resource.refresh_only


def test_require_accepts_what_a_directive_returned(compile_text: Compile) -> None:
    catalog = compile_text('base = p2.probe("a").probe("b")\np2.probe("c", require=base)\n')
    assert catalog.by_id()["probe:c"].require == ("probe:a", "probe:b")


def test_a_callable_guard_is_decided_on_the_facts_at_compile_time(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.probe("yes", onlyif=lambda f: f.os.family == "debian")\n'
        'p2.probe("no", unless=lambda f: f.cpus > 1)\n'
    )
    assert catalog.by_id()["probe:yes"].onlyif is True
    assert catalog.by_id()["probe:no"].unless is True


def test_a_module_that_declares_a_guard_option_receives_it(compile_text: Compile) -> None:
    resource = compile_text('p2.guarded("x", unless="test -e /x")').resources[0]
    assert resource.options.unless == "test -e /x"  # type: ignore[attr-defined]
    assert resource.unless is None


def test_an_unknown_directive_suggests_the_close_name(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a")\np2.prob("b")\n')
    assert str(caught.value) == f"{tmp_path / 'site.p2'}:2: unknown directive 'prob'; did you mean 'probe'?"
    assert (caught.value.file, caught.value.line) == (tmp_path / "site.p2", 2)


def test_an_unknown_option_suggests_the_close_option(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('\np2.probe("a", mdoe="0644")\n')
    assert str(caught.value) == f"{tmp_path / 'site.p2'}:2: probe(\"a\"): unknown option 'mdoe'; did you mean 'mode'?"


def test_a_misspelled_meta_option_suggests_it_too(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="unknown option 'requires'; did you mean 'require'"):
        compile_text('p2.probe("a", requires="probe:b")')


def test_a_bad_value_names_the_option_and_the_value(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a", mode="0999")')
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'site.p2'}:1: probe(\"a\"): option 'mode': ")
    assert "'0999'" in message


def test_a_wrong_type_names_the_option(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"probe\(\"a\"\): option 'count': .*'lots'"):
        compile_text('p2.probe("a", count="lots")')


def test_passing_the_title_field_again_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="the title already sets option 'name'"):
        compile_text('p2.probe("a", name="b")')


def test_a_title_that_is_not_a_string_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="the title must be a string"):
        compile_text("p2.probe(42)")


def test_a_bad_meta_option_value_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="require='nothing' must be a resource id"):
        compile_text('p2.probe("a", require="nothing")')
    with pytest.raises(PolicyError, match="watch= takes True or False"):
        compile_text('p2.probe("a", watch="yes")')
    with pytest.raises(PolicyError, match="must be 'module:title:changed'"):
        compile_text('p2.probe("a").probe("b", on={"probe:a:done": "refresh"})')
    with pytest.raises(PolicyError, match="onlyif= takes a shell command or a callable"):
        compile_text('p2.probe("a", onlyif=3)')


def test_an_action_the_module_does_not_have_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:2: probe\(\"b\"\): unknown action 'restart'.*'apply', 'refresh', 'stop'"):
        compile_text('p2.probe("a")\np2.probe("b", on={"probe:a:changed": "restart"})\n')


def test_apply_is_an_action_of_every_module(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe("a").guarded("b", on={"probe:a:changed": "apply"})')
    assert catalog.by_id()["guarded:b"].on == {"probe:a:changed": "apply"}


def test_a_value_error_in_resolve_is_reported_at_the_resource_line(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("ok")\np2.probe("a", fail="value")\n')
    assert str(caught.value) == f"{tmp_path / 'site.p2'}:2: probe(\"a\"): ValueError: the probe cannot resolve this"


def test_a_partout_error_in_resolve_is_reported_at_the_resource_line(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:1: probe\(\"a\"\): probe source 'missing.txt' not found$"):
        compile_text('p2.probe("a", fail="partout")')


def test_compile_source_compiles_text_as_if_it_were_the_named_file(tmp_path: Path, facts: object) -> None:
    catalog = compile_source('p2.probe("a")', filename=tmp_path / "inline.p2", facts=facts)
    assert catalog.policy == str(tmp_path / "inline.p2")
    assert catalog.resources[0].source == SourceLocation(file=str(tmp_path / "inline.p2"), line=1)


def test_facts_may_be_a_plain_dict_for_node_selection(tmp_path: Path) -> None:
    catalog = compile_source(
        'with p2.node("web.*"):\n    p2.probe("a", onlyif=lambda f: f["hostname"] == "web2")\n',
        filename=tmp_path / "site.p2", facts={"hostname": "web2"},
    )
    assert catalog.resources[0].onlyif is True


def test_a_directive_without_a_title_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r'site.p2:2: probe\(\) needs a title, e.g. p2.probe\("name", ...\)'):
        compile_text('p2.probe("a")\np2.probe(count=2)\n')

"""Whole-policy errors: each is a PolicyError naming file and line, and compiling touches nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from dsl_support import Compile
from helpers import snapshot

from partout.dsl.compiler import compile_policy, compile_source
from partout.errors import PolicyError


def test_a_duplicate_id_names_both_lines(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a")\np2.probe("b")\np2.probe("a", count=2)\n')
    site = tmp_path / "site.p2"
    assert str(caught.value) == f'{site}:3: probe("a"): probe:a is declared twice: first at {site}:1, again here'
    assert caught.value.line == 3


def test_a_duplicate_within_a_title_list_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="probe:a is declared twice"):
        compile_text('p2.probe(["a", "a"])\n')


def test_require_of_an_undeclared_id_is_an_error_with_a_suggestion(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("nginx")\np2.probe("site", require="probe:ngnix")\n')
    assert str(caught.value) == (
        f"{tmp_path / 'site.p2'}:2: probe(\"site\"): require names 'probe:ngnix', which is not declared "
        "for this node; did you mean 'probe:nginx'?"
    )


def test_before_of_an_undeclared_id_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:1: probe\(\"a\"\): before names 'guarded:zzz'"):
        compile_text('p2.probe("a", before="guarded:zzz")\n')


def test_a_reference_to_a_resource_of_another_node_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="require names 'probe:only-db'"):
        compile_text('with p2.node(["db1"]):\n    p2.probe("only-db")\np2.probe("x", require="probe:only-db")\n')


def test_a_dependency_cycle_names_every_resource_and_line(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text(
            'p2.probe("free")\n'
            'p2.probe("a", require="probe:c")\n'
            'p2.probe("b", require="probe:a")\n'
            'p2.probe("c", on={"probe:b:changed": "refresh"})\n'
        )
    site = tmp_path / "site.p2"
    assert str(caught.value) == (
        f"{site}:2: dependency cycle: probe:a ({site}:2) -> probe:c ({site}:4) -> probe:b ({site}:3) -> probe:a "
        "(each waits for the next through require/before/on); remove one of these links"
    )


def test_a_cycle_through_before_is_found(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="dependency cycle: probe:a .* -> probe:b .* -> probe:a"):
        compile_text('p2.probe("a", before="probe:b")\np2.probe("b", before="probe:a")\n')


def test_a_resource_requiring_itself_is_a_cycle(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:1: dependency cycle: probe:a \(.*site.p2:1\) -> probe:a"):
        compile_text('p2.probe("a", require="probe:a")\n')


def test_a_long_acyclic_chain_compiles(compile_text: Compile) -> None:
    text = 'p2.probe("r0")\n' + "".join(f'p2.probe("r{i}", require="probe:r{i - 1}")\n' for i in range(1, 3000))
    assert len(compile_text(text).resources) == 3000


def test_a_syntax_error_names_the_file_and_line(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a")\np2.probe("b"\n\nx = 1\n')
    assert caught.value.file == tmp_path / "site.p2"
    assert caught.value.line == 2
    assert "syntax error" in str(caught.value)


def test_a_python_exception_names_the_policy_line_not_a_traceback(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a")\nvalue = {}["missing"]\n')
    assert str(caught.value) == f"{tmp_path / 'site.p2'}:2: KeyError: 'missing'"


def test_an_exception_in_a_policy_function_names_its_line_and_the_caller(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text("def helper():\n    return 1 / 0\n\nhelper()\n")
    site = tmp_path / "site.p2"
    assert str(caught.value) == f"{site}:2: ZeroDivisionError: division by zero (called from {site}:4)"


def test_an_exception_in_a_node_selector_names_the_selector_line(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:2: AttributeError: .*'no_such_fact'"):
        compile_text("\nwith p2.node(lambda f: f.no_such_fact):\n    pass\n")


def test_a_policy_calling_exit_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:1: the policy called exit\(\)"):
        compile_text("raise SystemExit(0)\n")


def test_a_missing_policy_file_is_an_error(tmp_path: Path, facts: object) -> None:
    missing = tmp_path / "nope.p2"
    with pytest.raises(PolicyError) as caught:
        compile_policy(missing, facts)
    assert str(caught.value) == f"{missing}: policy file {missing} does not exist"


def test_a_directory_as_policy_is_an_error(tmp_path: Path, facts: object) -> None:
    with pytest.raises(PolicyError, match="is a directory"):
        compile_policy(tmp_path, facts)


def test_an_unknown_private_attribute_is_an_attribute_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match=r"site.p2:1: AttributeError: _secret"):
        compile_text("p2._secret\n")


def test_compiling_has_no_side_effects_even_when_it_fails(tmp_path: Path, facts: object) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "roles" / "pair.p2").write_text('p2.probe(title).probe(title + "2")\n')
    (tmp_path / "lib.p2").write_text('p2.pair("p")\n')
    policy = tmp_path / "site.p2"
    policy.write_text('p2.include("lib.p2")\np2.probe("x", require="probe:p2")\n')
    before = snapshot(tmp_path)
    assert len(compile_policy(policy, facts).resources) == 3
    policy.write_text('p2.include("lib.p2")\np2.probe("x", mdoe="1")\n')
    before = snapshot(tmp_path)
    with pytest.raises(PolicyError):
        compile_policy(policy, facts)
    assert snapshot(tmp_path) == before  # no .pyc, no cache, nothing written


def test_two_compiles_do_not_share_roles_or_includes(tmp_path: Path, facts: object) -> None:
    compile_source('p2.role("r", lambda p2, title: p2.probe(title))\np2.r("x")\n', filename=tmp_path / "a.p2", facts=facts)
    with pytest.raises(PolicyError, match="unknown directive 'r'"):
        compile_source('p2.r("x")\n', filename=tmp_path / "b.p2", facts=facts)


def test_an_exception_in_a_guard_callable_names_the_line_once(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a")\np2.probe("b", onlyif=lambda f: f.no_such_fact)\n')
    assert str(caught.value) == (
        f"{tmp_path / 'site.p2'}:2: AttributeError: 'types.SimpleNamespace' object has no attribute 'no_such_fact'"
    )

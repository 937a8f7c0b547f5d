"""p2.include, roles defined with p2.role, and role files found in roles folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from dsl_support import Compile

from partout.dsl.catalog import SourceLocation
from partout.dsl.compiler import compile_policy
from partout.errors import PolicyError
import partout.roles
from partout.roles import BUILTIN_ROLES_DIR


def test_include_runs_a_file_relative_to_the_including_file(compile_text: Compile, tmp_path: Path) -> None:
    catalog = compile_text(
        'p2.probe("first")\np2.include("lib/web.p2")\np2.probe("last")\n',
        files={"lib/web.p2": 'p2.include("more.p2")\np2.probe("web")\n', "lib/more.p2": 'p2.probe("more")\n'},
    )
    assert [resource.id for resource in catalog.resources] == ["probe:first", "probe:more", "probe:web", "probe:last"]
    assert catalog.by_id()["probe:web"].source == SourceLocation(file=str(tmp_path / "lib" / "web.p2"), line=2)
    # resolve sees the directory of the file that declared the resource
    assert catalog.by_id()["probe:more"].options.resolved_in == str(tmp_path / "lib")  # type: ignore[attr-defined]


def test_a_file_included_twice_runs_once(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.include("a.p2")\np2.include("b.p2")\n',
        files={"a.p2": 'p2.include("common.p2")\n', "b.p2": 'p2.include("common.p2")\n', "common.p2": 'p2.probe("c")\n'},
    )
    assert [resource.id for resource in catalog.resources] == ["probe:c"]


def test_include_inside_a_node_block_inherits_the_block(compile_text: Compile) -> None:
    catalog = compile_text(
        'with p2.node(False):\n    p2.include("a.p2")\nwith p2.watch():\n    p2.include("a.p2")\n',
        files={"a.p2": 'p2.probe("a")\n'},
    )
    assert [(resource.id, resource.watch) for resource in catalog.resources] == [("probe:a", True)]


def test_an_include_cycle_is_an_error(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.include("a.p2")\n', files={"a.p2": '\np2.include("site.p2")\n'})
    site, included = tmp_path / "site.p2", tmp_path / "a.p2"
    assert str(caught.value) == f"{included}:2: include cycle: {site} -> {included} -> {site}"


def test_a_missing_include_is_an_error_at_the_include_line(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.probe("a")\np2.include("nope.p2")\n')
    assert str(caught.value) == f"{tmp_path / 'site.p2'}:2: included file {tmp_path / 'nope.p2'} does not exist"


def test_a_syntax_error_in_an_included_file_names_that_file_and_the_include(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('\n\np2.include("bad.p2")\n', files={"bad.p2": 'p2.probe("a")\np2.probe("b"\n'})
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'bad.p2'}:2: syntax error: ")
    assert message.endswith(f"(included from {tmp_path / 'site.p2'}:3)")


def test_an_exception_in_an_included_file_names_its_line_and_the_include(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.include("bad.p2")\n', files={"bad.p2": 'p2.probe("a")\n\nundefined_name\n'})
    assert str(caught.value) == (
        f"{tmp_path / 'bad.p2'}:3: NameError: name 'undefined_name' is not defined "
        f"(called from {tmp_path / 'site.p2'}:1)"
    )


def test_a_role_defined_in_the_policy_is_a_new_directive(compile_text: Compile, tmp_path: Path) -> None:
    catalog = compile_text(
        'def site(p2, title, count=1):\n'
        '    p2.probe(title + "-a", count=count)\n'
        '    p2.probe(title + "-b", require=f"probe:{title}-a")\n'
        'p2.role("site", site)\n'
        'p2.site(["x", "y"], count=3).probe("after")\n'
    )
    assert [resource.id for resource in catalog.resources] == [
        "probe:x-a", "probe:x-b", "probe:y-a", "probe:y-b", "probe:after",
    ]
    assert catalog.by_id()["probe:y-a"].options.count == 3  # type: ignore[attr-defined]
    # the location is the line inside the role
    assert catalog.by_id()["probe:y-b"].source == SourceLocation(file=str(tmp_path / "site.p2"), line=3)


def test_a_role_may_be_defined_with_a_decorator(compile_text: Compile) -> None:
    catalog = compile_text('@p2.role("pair")\ndef pair(p2, title):\n    p2.probe(title).probe(title + "2")\np2.pair("p")\n')
    assert [resource.id for resource in catalog.resources] == ["probe:p", "probe:p2"]


def test_meta_options_of_a_role_call_apply_to_every_resource_of_the_role(compile_text: Compile) -> None:
    catalog = compile_text(
        'p2.probe("base").probe("conf").probe("end")\n'
        'p2.role("pair", lambda p2, title: p2.probe(title + "1").probe(title + "2", onlyif="test -x /b"))\n'
        'p2.pair("p", require="probe:base", before="probe:end", on={"probe:conf:changed": "refresh"},\n'
        '        onlyif="test -x /a", watch=True, hidden=True)\n'
    )
    first, second = catalog.by_id()["probe:p1"], catalog.by_id()["probe:p2"]
    assert first.require == ("probe:base",) and first.before == ("probe:end",)
    assert first.on == {"probe:conf:changed": "refresh"}
    assert first.onlyif == "test -x /a"
    assert second.onlyif == "(test -x /a) && (test -x /b)"
    assert first.watch and first.hidden and second.watch and second.hidden


def test_a_role_may_declare_hidden_helper_resources(compile_text: Compile) -> None:
    catalog = compile_text('p2.role("r", lambda p2, title: p2.probe(title).probe(title + "-helper", hidden=True))\np2.r("x")\n')
    assert [resource.hidden for resource in catalog.resources] == [False, True]


def test_an_error_inside_a_role_names_the_role_line_and_the_calling_line(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('def broken(p2, title):\n    p2.probe(title, mdoe="0644")\np2.role("broken", broken)\n\np2.broken("x")\n')
    site = tmp_path / "site.p2"
    assert str(caught.value) == (
        f"{site}:2: probe(\"x\"): unknown option 'mdoe'; did you mean 'mode'? (in role 'broken' called at {site}:5)"
    )


def test_a_role_that_calls_itself_forever_is_an_error(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="roles nested more than 50 deep; does role 'loop' call itself"):
        compile_text('p2.role("loop", lambda p2, title: p2.loop(title))\np2.loop("x")\n')


@pytest.mark.parametrize(
    "definition, problem",
    [
        ('p2.role("probe", print)', "role 'probe' would hide the module 'probe'"),
        ('p2.role("node", print)', "role name 'node' is a p2 method"),
        ('p2.role("not valid", print)', "role name 'not valid' must be a Python identifier"),
        ('p2.role("r", 3)', "needs a function"),
        ('p2.role("r", print)\np2.role("r", print)', "role 'r' is defined twice: first at .*site.p2:1, again here"),
    ],
)
def test_a_bad_role_definition_is_an_error(compile_text: Compile, definition: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        compile_text(definition)


def test_a_role_file_beside_the_policy_defines_a_directive(compile_text: Compile, tmp_path: Path) -> None:
    catalog = compile_text(
        'p2.webserver("www", port=8080)\n',
        files={"roles/webserver.p2": '\np2.probe(title + ":" + str(options["port"]) + ":" + facts.hostname)\n'},
    )
    resource = catalog.resources[0]
    assert resource.id == "probe:www:8080:web1"
    assert resource.source == SourceLocation(file=str(tmp_path / "roles" / "webserver.p2"), line=2)


def test_role_files_are_found_in_extra_roles_dirs(compile_text: Compile, tmp_path: Path) -> None:
    extra = tmp_path / "site-roles"
    extra.mkdir()
    (extra / "base.p2").write_text('p2.probe("base-" + title)\n')
    catalog = compile_text('p2.base("x")\n', roles_dirs=[extra])
    assert catalog.resources[0].id == "probe:base-x"


def test_the_policys_own_roles_folder_wins_over_extra_dirs(compile_text: Compile, tmp_path: Path) -> None:
    extra = tmp_path / "site-roles"
    extra.mkdir()
    (extra / "base.p2").write_text('p2.probe("extra")\n')
    catalog = compile_text('p2.base("x")\n', files={"roles/base.p2": 'p2.probe("own")\n'}, roles_dirs=[extra])
    assert catalog.resources[0].id == "probe:own"


def test_role_files_load_lazily_so_a_broken_unused_one_does_no_harm(compile_text: Compile) -> None:
    catalog = compile_text('p2.probe("a")\n', files={"roles/broken.p2": "def broken(:\n"})
    assert len(catalog.resources) == 1


def test_a_syntax_error_in_a_role_file_names_it_and_the_use(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('p2.broken("x")\n', files={"roles/broken.p2": "def broken(:\n"})
    assert str(caught.value).startswith(f"{tmp_path / 'roles' / 'broken.p2'}:1: syntax error")
    assert str(caught.value).endswith(f"(role used at {tmp_path / 'site.p2'}:1)")


def test_an_exception_in_a_role_file_names_its_line_and_the_call(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('\np2.broken("x")\n', files={"roles/broken.p2": 'p2.probe(title)\noptions["missing"]\n'})
    assert str(caught.value) == (
        f"{tmp_path / 'roles' / 'broken.p2'}:2: KeyError: 'missing' (called from {tmp_path / 'site.p2'}:2)"
    )


def test_built_in_roles_are_found_in_the_partout_roles_package(
    tmp_path: Path, facts: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert BUILTIN_ROLES_DIR == Path(__file__).parents[2] / "partout" / "roles"
    # Point the built-in folder at a temp copy rather than writing into the source tree.
    builtin = tmp_path / "builtin"
    builtin.mkdir()
    (builtin / "motd_probe.p2").write_text('p2.probe("builtin-" + title)\n')
    monkeypatch.setattr(partout.roles, "BUILTIN_ROLES_DIR", builtin)
    policy = tmp_path / "site.p2"
    policy.write_text('p2.motd_probe("x")\n')
    assert compile_policy(policy, facts).resources[0].id == "probe:builtin-x"


def test_an_unknown_directive_suggests_role_files_too(compile_text: Compile) -> None:
    with pytest.raises(PolicyError, match="unknown directive 'webservr'; did you mean 'webserver'"):
        compile_text('p2.webservr("x")\n', files={"roles/webserver.p2": "pass\n"})


def test_a_role_written_in_python_reports_the_policy_line_that_called_it(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text('from dsl_probe_module import pair_role\np2.role("pair", pair_role)\n\np2.pair("x")\n')
    site = tmp_path / "site.p2"
    assert str(caught.value).startswith(f"{site}:4: probe(\"x-2\"): option 'count': ")
    assert str(caught.value).endswith(f"(in role 'pair' called at {site}:4)")

"""The compiler with the real `file` and `command` modules and real facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from dsl_support import Compile
from helpers import snapshot

from partout.dsl.compiler import compile_policy
from partout.errors import PolicyError


def test_file_templates_render_at_compile_time_with_facts_vars_and_title(compile_text: Compile, tmp_path: Path) -> None:
    target = tmp_path / "out" / "motd"
    catalog = compile_text(
        f'p2.file("{target}", template="templates/motd.j2", vars={{"greeting": "hello"}}, mode="0644")\n',
        files={"templates/motd.j2": "{{ vars.greeting }} {{ title }} on {{ facts.hostname }}\n"},
    )
    resource = catalog.resources[0]
    assert resource.id == f"file:{target}"
    assert resource.options.content == f"hello {target} on web1\n"  # type: ignore[attr-defined]
    assert not target.parent.exists()  # compiled, not applied


def test_a_template_with_an_undefined_name_names_the_resource_line_and_the_template(
    compile_text: Compile, tmp_path: Path
) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text(
            f'p2.file("{tmp_path}/a", content="x")\np2.file("{tmp_path}/b", template="t.j2")\n',
            files={"t.j2": "line one\n{{ nope }}\n"},
        )
    message = str(caught.value)
    assert message.startswith(f'{tmp_path / "site.p2"}:2: file("{tmp_path}/b"): t.j2:2: ')
    assert "'nope' is undefined" in message
    assert caught.value.line == 2


def test_a_missing_source_file_is_a_compile_error_at_the_resource_line(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text(f'\np2.file("{tmp_path}/a", source="files/missing")\n')
    assert caught.value.line == 2
    assert "source 'files/missing' not found" in str(caught.value)


def test_a_bad_file_mode_is_named(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text(f'p2.file("{tmp_path}/a", content="x", mode="0999")\n')
    assert str(caught.value).startswith(f'{tmp_path / "site.p2"}:1: file("{tmp_path}/a"): option \'mode\': mode \'0999\'')


def test_conflicting_file_options_are_reported_without_a_field(compile_text: Compile, tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r'file\(".*/a"\): give only one of content, source$'):
        compile_text(f'p2.file("{tmp_path}/a", content="x", source="y")\n')


def test_a_command_handler_defaults_to_the_run_action(compile_text: Compile, tmp_path: Path) -> None:
    conf = tmp_path / "x.conf"
    catalog = compile_text(
        f'p2.file("{conf}", content="a\\n")\n'
        f'p2.on("file:{conf}:changed", p2.command("systemctl reload x"))\n'
        f'p2.command("echo always", on={{"file:{conf}:changed": "apply"}})\n'
    )
    handler = catalog.by_id()["command:systemctl reload x"]
    assert handler.refresh_only and handler.on == {f"file:{conf}:changed": "run"}
    assert catalog.dependencies()["command:systemctl reload x"] == {f"file:{conf}"}


def test_a_command_guard_is_kept_for_the_run(compile_text: Compile) -> None:
    resource = compile_text('p2.command("make install", creates="/usr/local/bin/x", unless="test -e /x")\n').resources[0]
    assert resource.unless == "test -e /x"
    assert str(resource.options.creates) == "/usr/local/bin/x"  # type: ignore[attr-defined]


def test_a_policy_compiles_with_gathered_facts(tmp_path: Path) -> None:
    from partout.facts import gather

    facts = gather(facts_d=tmp_path / "no-facts.d")
    policy = tmp_path / "site.p2"
    policy.write_text(
        f'with p2.node(lambda f: bool(f.hostname)):\n'
        f'    p2.file("{tmp_path}/host", content="{{{{ facts.hostname }}}}\\n", is_template=True)\n'
        f'with p2.node([facts.hostname]):\n    p2.command("true")\n'
    )
    before = snapshot(tmp_path)
    catalog = compile_policy(policy, facts)
    assert catalog.resources[0].options.content == f"{facts.hostname}\n"  # type: ignore[attr-defined]
    assert [resource.module for resource in catalog.resources] == ["file", "command"]
    assert snapshot(tmp_path) == before


def test_the_catalog_round_trips_through_json(compile_text: Compile, tmp_path: Path) -> None:
    catalog = compile_text(f'p2.file("{tmp_path}/a", content="x", mode="0600", watch=True).command("true")\n')
    dumped = catalog.model_dump(mode="json")
    assert dumped["resources"][0]["options"]["mode"] == "0600"
    assert dumped["resources"][0]["watch"] is True
    assert dumped["resources"][1]["options"]["cmd"] == "true"


def test_compiled_resources_equal_fully_validated_ones(compile_text: Compile, tmp_path: Path) -> None:
    from partout.dsl.catalog import Resource

    catalog = compile_text(
        f'p2.file("{tmp_path}/a", content="x", mode="0600")\n'
        f'p2.command("true", require="file:{tmp_path}/a", on={{"file:{tmp_path}/a:changed": "run"}}, hidden=True)\n'
    )
    for resource in catalog.resources:
        again = Resource(**{name: getattr(resource, name) for name in Resource.model_fields})
        assert again == resource
        assert again.model_dump() == resource.model_dump()


@pytest.mark.parametrize(("call", "message"), [
    ('p2.package("nginx", ensure="purge")', "option 'ensure': ensure must be present (or installed), latest, absent, "
                                            "purged or a version starting with a digit, not 'purge'; did you mean 'purged'?"),
    ('p2.service("nginx", ensure="runing")', "option 'ensure': Input should be 'running' or 'stopped' (got 'runing'); "
                                             "did you mean 'running'?"),
    ('p2.file("/tmp/x", ensure="directroy")', "(got 'directroy'); did you mean 'directory'?"),
    ('p2.user("deploy", ensure="Absent")', "(got 'Absent'); did you mean 'absent'?"),
    ('p2.group("deploy", ensure="presnet")', "(got 'presnet'); did you mean 'present'?"),
])
def test_an_ensure_word_that_is_not_known_is_refused_with_a_hint(compile_text: Compile, call: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        compile_text(call + "\n")
    assert message in str(caught.value)


def test_package_ensure_installed_compiles_to_present(compile_text: Compile) -> None:
    resource = compile_text('p2.package("nginx", ensure="installed")\n').resources[0]
    assert resource.options.ensure == "present"  # type: ignore[attr-defined]

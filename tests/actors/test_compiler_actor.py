from __future__ import annotations

from pathlib import Path

import pytest

from partout.actors.compiler import Compile, CompileSource, CompilerActor
from partout.errors import PolicyError
from partout.facts import load


@pytest.fixture
def facts(tmp_path: Path) -> object:
    path = tmp_path / "facts.json"
    path.write_text('{"hostname": "web1"}')
    return load(path)


def test_compiler_actor_compiles_a_policy_file_into_a_catalog(tmp_path: Path, facts: object) -> None:
    policy = tmp_path / "site.p2"
    policy.write_text(f'p2.file("{tmp_path}/motd", content="x")\n')
    ref = CompilerActor.start()
    try:
        catalog = ref.ask(Compile(policy, facts), timeout=30)
    finally:
        ref.stop()
    assert [resource.id for resource in catalog.resources] == [f"file:{tmp_path}/motd"]


def test_compiler_actor_returns_policy_errors_to_the_caller(tmp_path: Path, facts: object) -> None:
    ref = CompilerActor.start()
    try:
        with pytest.raises(PolicyError, match="site.p2:1"):
            ref.ask(CompileSource('p2.nosuchthing("x")\n', str(tmp_path / "site.p2"), facts), timeout=30)
        assert ref.is_alive()
    finally:
        ref.stop()

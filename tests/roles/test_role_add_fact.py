"""The add_fact role: a custom fact for later runs (facts.d) and for the rest of this compile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_partout
from role_support import Roles, changed, converge, result

from partout import facts as partout_facts
from partout.errors import PolicyError


def test_writes_a_facts_d_file_that_the_next_run_reads(roles: Roles, root: Path) -> None:
    facts_d = root / "facts.d"
    _, first = converge(roles, f'p2.add_fact("rack", value={{"row": 3, "slot": "b"}}, facts_d="{facts_d}")\n', root)
    assert changed(first) == ["fact:rack"]
    assert json.loads((facts_d / "rack.json").read_text()) == {"rack": {"row": 3, "slot": "b"}}
    assert partout_facts.gather(facts_d=facts_d).custom["rack"]["row"] == 3


def test_the_fact_resource_is_hidden(roles: Roles, root: Path) -> None:
    report = roles.apply(f'p2.add_fact("tier", value="gold", facts_d="{root}/facts.d")\n')
    assert result(report, "fact:tier").hidden is True


def test_the_rest_of_the_compile_sees_the_fact(tmp_path: Path, root: Path) -> None:
    facts_d = root / "facts.d"
    facts_d.mkdir()
    (facts_d / "site.json").write_text('{"site": "paris"}')
    real = partout_facts.gather(facts_d=facts_d)
    roles = Roles(tmp_path, real)
    report = roles.apply(
        f'p2.add_fact("tier", value="gold", facts_d="{facts_d}")\n'
        f'p2.file("{root}/tier", content=facts.custom.tier + " " + facts.custom.site + "\\n")\n'
    )
    assert changed(report) == ["fact:tier", f"file:{root}/tier"]
    assert (root / "tier").read_text() == "gold paris\n"


def test_value_from_a_json_or_yaml_file_beside_the_policy(roles: Roles, tmp_path: Path, root: Path) -> None:
    (tmp_path / "owner.yaml").write_text("team: web\noncall: [ann, bob]\n")
    (tmp_path / "limits.json").write_text('{"cpu": 4}')
    converge(roles, (
        f'p2.add_fact("owner", file="owner.yaml", facts_d="{root}/facts.d")\n'
        f'p2.add_fact("limits", file="limits.json", facts_d="{root}/facts.d")\n'
    ), root)
    custom = partout_facts.gather(facts_d=root / "facts.d").custom
    assert custom["owner"] == {"team": "web", "oncall": ["ann", "bob"]}
    assert custom["limits"] == {"cpu": 4}


def test_a_changed_value_rewrites_the_fact(roles: Roles, root: Path) -> None:
    roles.apply(f'p2.add_fact("tier", value="gold", facts_d="{root}/facts.d")\n')
    report = roles.apply(f'p2.add_fact("tier", value="silver", facts_d="{root}/facts.d")\n')
    assert changed(report) == ["fact:tier"]
    assert json.loads((root / "facts.d" / "tier.json").read_text()) == {"tier": "silver"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('p2.add_fact("tier")', "add_fact: give exactly one of value= or file="),
        ('p2.add_fact("tier", value=1, file="x.json")', "add_fact: give exactly one of value= or file="),
        ('p2.add_fact("tier", file="missing.json")', "missing.json' does not exist"),
        ('p2.add_fact("bad name", value=1)', "fact name 'bad name' must be an identifier"),
        ('p2.add_fact("tier", value=object())', "value must be JSON-serialisable"),
    ],
)
def test_bad_calls_are_policy_errors(roles: Roles, call: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        roles.compile(call + "\n")
    assert message in str(caught.value)
    assert f"{roles.policy}:1" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("broken.json", '{\n  "cpu": 4,\n}\n', "broken.json:3: not valid JSON"),
        ("broken.yaml", "team: web\noncall: [ann\n", "broken.yaml:3: not valid YAML"),
    ],
)
def test_a_broken_value_file_is_a_policy_error_naming_its_line(
    roles: Roles, tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(PolicyError) as caught:
        roles.compile(f'p2.add_fact("tier", file="{name}")\n')
    assert f"add_fact: {tmp_path / name}" in str(caught.value)
    assert message in str(caught.value)


def test_the_default_folder_is_the_nodes_at_run_time(roles: Roles, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The catalog may be compiled elsewhere (the master): the folder is decided where it runs.
    monkeypatch.setenv("PARTOUT_FACTS_D", str(root / "compiled-here"))
    catalog = roles.compile('p2.add_fact("zone", value="eu")\n')
    monkeypatch.setenv("PARTOUT_FACTS_D", str(root / "runs-here"))
    from partout.engine import Engine

    engine = Engine(roles.state_dir, roles.facts)
    try:
        engine.run(catalog)
    finally:
        engine.stop()
    assert json.loads((root / "runs-here" / "zone.json").read_text()) == {"zone": "eu"}
    assert not (root / "compiled-here").exists()


def test_the_run_contexts_folder_wins_over_the_environment(roles: Roles, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The engine's facts_d (partout apply --facts-d, the agent's facts_d) reaches the fact
    # module through the run context; $PARTOUT_FACTS_D is only the default when none is given.
    monkeypatch.setenv("PARTOUT_FACTS_D", str(root / "from-environment"))
    catalog = roles.compile('p2.add_fact("zone", value="eu")\n')
    from partout.engine import Engine

    engine = Engine(roles.state_dir, roles.facts, facts_d=root / "from-context")
    try:
        report = engine.run(catalog)
    finally:
        engine.stop()
    assert changed(report) == ["fact:zone"]
    assert json.loads((root / "from-context" / "zone.json").read_text()) == {"zone": "eu"}
    assert not (root / "from-environment").exists()


def test_partout_apply_facts_d_is_where_add_fact_writes_without_touching_the_environment(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARTOUT_FACTS_D", raising=False)

    facts_d = root / "facts.d"
    seen = root / "seen-environment"
    policy = tmp_path / "site.p2"
    # the command runs after add_fact, in the apply process's environment
    policy.write_text(f'p2.add_fact("zone", value="eu")\np2.command("env > {seen}", require="fact:zone")\n')
    result = run_partout("apply", str(policy), "--facts-d", str(facts_d), env={"PARTOUT_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((facts_d / "zone.json").read_text()) == {"zone": "eu"}
    assert "PARTOUT_FACTS_D=" not in seen.read_text()

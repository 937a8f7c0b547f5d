"""The master's TOML configuration and its auto-approve rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from partout.errors import StateError
from partout.master.config import AutoApproveRule, load_config

EXAMPLE = Path(__file__).parents[2] / "config" / "master.toml"


def test_the_example_config_loads_with_its_rules() -> None:
    config = load_config(EXAMPLE)
    assert [rule.environment for rule in config.auto_approve] == ["production", "staging", "lab"]
    assert config.environments_dir == Path("/etc/partout/environments")
    assert config.key_path("master.nk") == Path("/var/lib/partout/nats/keys/master.nk")


def test_options_override_the_file_and_paths_derive_from_the_state_dir(tmp_path: Path) -> None:
    config = load_config(EXAMPLE, state_dir=tmp_path, environments=None, nats_urls=["nats://10.0.0.1:4222"])
    assert config.nats_urls == ("nats://10.0.0.1:4222",)
    assert config.store_location == str(tmp_path / "store.sqlite")


def test_a_config_without_keys_is_refused_naming_what_to_set(tmp_path: Path) -> None:
    path = tmp_path / "master.toml"
    path.write_text("[master]\nstate_dir = '/tmp/x'\n")
    with pytest.raises(StateError, match="nats_state"):
        load_config(path)


def test_an_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "master.toml"
    path.write_text("[master]\nnats_state = '/tmp/n'\nauto_aprove = []\n")
    with pytest.raises(StateError, match="auto_aprove"):
        load_config(path)


def test_every_condition_of_a_rule_must_hold() -> None:
    rule = AutoApproveRule(hostname="web-*", token="long-enough-token", facts={"os.family": "debian"})
    facts = {"os": {"family": "debian"}}
    assert rule.matches("web-1", "long-enough-token", facts)
    assert not rule.matches("db-1", "long-enough-token", facts)
    assert not rule.matches("web-1", "wrong-token-here", facts)
    assert not rule.matches("web-1", "long-enough-token", {"os": {"family": "redhat"}})
    assert not rule.matches("web-1", None, facts)


def test_a_rule_without_conditions_matches_nothing() -> None:
    assert not AutoApproveRule(environment="production").matches("anything", None, {})


def test_a_token_never_shows_in_a_rule_repr() -> None:
    assert "long-enough-token" not in repr(AutoApproveRule(token="long-enough-token"))


def test_fact_sections_default_to_all_but_packages_and_services() -> None:
    from partout.facts import SECTIONS

    config = load_config(EXAMPLE)
    assert set(config.fact_sections) == set(SECTIONS) - {"packages", "services"}
    assert {"nics", "disks", "mounts"} <= set(config.fact_sections)


def test_an_unknown_fact_section_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    path = tmp_path / "master.toml"
    path.write_text("[master]\nnats_state = '/tmp/n'\nfact_sections = ['hostname', 'mount']\n")
    with pytest.raises(StateError, match=r"fact_sections.*unknown fact section 'mount'; did you mean 'mounts'"):
        load_config(path)

"""The agent's configuration file and its command-line overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from partout.agent.config import load_agent_config
from partout.errors import StateError


def test_the_example_config_loads() -> None:
    example = Path(__file__).parents[2] / "config" / "agent.toml"
    config = load_agent_config(example)
    assert config.servers == ("nats://partout-nats.example.com:4222",)
    assert config.interval == 1800 and config.watch is True


def test_command_line_options_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\nservers = ["nats://a:4222"]\ninterval = 60\ntoken = "from-file"\n')
    config = load_agent_config(path, interval=5.0, token=None, hostname="web9")
    assert (config.servers, config.interval, config.token, config.hostname) == (("nats://a:4222",), 5.0,
                                                                                  "from-file", "web9")


def test_an_unknown_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\nintervall = 60\n')
    with pytest.raises(StateError, match=r"agent.toml: intervall: Extra inputs"):
        load_agent_config(path)

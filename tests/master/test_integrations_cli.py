"""`partout integrations add/list/remove` as real processes against a real master, and the
master's checks of the `integrations.*` operator verbs (each bad input named, nothing stored)."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_partout
from test_master_support import MasterEnv, enrol, master_env, new_agent_key, running_master  # noqa: F401

from partout.master.daemon import Master
from partout.nats.jwt import public_key
from partout.nats.keys import USER, load_seed
from partout.operator import OperatorClient, OperatorError, default_key_file

__all__ = ["master_env", "running_master"]


@pytest.fixture
def operator(running_master: tuple[MasterEnv, Master]) -> Iterator[OperatorClient]:
    env, _master = running_master
    client = OperatorClient.connect(env.urls, key_file=default_key_file(env.nats_state))
    try:
        yield client
    finally:
        client.close()


def cli(env: MasterEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return run_partout("integrations", *args, "--nats", env.urls[0], "--nats-state", str(env.nats_state), timeout=60)


def registered(master: Master) -> list[tuple[str, str, str]]:
    return [(found.name, found.role.value, found.public_key) for found in master.store.integrations(removed=True)]


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


def test_add_writes_the_seed_0600_and_registers_only_its_public_key(running_master, tmp_path: Path) -> None:
    env, master = running_master
    out = tmp_path / "grafana.nk"
    added = cli(env, "add", "grafana", "--role", "reader", "--out", str(out))
    assert added.returncode == 0, added.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = public_key(load_seed(out, USER))
    assert f"public key: {key}" in added.stdout and "reader" in added.stdout
    assert registered(master) == [("grafana", "reader", key)]
    assert load_seed(out, USER).decode() not in added.stdout + added.stderr
    assert leftovers(tmp_path) == []

    listed = cli(env, "list")
    assert listed.returncode == 0 and "grafana" in listed.stdout and key in listed.stdout
    assert [(item["name"], item["role"]) for item in json.loads(cli(env, "list", "--json").stdout)] == [
        ("grafana", "reader")]


def test_add_refuses_to_overwrite_a_file_unless_forced(running_master, tmp_path: Path) -> None:
    env, master = running_master
    out = tmp_path / "ci.nk"
    out.write_text("precious\n")
    refused = cli(env, "add", "ci", "--role", "trigger", "--out", str(out))
    assert refused.returncode == 1
    assert f"--out {out} exists; give --force" in refused.stderr
    assert out.read_text() == "precious\n" and registered(master) == [] and leftovers(tmp_path) == []

    forced = cli(env, "add", "ci", "--role", "trigger", "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert registered(master) == [("ci", "trigger", public_key(load_seed(out, USER)))]


def test_a_taken_name_leaves_no_seed_file_and_no_second_record(running_master, tmp_path: Path) -> None:
    env, master = running_master
    assert cli(env, "add", "grafana", "--role", "reader", "--out", str(tmp_path / "first.nk")).returncode == 0
    second = cli(env, "add", "grafana", "--role", "trigger", "--out", str(tmp_path / "second.nk"))
    assert second.returncode == 1
    assert "an integration named 'grafana' exists already" in second.stderr
    assert not (tmp_path / "second.nk").exists() and leftovers(tmp_path) == []
    assert [name for name, _, _ in registered(master)] == ["grafana"]


def test_a_bad_name_or_unwritable_out_is_refused_before_anything_is_registered(running_master, tmp_path: Path) -> None:
    env, master = running_master
    bad = cli(env, "add", "Bad.Name", "--role", "reader", "--out", str(tmp_path / "bad.nk"))
    assert bad.returncode == 2
    assert "NAME" in bad.stderr and "integration name 'Bad.Name' is invalid" in bad.stderr
    missing = tmp_path / "no-such-dir" / "x.nk"
    nowhere = cli(env, "add", "grafana", "--role", "reader", "--out", str(missing))
    assert nowhere.returncode == 1
    assert f"--out {missing}: cannot write there" in nowhere.stderr
    assert registered(master) == [] and list(tmp_path.glob("*.nk")) == []


def test_remove_frees_the_name_and_keeps_the_key_refused(running_master, tmp_path: Path) -> None:
    env, master = running_master
    assert cli(env, "add", "grafana", "--role", "reader", "--out", str(tmp_path / "old.nk")).returncode == 0
    removed = cli(env, "remove", "grafana")
    assert removed.returncode == 0, removed.stderr
    assert "removed integration grafana" in removed.stdout and "0 connection(s) closed" in removed.stdout
    assert cli(env, "list").stdout.strip() == "no integrations"
    assert "grafana" in cli(env, "list", "--removed").stdout
    assert cli(env, "add", "grafana", "--role", "trigger", "--out", str(tmp_path / "new.nk")).returncode == 0
    again = cli(env, "remove", "nobody")
    assert again.returncode == 1 and "no integration named 'nobody'" in again.stderr


@pytest.mark.parametrize(("arguments", "error"), [
    ({"name": "x y", "role": "reader"}, "integration name 'x y' is invalid"),
    ({"name": "grafana", "role": "admin"}, "integration role 'admin' is invalid"),
    ({"name": "grafana", "role": "reader", "public_key": "UNOTAKEY"}, "integration public_key 'UNOTAKEY' is invalid"),
    ({"name": "grafana", "role": "reader", "public_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
     "does not start with 'U'"),
])
def test_the_master_refuses_bad_integration_requests_naming_the_field(
        running_master, operator: OperatorClient, tmp_path: Path, arguments: dict[str, str], error: str) -> None:
    _env, master = running_master
    arguments.setdefault("public_key", new_agent_key(tmp_path).public)
    with pytest.raises(OperatorError, match=error):
        operator.call("integrations.add", **arguments)
    assert registered(master) == []


def test_the_master_refuses_a_key_that_already_has_another_identity(
        running_master, operator: OperatorClient, tmp_path: Path) -> None:
    env, master = running_master
    agent = new_agent_key(tmp_path)
    assert enrol(env.urls, agent, hostname="web-1") is not None
    with pytest.raises(OperatorError, match="is an agent's"):
        operator.add_integration("grafana", "reader", agent.public)
    with pytest.raises(OperatorError, match="the master's or an operator's"):
        operator.add_integration("grafana", "reader", operator.public_key)
    with pytest.raises(OperatorError, match="the master's or an operator's"):
        operator.add_integration("grafana", "reader", master.public_key)
    assert registered(master) == []

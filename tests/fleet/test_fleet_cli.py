"""`partout agent` and `partout up` as an operator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import eventually, run_partout


def test_agent_refuses_a_state_dir_others_can_write(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    state.mkdir()
    os.chmod(state, 0o777)
    result = run_partout("agent", "--once", "--wait", "1", "--state-dir", str(state), "--nats", "nats://127.0.0.1:1")
    assert result.returncode == 1
    assert f"state dir {state} is writable by group or others" in result.stderr
    assert "chmod 700" in result.stderr
    assert not (state / "agent.nk").exists()


def test_agent_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    state.mkdir(mode=0o700)
    first = run_partout("agent", "--once", "--wait", "0.5", "--state-dir", str(state), "--nats", "nats://127.0.0.1:1")
    assert (state / "agent.nk").exists(), first.stderr
    os.chmod(state / "agent.nk", 0o644)
    result = run_partout("agent", "--once", "--wait", "0.5", "--state-dir", str(state), "--nats", "nats://127.0.0.1:1")
    assert result.returncode == 1
    assert "chmod 600" in result.stderr


@pytest.mark.slow
def test_up_applies_the_example_policy_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    directory = tmp_path / "up"
    process = subprocess.Popen([sys.executable, "-m", "partout", "up", "--state-dir", str(directory), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        motd = directory / "managed" / "motd"
        assert eventually(motd.exists, timeout=60)
        assert "managed by Partout" in motd.read_text()
        site = directory / "environments" / "production" / "site.p2"
        site.write_text(site.read_text().replace("Hello from Partout.", "Hello again."))
        hello = directory / "managed" / "hello.txt"
        assert eventually(lambda: hello.exists() and hello.read_text() == "Hello again.\n", timeout=30)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "partout up: NATS, master and a local agent are running" in stderr
    assert "stopped" in stderr.splitlines()
    assert stdout.count("policy") >= 2  # one line per applied run
    nats_pids = [line for line in subprocess.run(["pgrep", "-f", str(directory / "nats")], capture_output=True,
                                                  text=True).stdout.split()]
    assert nats_pids == []


@pytest.mark.slow
def test_up_exits_within_5_s_of_sigterm_and_leaves_no_server(tmp_path: Path) -> None:
    directory = tmp_path / "up"
    process = subprocess.Popen([sys.executable, "-m", "partout", "up", "--state-dir", str(directory), "--port", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert eventually((directory / "managed" / "motd").exists, timeout=60)
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pytest.fail("partout up still runs 5 s after SIGTERM")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    nats_pids = subprocess.run(["pgrep", "-f", str(directory / "nats")], capture_output=True, text=True).stdout.split()
    assert nats_pids == []


def test_agent_daemon_applies_with_a_token_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    from fleetenv import TOKEN, running_fleet

    with running_fleet(tmp_path) as fleet:
        config = fleet.agent_config("anyhost-3")
        process = subprocess.Popen(
            [sys.executable, "-m", "partout", "agent", "--nats", fleet.urls[0], "--state-dir", str(config.state_dir),
             "--hostname", "anyhost-3", "--facts", str(config.facts_file), "--token", TOKEN,
             "--master-key", str(config.master_key), "--enrol-interval", "0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            motd = tmp_path / "roots" / "anyhost-3" / "motd"
            assert eventually(lambda: motd.exists() and motd.read_text() == "production 1\n", timeout=30)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, stderr
        approved = fleet.operator.agents(status="approved")
        assert [agent["hostname"] for agent in approved] == ["anyhost-3"]
        assert fleet.operator.reports(approved[0]["agent_id"])

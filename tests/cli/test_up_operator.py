"""`partout up` as a new user runs it: one per state dir, operator commands that find it
without flags, a banner before the first run line, repair lines that name what changed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import eventually, run_partout, stop_process
from upenv import BANNER, RunningUp, read_lines, running_up

from partout.bus.connection import round_trip


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUp]:
    with running_up(tmp_path_factory.mktemp("up-state")) as running:
        yield running


def test_the_banner_comes_before_the_first_run_line(up: RunningUp) -> None:
    lines = list(up.lines)
    banner = lines.index(BANNER)
    first_run = next(index for index, line in enumerate(lines) if "policy 1:" in line)
    assert banner < first_run


def test_a_second_up_on_the_same_state_dir_exits_2_naming_the_first(up: RunningUp) -> None:
    second = run_partout("up", "--port", "0", env=up.env, timeout=60)
    assert second.returncode == 2, second.stderr
    assert f"pid {up.process.pid}" in second.stderr
    assert "NATS nats://127.0.0.1:" in second.stderr and "--state-dir" in second.stderr
    assert str(up.directory) in second.stderr
    assert up.process.poll() is None  # the first one goes on, its config untouched
    assert BANNER not in second.stdout + second.stderr


def test_an_agent_pointed_inside_a_running_up_exits_2(up: RunningUp) -> None:
    result = run_partout("agent", "--once", "--wait", "1", "--state-dir", str(up.directory / "agent"),
                         "--nats", "nats://127.0.0.1:1", env=up.env)
    assert result.returncode == 2, result.stderr
    assert "in use by `partout up`" in result.stderr and f"pid {up.process.pid}" in result.stderr


def test_agents_list_with_no_flags_finds_the_running_up(up: RunningUp) -> None:
    result = run_partout("agents", "list", env=up.env)
    assert result.returncode == 0, result.stderr
    assert "approved" in result.stdout and "production" in result.stdout


def test_reports_with_no_flags_finds_the_running_up(up: RunningUp) -> None:
    listed = run_partout("agents", "list", "--json", env=up.env)
    assert listed.returncode == 0, listed.stderr
    import json

    agent_id = json.loads(listed.stdout)[0]["agent_id"]
    result = run_partout("reports", agent_id, "--results", env=up.env)
    assert result.returncode == 0, result.stderr
    assert "managed/motd" in result.stdout


def test_events_with_no_flags_finds_the_running_up(up: RunningUp) -> None:
    import json

    result = run_partout("events", "--since", "1h", "--json", env=up.env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["subject"] == "partout.node.*.*.*" and "count" in shown["totals"]
    human = run_partout("events", env=up.env)
    assert human.returncode == 0 and "total" in human.stdout, human.stderr


def test_flags_still_override_what_is_found(up: RunningUp, tmp_path: Path) -> None:
    result = run_partout("agents", "list", "--nats-state", str(tmp_path / "nowhere"), env=up.env)
    assert result.returncode == 1
    assert f"operator key {tmp_path / 'nowhere' / 'keys' / 'operator.nk'} does not exist" in result.stderr


def test_a_repair_line_names_the_resource_and_the_change(up: RunningUp) -> None:
    motd = up.directory / "managed" / "motd"
    assert eventually(motd.exists, timeout=30)
    motd.write_text("tampered\n")
    assert eventually(lambda: any(f"repaired file:{motd}: " in line for line in up.lines), timeout=30), up.output()
    line = next(line for line in up.lines if f"repaired file:{motd}: " in line)
    assert "content" in line  # what changed, as `partout reports --results` says it


def test_no_flags_and_nothing_running_says_what_to_give(tmp_path: Path) -> None:
    result = run_partout("agents", "list", env={"PARTOUT_STATE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "no running `partout up` or `partout-nats` was found" in result.stderr


def test_up_says_which_port_it_used_when_the_default_is_taken(tmp_path: Path) -> None:
    import socket

    holder = socket.socket()
    try:
        try:
            holder.bind(("127.0.0.1", 4222))
            holder.listen()
        except OSError:
            pass  # already taken by something else: just as good
        process = subprocess.Popen([sys.executable, "-m", "partout", "up"],
                                   env={**os.environ, "PARTOUT_STATE_DIR": str(tmp_path)},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        reader = threading.Thread(target=read_lines, args=(process, lines), daemon=True)
        reader.start()
        try:
            assert eventually(lambda: BANNER in lines, timeout=90), "\n".join(lines)
            assert eventually(lambda: any("NATS  " in line for line in lines), timeout=10)
        finally:
            stop_process(process, signal.SIGINT, timeout=60)
            reader.join(timeout=10)
    finally:
        holder.close()
    note = next(line for line in lines if "port 4222 is taken" in line)
    port = note.rsplit("port ", 1)[1].split()[0]
    assert f"nats://127.0.0.1:{port}" in "\n".join(lines) and port != "4222"


def test_an_integration_added_with_no_flags_reads_node_events_until_removed(up: RunningUp, tmp_path: Path) -> None:
    """`partout integrations add/list/remove` find the running up by themselves, and the
    subscriber of examples/integration_subscriber.py (the README's) reads with the seed file."""
    import asyncio
    import json

    import nats

    from partout import subjects

    seed_file = tmp_path / "dashboard.nk"
    added = run_partout("integrations", "add", "dashboard", "--role", "reader", "--out", str(seed_file), env=up.env)
    assert added.returncode == 0, added.stderr
    assert "dashboard" in run_partout("integrations", "list", env=up.env).stdout
    nats_state = up.directory / "nats"
    url = json.loads((nats_state / "backbone.json").read_text())["servers"][0]
    example = Path(__file__).parents[2] / "examples" / "integration_subscriber.py"
    subscriber = subprocess.Popen([sys.executable, str(example), url, str(seed_file)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=read_lines, args=(subscriber, lines), daemon=True)
    reader.start()

    async def publish_as_master() -> None:
        connection = await nats.connect(url, nkeys_seed=str(nats_state / "keys" / "master.nk"))
        await connection.publish(subjects.node_event("web1", "file", "changed"), b'{"title": "/etc/motd"}')
        await round_trip(connection)
        await connection.close()

    try:  # the subscriber takes a moment to connect: publish until it has printed one
        assert eventually(lambda: asyncio.run(publish_as_master()) or bool(lines), timeout=30), subscriber.stderr
        assert lines[0] == "web1 file changed {'title': '/etc/motd'}"
        removed = run_partout("integrations", "remove", "dashboard", env=up.env)
        assert removed.returncode == 0, removed.stderr
        assert "1 connection(s) closed" in removed.stdout
    finally:
        subscriber.kill()
        subscriber.wait(timeout=10)

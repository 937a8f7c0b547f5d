"""`partout-nats` as an operator runs it: start, stop, keys, bad keys, ports in use, configs."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import eventually, free_port, wait_for_port

from partout.errors import StateError
from partout.nats.keys import KEY_FILES, load_or_create
from partout.nats.launcher import PortInUseError, server_binary, start_backbone


def partout_nats(*args: str) -> list[str]:
    return [sys.executable, "-m", "partout.cli.nats", *args]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_partout_nats_starts_one_server_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    # a file, not a pipe: nobody reads the server logs while it runs, and a full pipe blocks it
    log = (tmp_path / "partout-nats.log").open("w")
    process = subprocess.Popen(partout_nats("--state-dir", str(tmp_path / "nats"), "--port", str(port)),
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port)
        servers = _children(process.pid)
        assert len(servers) == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        assert not Path(f"/proc/{servers[0]}").exists() or eventually(
            lambda: not Path(f"/proc/{servers[0]}").exists())
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    for name in KEY_FILES:
        assert (tmp_path / "nats" / "keys" / name).stat().st_mode & 0o777 == 0o600
    details = json.loads((tmp_path / "nats" / "backbone.json").read_text())
    assert details["servers"] == [f"nats://127.0.0.1:{port}"]
    seeds = [path.read_text().strip() for path in (tmp_path / "nats" / "keys").glob("*.nk")]
    assert not any(seed in json.dumps(details) for seed in seeds)  # paths and public keys only


def test_keys_made_on_first_start_are_kept_on_the_next(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "nats")
    second = load_or_create(tmp_path / "nats")
    assert first == second


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    keys = load_or_create(tmp_path / "nats")
    keys.master.path.chmod(0o644)
    with pytest.raises(StateError, match=r"master.nk has mode 0644; it must be 0600"):
        start_backbone(tmp_path / "nats", port=0)


def test_a_corrupt_key_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    keys = load_or_create(tmp_path / "nats")
    keys.callout_issuer.path.write_bytes(b"SAnot-a-seed\n")
    with pytest.raises(StateError, match=r"callout-issuer.nk is not a valid nkey seed"):
        start_backbone(tmp_path / "nats", port=0)


def test_a_user_key_where_an_account_key_belongs_is_refused(tmp_path: Path) -> None:
    keys = load_or_create(tmp_path / "nats")
    keys.callout_issuer.path.write_bytes(keys.master.path.read_bytes())
    with pytest.raises(StateError, match=r"holds a user nkey; expected an account nkey"):
        load_or_create(tmp_path / "nats")


def test_a_port_in_use_is_named_in_the_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            start_backbone(tmp_path / "nats", port=port)
        result = subprocess.run(partout_nats("--state-dir", str(tmp_path / "nats"), "--port", str(port)),
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"partout-nats: error: port {port} on 127.0.0.1 is already in use" in result.stderr


def test_print_creds_shows_paths_not_seeds(tmp_path: Path) -> None:
    result = subprocess.run(partout_nats("--state-dir", str(tmp_path / "nats"), "--print-creds"),
                            capture_output=True, text=True, timeout=30)
    details = json.loads(result.stdout)
    assert details["servers"] == ["nats://127.0.0.1:4222"]
    assert Path(details["master_seed_file"]).read_text().startswith("SU")
    seeds = [path.read_text().strip() for path in (tmp_path / "nats" / "keys").glob("*.nk")]
    assert "seeds" not in details and not any(seed in result.stdout for seed in seeds)


def test_cluster_configs_for_real_hosts_are_valid_nats_server_configs(tmp_path: Path) -> None:
    result = subprocess.run(
        partout_nats("--state-dir", str(tmp_path / "nats"), "config", "--cluster", "n1,n2,n3",
                     "--out", str(tmp_path / "out")), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    for host in ("n1", "n2", "n3"):
        config = tmp_path / "out" / f"{host}.conf"
        assert config.stat().st_mode & 0o777 == 0o600
        text = config.read_text()
        assert f'server_name: "{host}"' in text and "n1:6222" in text and "n3:6222" in text
        checked = subprocess.run([server_binary(), "-t", "-c", str(config)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_partout_nats_runs_a_three_node_cluster_and_stops_every_node(tmp_path: Path) -> None:
    # --port 0 alone: client and route ports are each picked free. (A fixed --cluster-port
    # from free_port() + 1, + 2 lies in the ephemeral range, where another socket's source
    # port can take it before the node starts.)
    process = subprocess.Popen(
        partout_nats("--state-dir", str(tmp_path / "nats"), "--port", "0", "--cluster", "3"),
        stdout=(tmp_path / "partout-nats.log").open("w"), stderr=subprocess.STDOUT, text=True)
    try:
        ready = eventually(lambda: (tmp_path / "nats" / "backbone.json").exists(), timeout=20)
        assert ready, (tmp_path / "partout-nats.log").read_text()[-3000:]
        details = json.loads((tmp_path / "nats" / "backbone.json").read_text())
        assert len(details["servers"]) == 3 and details["replicas"] == 3
        servers = _children(process.pid)
        assert len(servers) == 3
        configs = sorted((tmp_path / "nats" / "config").glob("*.conf"))
        assert [config.name for config in configs] == ["partout-0.conf", "partout-1.conf", "partout-2.conf"]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert eventually(lambda: not any(Path(f"/proc/{pid}").exists() for pid in servers))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

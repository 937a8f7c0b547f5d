"""The agent's key, pinned master key and state file, with the permissions they need."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from pathlib import Path

import nkeys
import pytest
from helpers import free_port, nats_server_binary, wait_for_port

from partout.agent.identity import MASTER_KEY_FILE, SEED_FILE, STATE_FILE, AgentIdentity
from partout.bundle import verify_signature
from partout.errors import StateError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def master_key() -> str:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT)
    return str(nkeys.from_seed(bytearray(seed)).public_key.decode())


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "agent-state"


def test_first_start_makes_a_user_nkey_in_a_0600_file(state_dir: Path) -> None:
    identity = AgentIdentity.load_or_create(state_dir)
    assert identity.public_key.startswith("U")
    assert mode(state_dir) == 0o700
    assert mode(state_dir / SEED_FILE) == 0o600
    assert (state_dir / SEED_FILE).read_bytes().startswith(b"SU")


def test_the_key_is_the_same_on_the_next_start(state_dir: Path) -> None:
    first = AgentIdentity.load_or_create(state_dir)
    second = AgentIdentity.load_or_create(state_dir)
    assert first.public_key == second.public_key


def test_the_seed_is_not_exposed_by_the_identity(state_dir: Path) -> None:
    identity = AgentIdentity.load_or_create(state_dir)
    seed = (state_dir / SEED_FILE).read_bytes().strip().decode()
    assert seed not in repr(vars(identity))
    assert seed not in repr(identity.nats_options())


def test_signatures_verify_with_the_public_key(state_dir: Path) -> None:
    identity = AgentIdentity.load_or_create(state_dir)
    signature = identity.sign(b"nonce-from-server")
    assert verify_signature(identity.public_key, b"nonce-from-server", signature)
    assert not verify_signature(identity.public_key, b"another nonce", signature)


async def test_the_agent_connects_to_nats_with_its_nkey(state_dir: Path, tmp_path: Path) -> None:
    import nats

    identity = AgentIdentity.load_or_create(state_dir)
    port = free_port()
    configuration = tmp_path / "nats.conf"
    configuration.write_text(
        f"listen: 127.0.0.1:{port}\nauthorization {{ users: [ {{ nkey: {identity.public_key} }} ] }}\n"
    )
    server = subprocess.Popen(
        [nats_server_binary(), "-c", str(configuration)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
        connection = await nats.connect(f"nats://127.0.0.1:{port}", **identity.nats_options())
        try:
            assert connection.is_connected
        finally:
            await connection.close()
        stranger = AgentIdentity.load_or_create(tmp_path / "stranger-state")
        with pytest.raises(Exception, match="[Aa]uthorization"):
            await nats.connect(
                f"nats://127.0.0.1:{port}", allow_reconnect=False, max_reconnect_attempts=0, **stranger.nats_options()
            )
    finally:
        server.terminate()
        server.wait(timeout=5)


def test_a_state_dir_open_to_others_is_refused(state_dir: Path) -> None:
    state_dir.mkdir()
    state_dir.chmod(0o777)
    with pytest.raises(StateError, match="chmod 700"):
        AgentIdentity.load_or_create(state_dir)


def test_a_key_file_readable_by_others_is_refused(state_dir: Path) -> None:
    AgentIdentity.load_or_create(state_dir)
    (state_dir / SEED_FILE).chmod(0o644)
    with pytest.raises(StateError, match="chmod 600"):
        AgentIdentity.load_or_create(state_dir)


def test_a_corrupt_key_file_is_refused_with_what_to_run(state_dir: Path) -> None:
    AgentIdentity.load_or_create(state_dir)
    (state_dir / SEED_FILE).write_bytes(b"SUnot-a-seed\n")
    with pytest.raises(StateError, match=r"is corrupt .*\(mv .*agent\.nk\.broken"):
        AgentIdentity.load_or_create(state_dir)


def test_a_seed_of_another_kind_is_refused(state_dir: Path) -> None:
    state_dir.mkdir(mode=0o700)
    account_seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT)
    seed_file = state_dir / SEED_FILE
    seed_file.write_bytes(bytes(account_seed))
    seed_file.chmod(0o600)
    with pytest.raises(StateError, match="not an nkey user seed"):
        AgentIdentity.load_or_create(state_dir)


def test_nothing_is_pinned_at_first(state_dir: Path) -> None:
    assert AgentIdentity.load_or_create(state_dir).pinned_master_key() is None


def test_a_pinned_master_key_persists_in_a_0600_file(state_dir: Path) -> None:
    key = master_key()
    AgentIdentity.load_or_create(state_dir).pin_master_key(key)
    assert mode(state_dir / MASTER_KEY_FILE) == 0o600
    assert AgentIdentity.load_or_create(state_dir).pinned_master_key() == key


def test_pinning_another_master_key_is_refused(state_dir: Path) -> None:
    identity = AgentIdentity.load_or_create(state_dir)
    first = master_key()
    identity.pin_master_key(first)
    identity.pin_master_key(first)
    with pytest.raises(StateError, match=f"pinned master key {first}"):
        identity.pin_master_key(master_key())


def test_a_malformed_master_key_is_refused(state_dir: Path) -> None:
    identity = AgentIdentity.load_or_create(state_dir)
    with pytest.raises(StateError, match="not a public nkey"):
        identity.pin_master_key("ANOTAKEY")
    assert identity.pinned_master_key() is None


def test_trust_on_first_use_pins_with_a_loud_warning(state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    identity = AgentIdentity.load_or_create(state_dir)
    key = master_key()
    with caplog.at_level(logging.WARNING, logger="partout.agent.identity"):
        identity.trust_on_first_use(key)
    assert "TRUSTING THE MASTER KEY ON FIRST USE" in caplog.text
    assert identity.pinned_master_key() == key
    with pytest.raises(StateError, match="pinned master key"):
        identity.trust_on_first_use(master_key())


def test_approval_is_remembered_across_starts(state_dir: Path) -> None:
    AgentIdentity.load_or_create(state_dir).record_approval("0b9e-id", "production")
    state = AgentIdentity.load_or_create(state_dir).state()
    assert (state.agent_id, state.environment) == ("0b9e-id", "production")
    assert mode(state_dir / STATE_FILE) == 0o600


def test_the_applied_bundle_sequence_is_remembered_and_never_goes_back(state_dir: Path) -> None:
    identity = AgentIdentity.load_or_create(state_dir)
    assert identity.min_bundle_sequence() == 0
    identity.record_applied_bundle(7, "digest7")
    identity.record_applied_bundle(7, "digest7")
    assert AgentIdentity.load_or_create(state_dir).min_bundle_sequence() == 7
    with pytest.raises(StateError, match="does not follow"):
        identity.record_applied_bundle(6, "digest6")
    with pytest.raises(StateError, match="does not follow"):
        identity.record_applied_bundle(7, "another digest")
    assert identity.state().bundle_digest == "digest7"


def test_a_corrupt_state_file_is_refused(state_dir: Path) -> None:
    identity = AgentIdentity.load_or_create(state_dir)
    identity.record_approval("id", "production")
    (state_dir / STATE_FILE).write_text("{not json")
    with pytest.raises(StateError, match="agent state file .* is corrupt"):
        identity.state()

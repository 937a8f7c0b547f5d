"""What `partout agent` itself says: why it refused a bundle (once, at warning level), and
that a state dir open to group or others (0755) is refused before anything is made in it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from fleetenv import Fleet, agent_process, running_fleet
from helpers import eventually, run_partout

from partout import subjects


def tamper(fleet: Fleet) -> None:
    """Put a bundle nobody signed in the policy KV (a 'newer' sequence, the old signature)."""
    assert fleet.master is not None
    bus = fleet.master.bus
    key = subjects.policy_key("production")
    current = bus.kv_get(subjects.POLICY_BUCKET, key).get(timeout=10)
    envelope = json.loads(current.value)
    manifest = json.loads(envelope["manifest"])
    manifest["sequence"] += 100
    envelope["manifest"] = json.dumps(manifest)
    bus.kv_put(subjects.POLICY_BUCKET, key, json.dumps(envelope).encode()).get(timeout=10)


def test_the_agents_own_log_says_why_it_refused_a_bundle_once(tmp_path: Path) -> None:
    with running_fleet(tmp_path) as fleet:
        log_path = tmp_path / "agent.log"
        process = agent_process(fleet, "anyhost-9", log_path)
        try:
            motd = tmp_path / "roots" / "anyhost-9" / "motd"
            assert eventually(lambda: motd.exists() and motd.read_text() == "production 1\n", timeout=30)
            tamper(fleet)
            tamper(fleet)  # the same refusal again: said once

            def refusals() -> list[str]:
                return [line for line in log_path.read_text().splitlines() if "policy bundle refused" in line]

            assert eventually(lambda: len(refusals()) >= 1, timeout=30), log_path.read_text()
            agent_id = fleet.operator.agents(status="approved")[0]["agent_id"]
            assert eventually(lambda: sum(r["results"][0]["resource"] == "policy:bundle"
                                          for r in fleet.operator.reports(agent_id, limit=50)) >= 2, timeout=30)
            line = refusals()[0]
            assert "WARNING" in line and "signature" in line and "last good policy stays in force" in line
            assert len(refusals()) == 1
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 0, log_path.read_text()


def test_an_agent_state_dir_with_mode_0755_is_refused_with_what_to_run(tmp_path: Path) -> None:
    state = tmp_path / "agent"
    state.mkdir()
    os.chmod(state, 0o755)
    result = run_partout("agent", "--once", "--wait", "1", "--state-dir", str(state), "--nats", "nats://127.0.0.1:1")
    assert result.returncode == 1
    assert f"state dir {state} is open to group or others (mode 0755)" in result.stderr
    assert f"chmod 700 {state}" in result.stderr
    assert list(state.iterdir()) == []

"""Attack 3: a policy value with the right manifest but a broken signature sits in the KV;
the master used to skip publishing because the manifest listed the same files.

The master verifies what it reads back like an agent would: at start, and on every change
of the bucket while it runs; a value that does not verify is replaced by a fresh signed one.
"""

from __future__ import annotations

import base64
import json

from securityenv import Fleet, eventually, kv_value, kv_verifies, legitimate_traffic_works

from partout import subjects


def _broken_signature(bundle: bytes) -> bytes:
    envelope = json.loads(bundle)
    signature = bytearray(base64.b64decode(envelope["signature"]))
    signature[0] ^= 0xFF
    envelope["signature"] = base64.b64encode(bytes(signature)).decode()
    return json.dumps(envelope).encode()


def test_a_kv_value_with_a_broken_signature_is_replaced_when_the_master_starts(fleet: Fleet) -> None:
    first = fleet.agent("prod-1")
    assert eventually(lambda: first.content() == "production 1\n", timeout=30)
    assert fleet.master is not None
    tampered = _broken_signature(kv_value(fleet, "production").value)
    fleet.stop_master()

    # the master is down, so a stand-in answers the auth callout while the value is written
    from natsenv import NatsEnv

    from partout.bus.facade import Bus

    stand_in = NatsEnv(fleet.backbone, fleet.directory)
    stand_in.start_responder()
    writer = Bus.start(stand_in.bus_options())
    try:
        writer.kv_put(subjects.POLICY_BUCKET, subjects.policy_key("production"), tampered).get(timeout=10)
    finally:
        writer.stop()
        stand_in.stop_responder()
    master = fleet.start_master()
    assert master.security["policy.kv-value-unverified"] == 1  # found and replaced during start
    assert kv_verifies(fleet, "production")
    legitimate_traffic_works(fleet, "prod-2")  # a new agent accepts the policy
    assert first.content() == "production 1\n"


def test_a_kv_value_overwritten_while_the_master_runs_is_replaced(fleet: Fleet) -> None:
    agent = fleet.agent("prod-1")
    assert eventually(lambda: agent.content() == "production 1\n", timeout=30)
    assert fleet.master is not None
    tampered = _broken_signature(kv_value(fleet, "production").value)
    for value in (tampered, b"junk", tampered):
        fleet.master.bus.kv_put(subjects.POLICY_BUCKET, subjects.policy_key("production"), value).get(timeout=10)
    security = fleet.master.security
    assert eventually(lambda: security["policy.kv-value-replaced"] >= 3 and kv_verifies(fleet, "production"),
                      timeout=15)
    assert agent.content() == "production 1\n"
    fleet.write_policy("production", "production 2\n")
    assert eventually(lambda: agent.content() == "production 2\n", timeout=30)
    legitimate_traffic_works(fleet, "prod-2", "production 2\n")

"""KV compare-and-set through the Bus: a put that names the revision it replaces lands only
over that revision (what lets several masters publish one policy key without clobbering)."""

from __future__ import annotations

import pytest

from partout import subjects
from partout.bus.facade import Bus
from partout.errors import KeyValueConflict


def test_a_put_over_a_stale_revision_is_refused_and_changes_nothing(bus: Bus) -> None:
    bus.ensure_streams().get(timeout=15)
    key = subjects.policy_key("cas")
    first = bus.kv_put(subjects.POLICY_BUCKET, key, b"one", last_revision=0).get(timeout=5)
    second = bus.kv_put(subjects.POLICY_BUCKET, key, b"two", last_revision=first).get(timeout=5)
    assert second > first
    with pytest.raises(KeyValueConflict) as conflict:
        bus.kv_put(subjects.POLICY_BUCKET, key, b"late", last_revision=first).get(timeout=5)
    assert (conflict.value.bucket, conflict.value.key, conflict.value.expected) == (subjects.POLICY_BUCKET, key, first)
    current = bus.kv_get(subjects.POLICY_BUCKET, key).get(timeout=5)
    assert current is not None and (current.value, current.revision) == (b"two", second)


def test_a_create_finds_the_key_taken_and_an_unconditional_put_still_works(bus: Bus) -> None:
    bus.ensure_streams().get(timeout=15)
    nonce = "OPERATORKEY.0123abcd"
    bus.kv_put(subjects.NONCE_BUCKET, nonce, b"1", last_revision=0).get(timeout=5)
    with pytest.raises(KeyValueConflict, match="expected the key absent"):
        bus.kv_put(subjects.NONCE_BUCKET, nonce, b"1", last_revision=0).get(timeout=5)
    key = subjects.policy_key("plain")
    bus.kv_put(subjects.POLICY_BUCKET, key, b"a").get(timeout=5)
    bus.kv_put(subjects.POLICY_BUCKET, key, b"b").get(timeout=5)
    current = bus.kv_get(subjects.POLICY_BUCKET, key).get(timeout=5)
    assert current is not None and current.value == b"b"

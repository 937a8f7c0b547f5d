"""Two masters publishing one environment at once: the policy KV's compare-and-set lets one
publish land per revision, so a sequence never carries two contents. The masters here read
different environment folders (a rolling deploy, one checkout ahead of the other), which is
the case where two contents could compete for one sequence."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from helpers import eventually
from policyhistory import one_content_per_sequence, policy_history
from test_master_support import MasterEnv, master_env, write_environment  # noqa: F401

from partout import subjects
from partout.master.daemon import Master

__all__ = ["master_env"]

SITE = 'p2.file("/tmp/partout-race", content={content!r})\n'
QUIET = 600.0  # a debounce no test outlives: only the test's own publishes run


def _site(content: str) -> str:
    return SITE.format(content=content)


def _two_masters(master_env: MasterEnv, tmp_path: Path, **options: Any) -> tuple[Master, Master, Path, Path]:
    folders = tmp_path / "folders-a", tmp_path / "folders-b"
    for folder in folders:
        write_environment(folder, "production", _site("v1\n"))
    first = master_env.master(environments=folders[0], **options)
    second = master_env.master(environments=folders[1], **options)
    return first, second, folders[0], folders[1]


def _history(master_env: MasterEnv) -> list[Any]:
    return policy_history(master_env.urls, master_env.nats_state / "keys" / "master.nk", "production")


def conflicts(*masters: Master) -> int:
    """Publishes that lost a compare-and-set to another master."""
    return sum(master.security["policy.publish-conflict"] for master in masters)


def _published(master_env: MasterEnv) -> bool:
    """Whether the key holds a bundle yet (the first master's start-up publish may still be on
    its way when the masters are up; an empty history raises NoKeysError)."""
    import nats

    try:
        return bool(_history(master_env))
    except nats.js.errors.NoKeysError:
        return False


def _publisher(master: Master) -> Any:
    ref = master.child("publisher")
    assert ref is not None
    return ref.proxy()


def test_a_master_that_lost_the_race_publishes_its_content_as_the_next_sequence(master_env, tmp_path: Path) -> None:
    first, second, folder_a, folder_b = _two_masters(master_env, tmp_path, debounce=QUIET)
    try:
        assert eventually(lambda: _published(master_env), timeout=30)
        assert [(entry.sequence, entry.site) for entry in _history(master_env)] == [(1, _site("v1\n"))]
        # the first master reads the KV, then the second publishes before the first puts
        seen = first.bus.kv_get(subjects.POLICY_BUCKET, "production").get(timeout=10)
        write_environment(folder_b, "production", _site("from b\n"))
        assert second.publish_environments(frozenset({"production"})) == {"production": 2}
        write_environment(folder_a, "production", _site("from a\n"))
        assert _publisher(first).publish_over("production", seen).get(timeout=60) == 3
        history = _history(master_env)
        assert [(entry.sequence, entry.site) for entry in history] == [
            (1, _site("v1\n")), (2, _site("from b\n")), (3, _site("from a\n"))]
        assert first.security["policy.publish-conflict"] == 1
        assert first.store.latest_policy_version("production").sequence == 3
    finally:
        second.stop()
        first.stop()


def test_a_master_that_lost_the_race_to_the_same_content_accepts_it(master_env, tmp_path: Path) -> None:
    first, second, folder_a, folder_b = _two_masters(master_env, tmp_path, debounce=QUIET)
    try:
        seen = first.bus.kv_get(subjects.POLICY_BUCKET, "production").get(timeout=10)
        for folder in (folder_a, folder_b):
            write_environment(folder, "production", _site("v2\n"))
        assert second.publish_environments(frozenset({"production"})) == {"production": 2}
        assert _publisher(first).publish_over("production", seen).get(timeout=60) is None
        assert [(entry.sequence, entry.site) for entry in _history(master_env)] == [
            (1, _site("v1\n")), (2, _site("v2\n"))]
        assert first.security["policy.publish-conflict"] == 1
    finally:
        second.stop()
        first.stop()


def test_one_environment_changed_under_both_masters_at_once_keeps_one_content_per_sequence(
        master_env, tmp_path: Path) -> None:
    first, second, folder_a, folder_b = _two_masters(master_env, tmp_path)
    try:
        round_number = 0
        while round_number < 3 or (conflicts(first, second) == 0 and round_number < 20):
            round_number += 1
            # both folders change at once (their watchers fire together) and both masters
            # are also asked to publish at the same moment
            start = threading.Barrier(2)
            results: dict[str, Any] = {}

            def publish(name: str, master: Master, folder: Path) -> None:
                write_environment(folder, "production", _site(f"round {round_number} by {name}\n"))
                start.wait(timeout=30)
                results[name] = master.publish_environments(frozenset({"production"}))

            threads = [threading.Thread(target=publish, args=("a", first, folder_a)),
                       threading.Thread(target=publish, args=("b", second, folder_b))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert set(results) == {"a", "b"}
        assert conflicts(first, second) >= 1, "the masters never raced in 20 rounds"
        # the watchers' own rebuilds settle: each master's last content is in the KV's history
        wanted = {_site(f"round {round_number} by a\n"), _site(f"round {round_number} by b\n")}
        assert eventually(lambda: wanted <= {entry.site for entry in _history(master_env)}, timeout=30)
        history = _history(master_env)
        assert one_content_per_sequence(history), [(entry.revision, entry.sequence) for entry in history]
    finally:
        second.stop()
        first.stop()

"""Every bundle an environment's key of the policy bucket has held, read as a master and
verified as an agent would, for tests that several masters publish one sequence once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import nkeys

from partout import subjects
from partout.bundle import verify_bundle
from partout.nats.keys import USER, load_seed


@dataclass(frozen=True)
class Published:
    revision: int
    sequence: int
    files: str  # the manifest's files, as comparable text: the bundle's content
    site: str  # the environment's site.p2 in that bundle


def master_public_key(seed_file: Path) -> str:
    return str(nkeys.from_seed(bytearray(load_seed(seed_file, USER))).public_key.decode("ascii"))


def policy_history(urls: list[str], seed_file: Path, environment: str) -> list[Published]:
    """The key's history, oldest first (the bucket keeps `policy_history` revisions)."""
    import nats

    public_key = master_public_key(seed_file)

    async def read() -> list[Published]:
        # the bucket's stream read message by message, not KeyValue.history(): nats-py's
        # watcher may end its replay before the first entry arrived (nats.py issue #842) and
        # then raises NoKeysError for a key that has entries
        from nats.js.errors import NoKeysError, NotFoundError

        connection = await nats.connect(urls, nkeys_seed=str(seed_file), name="policy-history", connect_timeout=5,
                                        max_reconnect_attempts=3)
        stream = f"KV_{subjects.POLICY_BUCKET}"
        subject = f"$KV.{subjects.POLICY_BUCKET}.{subjects.policy_key(environment)}"
        entries: list[tuple[int, bytes]] = []
        try:
            jetstream, sequence = connection.jetstream(), 1
            while True:
                try:
                    message = await jetstream.get_msg(stream, seq=sequence, subject=subject, next=True)
                except NotFoundError:
                    break
                if not (message.headers or {}).get("KV-Operation"):  # a delete or purge marker holds no bundle
                    entries.append((message.seq or 0, message.data or b""))
                sequence = (message.seq or sequence) + 1
        finally:
            await connection.close()
        if not entries:
            raise NoKeysError
        found = []
        for revision, value in entries:
            bundle = verify_bundle(value, master_public_key=public_key, environment=environment, min_sequence=0)
            found.append(Published(revision, bundle.sequence, repr(bundle.manifest.files),
                                   bundle.file("site.p2").decode()))
        return found

    return asyncio.run(read())


def one_content_per_sequence(history: list[Published]) -> bool:
    """Sequences grow with revisions, and no sequence was published with two contents."""
    sequences = [published.sequence for published in history]
    return sequences == sorted(set(sequences))

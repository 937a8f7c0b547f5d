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
        connection = await nats.connect(urls, nkeys_seed=str(seed_file), name="policy-history", connect_timeout=5,
                                        max_reconnect_attempts=3)
        try:
            bucket = await connection.jetstream().key_value(subjects.POLICY_BUCKET)
            entries = await bucket.history(subjects.policy_key(environment))
        finally:
            await connection.close()
        found = []
        for entry in entries:
            bundle = verify_bundle(entry.value or b"", master_public_key=public_key, environment=environment,
                                   min_sequence=0)
            found.append(Published(entry.revision or 0, bundle.sequence, repr(bundle.manifest.files),
                                   bundle.file("site.p2").decode()))
        return found

    return asyncio.run(read())


def one_content_per_sequence(history: list[Published]) -> bool:
    """Sequences grow with revisions, and no sequence was published with two contents."""
    sequences = [published.sequence for published in history]
    return sequences == sorted(set(sequences))

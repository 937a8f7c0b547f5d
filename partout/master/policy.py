"""`PolicyPublisherActor`: compiles each environment and publishes its signed bundle.

    <environments>/<name>/site.p2 (+ templates/, files/, roles/)  ->  KV partout-policy/<name>

An environment is compiled against the sample facts before anything is published: a
policy that does not compile is NOT published (agents keep the last good one), and its
error, with file and line, goes to the log and the store for operators
(`partout agents ...`, verb policy.errors). Sequences only grow: the next one is one more
than the highest of the store's latest version and the KV's current entry, so restarts
and several masters never publish a lower number. Unchanged content is not republished.
A publish the bus refuses (bucket unavailable, no quorum) is retried with backoff until it
lands (partout.master.publish_retry); it is not a compile error.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pykka

from partout import subjects
from partout.errors import BusError, PolicyError
from partout.master.publish_retry import PublishRetries
from partout.master.store.base import PolicyErrorRecord, PolicyVersion
from partout.master.store_actor import StoreHandle

log = logging.getLogger(__name__)

POLICY_FILE = "site.p2"


@dataclass(frozen=True)
class Rebuild:
    """Compile and publish these environments (all of them when None)."""

    environments: frozenset[str] | None = None
    future: pykka.Future[Any] | None = None  # gets {environment: sequence or None}


def environment_names(root: Path) -> list[str]:
    """The environments under `root`: directories with a site.p2 and a name fit for a subject."""
    if not root.is_dir():
        return []
    names = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.name.startswith(".") and (entry / POLICY_FILE).is_file():
            try:
                names.append(subjects.policy_key(entry.name))
            except Exception:
                log.warning("environment name unusable", extra={"directory": str(entry)})
    return names


class PolicyPublisherActor(pykka.ThreadingActor):
    def __init__(self, bus: Any, store: StoreHandle, *, environments: Path, signing_seed_file: Path,
                 sample_facts: Path | None) -> None:
        super().__init__()
        self._bus = bus
        self._store = store
        self._root = environments
        self._seed_file = signing_seed_file
        self._sample_facts = sample_facts
        self._facts: Any = None
        self._retries = PublishRetries(self._publish_again)

    def _publish_again(self, environment: str) -> None:
        self.actor_ref.tell(Rebuild(frozenset({environment})))

    def on_stop(self) -> None:
        self._retries.close()

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Rebuild):
            return super().on_receive(message)
        names = environment_names(self._root)
        if message.environments is not None:
            names = [name for name in names if name in message.environments]
        results: dict[str, int | None] = {}
        for name in names:
            try:
                results[name] = self.publish(name)
                self._retries.landed(name)
            except (BusError, pykka.Timeout) as error:  # the bus's failure, not the policy's
                results[name] = None
                self._retries.failed(name, error)
            except Exception as error:
                log.exception("policy not published", extra={"environment": name})
                results[name] = None
                self._record_error(name, f"{type(error).__name__}: {error}", None, None)
        if message.future is not None:
            message.future.set(results)
        return None

    def _facts_for_compile(self) -> Any:
        if self._facts is None:
            from partout import facts

            self._facts = facts.load(self._sample_facts) if self._sample_facts else facts.gather()
        return self._facts

    def _record_error(self, environment: str, message: str, file: str | None, line: int | None) -> None:
        log.error("policy does not compile, not published",
                  extra={"environment": environment, "file": file, "line": line, "error": message})
        self._store.get("record_policy_error",
                        PolicyErrorRecord(environment=environment, message=message, file=file, line=line))

    def publish(self, environment: str) -> int | None:
        """Compile, bundle, sign and put one environment; its sequence, or None if not published."""
        from partout.bundle import build_bundle
        from partout.dsl.compiler import compile_policy
        from partout.nats.keys import USER, load_seed

        directory = self._root / environment
        try:
            compile_policy(directory / POLICY_FILE, self._facts_for_compile(), roles_dirs=(directory / "roles",))
        except PolicyError as error:
            self._record_error(environment, error.reason, str(error.file) if error.file else None, error.line)
            return None
        latest: PolicyVersion | None = self._store.get("latest_policy_version", environment)
        current = self._bus.kv_get(subjects.POLICY_BUCKET, subjects.policy_key(environment)).get(timeout=30)
        published = manifest_of(current.value) if current is not None and current.value else None
        sequence = max(latest.sequence if latest else 0, published[0].sequence if published else 0) + 1
        bundle = build_bundle(directory, environment=environment, signing_seed=load_seed(self._seed_file, USER),
                              sequence=sequence)
        manifest, digest = manifest_of(bundle) or (None, "")
        if published is not None and manifest is not None and published[0].files == manifest.files:
            return None  # same content as what agents have (a restart, or another master did it)
        revision = self._bus.kv_put(subjects.POLICY_BUCKET, subjects.policy_key(environment), bundle).get(timeout=30)
        self._store.get("record_policy_version", PolicyVersion(environment=environment, sequence=sequence,
                                                               digest=digest))
        log.info("policy published", extra={"environment": environment, "sequence": sequence,
                                            "revision": revision, "bytes": len(bundle)})
        return sequence


def manifest_of(bundle: bytes) -> tuple[Any, str] | None:
    """(Manifest, its digest) of a bundle, unverified (only to compare with our own), or None."""
    import json

    from partout.bundle import Manifest

    try:
        text = str(json.loads(bundle)["manifest"])
        return Manifest.model_validate_json(text), hashlib.sha256(text.encode()).hexdigest()
    except Exception:
        return None

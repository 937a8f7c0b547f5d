"""`PolicyPublisherActor`: compiles each environment and publishes its signed bundle.

    <environments>/<name>/site.p2 (+ templates/, files/, roles/)  ->  KV partout-policy/<name>

An environment is compiled against the sample facts before anything is published: a
policy that does not compile is NOT published (agents keep the last good one), and its
error, with file and line, goes to the log and the store for operators
(`partout agents ...`, verb policy.errors). Sequences only grow: the next one is one more
than the highest of the store's latest version and the KV's current entry, so restarts
and several masters never publish a lower number. Unchanged content is not republished.

The master verifies before it trusts: the KV's current value counts (for "unchanged" and
for the sequence) only when it verifies as an agent would verify it (signature by this
master's key, environment, manifest and archive). Anyone who can make JetStream publish can
overwrite a KV value (a pub-ack or a direct-get reply sent to a chosen reply subject), so
the publisher also follows every change of the bucket (`partout.policy.*`) and replaces a
value that does not verify with a fresh signed publish, at most once per REPAIR_INTERVAL.

Several masters publish with compare-and-set: a put names the KV revision it replaces, so
of two masters building the same sequence at once only one lands; the other reads again and
accepts that bundle when it has the same content, or publishes the next sequence over it.
Sequence N therefore has one content, whichever master signed it (they share the key).

A publish the bus refuses (bucket unavailable, no quorum) is retried with backoff until it
lands (partout.master.publish_retry); it is not a compile error.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pykka

from partout import subjects
from partout.errors import BusError, KeyValueConflict, PolicyError
from partout.master.guard import SecurityCounters
from partout.master.publish_retry import PublishRetries, RetryPublish
from partout.master.store.base import PolicyErrorRecord, PolicyVersion, Store
from partout.master.supervisor import Child, SupervisedActor, tell_later
from partout.bus.messages import BusMessage, KeyValueChange

if TYPE_CHECKING:
    from partout.bundle import VerifiedBundle
    from partout.bus.facade import Bus
    from partout.facts import Facts

log = logging.getLogger(__name__)

POLICY_FILE = "site.p2"
REPAIR_INTERVAL = 1.0  # seconds between two repairs of one environment's KV value
MAX_CONFLICTS = 8  # compare-and-set losses in a row before the publish is retried later

PublishResults = dict[str, "int | None"]  # environment -> sequence published, or None


@dataclass(frozen=True)
class Rebuild:
    """Compile and publish these environments (all of them when None)."""

    environments: frozenset[str] | None = None
    future: pykka.Future[PublishResults] | None = None


@dataclass(frozen=True)
class Repair:
    """The KV value of `environment` did not verify: publish a fresh one (if it still does not)."""

    environment: str


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


class PolicyPublisherActor(SupervisedActor):
    def __init__(self, bus: Bus, store: Store, *, environments: Path, signing_seed_file: Path,
                 sample_facts: Path | None, counters: SecurityCounters | None = None,
                 child: Child | None = None) -> None:
        super().__init__(child=child)
        self._bus = bus
        self._store = store
        self._root = environments
        self._seed_file = signing_seed_file
        self._sample_facts = sample_facts
        self._facts: Facts | None = None
        self.counters = counters or SecurityCounters()
        self._repaired_at: dict[str, float] = {}
        self._repairs_due: set[str] = set()
        self._retries = PublishRetries(self.actor_ref)

    def start_up(self) -> None:
        if self._child.incarnation > 0:
            # restarted after a crash, perhaps in the middle of a publish or with retries
            # pending: check every environment again (unchanged ones are not republished)
            self.actor_ref.tell(Rebuild())

    def handle(self, message: object) -> None:
        match message:
            case BusMessage():
                self._check_update(message)
            case Repair(environment):
                self._repairs_due.discard(environment)
                self._repaired_at[environment] = time.monotonic()
                self._rebuild(Rebuild(frozenset({environment})))
            case RetryPublish(environment) if self._retries.due(message):
                self._rebuild(Rebuild(frozenset({environment})))
            case RetryPublish():
                pass  # landed since, or failed again (a later RetryPublish is on its way)
            case Rebuild():
                self._rebuild(message)
            case _:
                super().handle(message)

    def _rebuild(self, message: Rebuild) -> None:
        names = environment_names(self._root)
        if message.environments is not None:
            names = [name for name in names if name in message.environments]
        results: PublishResults = {}
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

    def _check_update(self, message: BusMessage) -> None:
        """A change of the policy bucket (republished): schedule a repair if it does not verify."""
        environment = subjects.policy_environment(message.subject)
        if environment is None or environment not in environment_names(self._root):
            return  # not ours to publish (another master's directory, or junk)
        if self.verified(environment, message.data) is not None:
            return
        self.counters.count("policy.kv-value-replaced", environment=environment)
        if environment in self._repairs_due:
            return
        self._repairs_due.add(environment)
        delay = max(0.0, self._repaired_at.get(environment, -REPAIR_INTERVAL) + REPAIR_INTERVAL - time.monotonic())
        tell_later(delay, self.actor_ref, Repair(environment))

    def verified(self, environment: str, data: bytes | None) -> VerifiedBundle | None:
        """The VerifiedBundle in `data` if it is this master's for `environment`, else None."""
        from partout.bundle import BundleError, verify_bundle

        if not data:
            return None
        try:
            return verify_bundle(data, master_public_key=self._public_key(), environment=environment, min_sequence=0)
        except BundleError:
            return None

    def _public_key(self) -> str:
        import nkeys

        from partout.nats.keys import USER, load_seed

        return str(nkeys.from_seed(bytearray(load_seed(self._seed_file, USER))).public_key.decode("ascii"))

    def _facts_for_compile(self) -> Facts:
        if self._facts is None:
            from partout import facts

            self._facts = facts.load(self._sample_facts) if self._sample_facts else facts.gather()
        return self._facts

    def _record_error(self, environment: str, message: str, file: str | None, line: int | None) -> None:
        log.error("policy does not compile, not published",
                  extra={"environment": environment, "file": file, "line": line, "error": message})
        self._store.record_policy_error(
            PolicyErrorRecord(environment=environment, message=message, file=file, line=line))

    def publish(self, environment: str) -> int | None:
        """Compile, bundle, sign and put one environment; its sequence, or None if not published."""
        from partout.dsl.compiler import compile_policy
        from partout.dsl.nodes import EmptyInventory

        directory = self._root / environment
        try:
            # p2.nodes answers no node here: the test compile checks the policy, not the fleet
            compile_policy(directory / POLICY_FILE, self._facts_for_compile(), roles_dirs=(directory / "roles",),
                           inventory=EmptyInventory())
        except PolicyError as error:
            self._record_error(environment, error.reason, str(error.file) if error.file else None, error.line)
            return None
        return self.publish_over(environment, self._current(environment))

    def _current(self, environment: str) -> KeyValueChange | None:
        return self._bus.kv_get(subjects.POLICY_BUCKET, subjects.policy_key(environment)).get(timeout=30)

    def publish_over(self, environment: str, current: KeyValueChange | None) -> int | None:
        """Publish `environment` (already compiled) in place of `current`, the KV entry read
        before: a compare-and-set on its revision. Lost to another master: read again; its
        value has our content -> accepted as is (None), else the next sequence goes on top."""
        for _attempt in range(MAX_CONFLICTS):
            try:
                return self._put_over(environment, current)
            except KeyValueConflict as conflict:
                self.counters.count("policy.publish-conflict", environment=environment)
                log.info("another master published this environment first; checking its bundle",
                         extra={"environment": environment, "expected_revision": conflict.expected})
                current = self._current(environment)
        raise BusError(f"the policy of {environment} kept changing under {MAX_CONFLICTS} publishes in a row")

    def _put_over(self, environment: str, current: KeyValueChange | None) -> int | None:
        from partout.bundle import build_bundle
        from partout.nats.keys import USER, load_seed

        latest = self._store.latest_policy_version(environment)
        published = self.verified(environment, current.value) if current is not None else None
        if current is not None and current.value and published is None:
            self.counters.count("policy.kv-value-unverified", environment=environment)
            log.warning("the policy in the KV does not verify; publishing a fresh signed one",
                        extra={"environment": environment, "revision": current.revision})
        sequence = max(latest.sequence if latest else 0, published.sequence if published else 0) + 1
        bundle = build_bundle(self._root / environment, environment=environment,
                              signing_seed=load_seed(self._seed_file, USER), sequence=sequence)
        built = self.verified(environment, bundle)
        digest = str(built.digest) if built is not None else ""
        if published is not None and built is not None and published.manifest.files == built.manifest.files:
            # same content as what agents have (a restart, or another master did it): keep the
            # store's history complete whoever published it
            self._store.record_policy_version(PolicyVersion(environment=environment, sequence=published.sequence,
                                                            digest=str(published.digest)))
            return None
        # lands only over the revision read: two masters never publish one sequence twice
        revision = self._bus.kv_put(subjects.POLICY_BUCKET, subjects.policy_key(environment), bundle,
                                    last_revision=current.revision if current is not None else 0).get(timeout=30)
        self._store.record_policy_version(PolicyVersion(environment=environment, sequence=sequence, digest=digest))
        log.info("policy published", extra={"environment": environment, "sequence": sequence,
                                            "revision": revision, "bytes": len(bundle)})
        return sequence

"""The policy-feed child: follows the environment's policy (partout.agent.feed says how),
verifies each bundle against the pinned master key, installs it (PolicyCache) and tells
the runner the policy now in force. It owns the record of the last accepted bundle.

It has a thread of its own: verifying and extracting a bundle is disk work that must not
hold a worker of the shared pool (fifty agents in one process get a bundle at once).
Following never waits: the subscription and the direct get are futures looked at on a
timer tick. When they keep failing on one connection, the bus child is asked for a new
one (`Reconnect`) and following starts over when it is up: a loop of messages, not of
calls, so repeated failures never nest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from partout import subjects
from partout.actors.futures import PendingFutures
from partout.actors.supervisor import Send, ThreadedChild, tell_later, tell_quietly
from partout.agent.credentials import Credentials
from partout.agent.feed import PolicyValue, direct_get_value, policy_update, warn_dropped
from partout.agent.messages import (
    BUS, POLICY_FEED, RUNNER, AgentContext, AnnouncePolicy, BundleRefused, BusReady, PolicyInForce, Reconnect,
    Standing, UpdatesDropped,
)
from partout.agent.notices import Notices
from partout.agent.policy import PolicyCache, PolicyRefused
from partout.errors import StateError
from partout.retry import Backoff

if TYPE_CHECKING:
    from partout.bus.facade import Bus
    from partout.bus.messages import BusMessage

log = logging.getLogger(__name__)

FAILURES_BEFORE_RECONNECT = 3
REQUEST_TIMEOUT = 10.0
# the futures of the subscription and the direct get are looked at after 5 ms, then with
# pauses doubling up to 100 ms: a policy at start is not held up by the poll
FIRST_POLL, MAX_POLL = 0.005, 0.1


@dataclass(frozen=True)
class _Update:
    value: PolicyValue | None  # None: dropped (not the policy stream's republish of our key)
    bus: Bus


@dataclass(frozen=True)
class _Poll:
    pass


@dataclass(frozen=True)
class _Retry:
    bus: Bus


def received(on_policy: Callable[[int], None] | None, value: PolicyValue) -> None:
    """Tell the `on_policy` callback a value arrived (benches time the distribution with it)."""
    if on_policy is not None:
        try:
            on_policy(value.revision)
        except Exception:
            log.exception("on_policy callback failed")


class PolicyFeedActor(ThreadedChild):
    name = POLICY_FEED

    def __init__(self, parent: pykka.ActorRef[Any], context: AgentContext) -> None:
        super().__init__(parent)
        self._context = context
        self._notices = Notices()
        self._retries = Backoff(first=1.0, limit=30.0)
        self._pending: PendingFutures[tuple[str, Bus]] = PendingFutures()
        self._bus: Bus | None = None
        self._subscribed: Bus | None = None  # the connection our subscription lives on
        self._subscription = ""
        self._failures = 0
        self._following = False
        self._dropped = 0
        self._poll_pause = FIRST_POLL
        self._polling = False  # a _Poll is on its way
        self._credentials: Credentials | None = None
        self._policies: PolicyCache | None = None
        self._in_force = 0

    def begin(self) -> None:
        config = self._context.config
        self._credentials = credentials = Credentials.load(config.state_dir)
        self._policies = policies = PolicyCache(config.state_dir, keep=config.keep_policies)
        # the last good policy stays in force while offline, and after a restart
        self._in_force = credentials.last_sequence if policies.current() is not None else 0

    def handle(self, message: object) -> object:
        match message:
            case BusReady(bus):
                self._bus = bus
                self._follow()
            case _Update(update, bus) if bus is self._bus:
                self._on_update(update)
            case _Poll():
                self._poll()
            case _Retry(bus) if bus is self._bus:
                self._follow()
            case AnnouncePolicy():
                self._announce()
            case _Update() | _Retry():
                pass  # from a connection already replaced
            case _:
                return super().handle(message)
        return None

    # -- following ---------------------------------------------------------------------

    def _follow(self) -> None:
        """Subscribe on the current connection (once), then read the current value."""
        bus = self._bus
        assert bus is not None
        environment = self._context.environment
        if self._subscribed is not bus:
            me, on_policy = self.actor_ref, self._context.on_policy

            def deliver(update: BusMessage) -> None:
                # on the bus loop thread: only read the headers, and tell
                value = policy_update(update, environment)
                if value is not None:
                    received(on_policy, value)
                tell_quietly(me, _Update(value, bus))

            self._pending.add(("subscribe", bus), bus.subscribe(subjects.policy_updates(environment), deliver))
        else:
            self._pending.add(("get", bus), bus.request(subjects.policy_direct_get(environment), b"",
                                                        timeout=REQUEST_TIMEOUT))
        self._poll_pause = FIRST_POLL
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        if not self._polling and len(self._pending):
            self._polling = True
            tell_later(self._poll_pause, self.actor_ref, _Poll())
            self._poll_pause = min(MAX_POLL, self._poll_pause * 2)

    def _poll(self) -> None:
        self._polling = False
        for (step, bus), result, error in self._pending.finished():
            if bus is not self._bus:
                continue
            if error is not None:
                self._failed(bus, error)
            elif step == "subscribe":
                self._subscribed, self._subscription = bus, str(result)
                self._follow()
            else:
                self._read(bus, result)
        self._schedule_poll()

    def _read(self, bus: Bus, reply: object) -> None:
        from partout.bus.messages import BusMessage

        assert isinstance(reply, BusMessage)
        try:
            value = direct_get_value(reply, self._context.environment)
        except Exception as error:
            self._failed(bus, error)
            return
        self._failures = 0
        self._retries.reset()
        first, self._following = not self._following, True
        handed_over = False
        if value is not None:
            received(self._context.on_policy, value)
            handed_over = self._on_value(value, then_running=first)
        if first and not handed_over:
            self.parent.tell(Standing("running"))

    def _failed(self, bus: Bus, error: Exception) -> None:
        """Try again later; after a few failures, connect anew: the server re-asks the master's
        auth callout, so a connection let in with the wrong permissions (e.g. while the master
        was overloaded) does not stay stuck."""
        self._failures += 1
        log.warning("cannot follow the policy yet, retrying",
                    extra={"agent_id": self._context.agent_id, "error": f"{type(error).__name__}: {error}"})
        if self._failures >= FAILURES_BEFORE_RECONNECT:
            self._failures = 0
            self.parent.tell(Send(BUS, Reconnect("the policy cannot be followed on this connection")))
        else:
            tell_later(self._retries.next(), self.actor_ref, _Retry(bus))

    def _on_update(self, value: PolicyValue | None) -> None:
        if value is None:
            self._dropped += 1
            warn_dropped(self._dropped, self._context.agent_id, self._context.environment)
            self.parent.tell(UpdatesDropped(self._dropped))
            return
        self._on_value(value)

    # -- verify and install ------------------------------------------------------------------

    def _on_value(self, value: PolicyValue, *, then_running: bool = False) -> bool:
        """Verify and install `value`; True when the runner was told to apply it."""
        if value.operation != "put" or not value.value:
            log.warning("policy deleted on the master; keeping the policy in force")
            return False
        credentials, policies = self._credentials, self._policies
        assert credentials is not None and policies is not None
        try:
            accepted = policies.accept(value.value, master_public_key=self._context.master_public_key,
                                             environment=self._context.environment,
                                             last_sequence=credentials.last_sequence,
                                             last_digest=credentials.last_digest)
            if not accepted.already_applied:
                credentials.record_bundle(accepted.sequence, accepted.digest)
        except (PolicyRefused, StateError) as refusal:
            self._notices.say(f"bundle refused: {refusal}", "policy bundle refused: %s; the last good policy "
                              "stays in force", refusal)
            self.parent.tell(Send(RUNNER, BundleRefused(str(refusal))))
            return False
        if self._notices.last is not None and self._notices.last.startswith("bundle refused: "):
            self._notices.say("bundle accepted", "policy bundle %s accepted again after a refused one",
                              accepted.sequence)
        if accepted.sequence == self._in_force:
            return False  # a redelivery of what is already in force
        self._in_force = accepted.sequence
        self.parent.tell(Send(RUNNER, PolicyInForce(accepted.sequence, accepted.digest, accepted.directory, "run",
                                                    then_running=then_running)))
        return True

    def _announce(self) -> None:
        assert self._credentials is not None and self._policies is not None
        current = self._policies.current()
        if current is not None and self._in_force:
            self.parent.tell(Send(RUNNER, PolicyInForce(self._in_force, self._credentials.last_digest or "",
                                                        current, "start")))

    def on_stop(self) -> None:
        # a successor subscribes anew on the same connection; replaced connections take theirs along
        if self._subscribed is not None and self._subscribed is self._bus:
            self._subscribed.unsubscribe(self._subscription)


__all__ = ["PolicyFeedActor"]

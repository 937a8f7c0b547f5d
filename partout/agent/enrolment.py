"""Enrolment: ask the master on `partout.enrol` until it approves, refuses, or we stop.

The connection used here is the pending one (inbox `_INBOX_<public key>`): the auth
callout lets it reach nothing but enrolment. Once approved, the caller closes it and
connects again, and the new connection gets the agent's permissions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from partout import subjects
from partout.agent.notices import Notices
from partout.errors import PartoutError
from partout.retry import Backoff
from partout.wire import decode, encode
from partout.wire.fleet import EnrolReply, EnrolRequest

log = logging.getLogger(__name__)


class EnrolmentRefused(PartoutError):
    """The master refused this agent (revoked, bad request, wrong key), or we refuse the master."""


class EnrolmentTimeout(PartoutError):
    """No approval within the time allowed (`partout agent --once --wait`)."""


class Stopped(PartoutError):
    """The agent was asked to stop while it waited."""


CONNECT_STALL = 30.0
REQUESTS_BEFORE_RECONNECT = 4


def reconnect_pauses() -> Backoff:
    """The pauses before replacing a connection that was closed for good (the enrolment and
    the bus child both use it)."""
    return Backoff(first=1.0, limit=30.0)


def stop_quietly(bus: Any, timeout: float = 15.0) -> None:
    """Stop a bus; one stuck in a hung connection attempt may not stop cleanly, and must not
    take the agent down with it (its threads are daemons)."""
    try:
        bus.stop(timeout=timeout)
    except Exception as error:
        log.warning("NATS connection did not close cleanly", extra={"error": f"{type(error).__name__}: {error}"})


class ConnectionLost(PartoutError):
    """The connection is closed for good (nats-py gives up after an authorization error on
    reconnect, e.g. when the auth callout was too slow): the caller must connect anew."""


class ConnectionWaiter:
    """Follows a Bus's connection state so that requests are sent only once connected
    (a request sent before would wait for the connection and fire long after its caller gave up)."""

    def __init__(self, bus: Any, *, stall: float = CONNECT_STALL) -> None:
        self.connected = threading.Event()
        self.state = "connecting"
        self.stall_deadline = time.monotonic() + stall
        bus.watch_connection(self._on_state)

    def _on_state(self, state: Any) -> None:
        self.state = state.state
        if state.state in ("connected", "reconnected"):
            self.connected.set()
        else:
            self.connected.clear()

    def wait(self, stopping: threading.Event, deadline: float | None) -> None:
        while not self.connected.wait(0.05):
            if stopping.is_set():
                raise Stopped("agent stopped")
            if self.state == "closed":
                raise ConnectionLost("the NATS connection was closed")
            if self.state == "refused":
                # the bus backs off by itself while NATS refuses our key: a new connection
                # would only start its pauses over
                self.stall_deadline = time.monotonic() + CONNECT_STALL
            elif time.monotonic() > self.stall_deadline:
                # a connection attempt can hang when the server drops it mid-handshake (seen
                # with a thousand agents connecting at once): start over with a new one
                raise ConnectionLost("no NATS connection yet; connecting anew")
            if deadline is not None and time.monotonic() > deadline:
                raise EnrolmentTimeout("could not reach NATS (or the master's auth callout) in time")


def enrol(
    bus: Any, make_request: Callable[[], EnrolRequest], *, stopping: threading.Event,
    first_interval: float, max_interval: float, request_timeout: float, deadline: float | None = None,
    refused_max_wait: float | None = None, notices: Notices | None = None,
) -> EnrolReply:
    """The approving (or refusing) reply; waits out `pending` with doubling pauses.

    With `refused_max_wait`, a refusal is waited out too (the master may refuse for a while:
    too many pending agents, a rate limit), with pauses doubling up to it, and its reason is
    logged once; without it, a refusal raises EnrolmentRefused at once (`--once`).
    `make_request` signs a fresh request for each attempt (signatures carry a timestamp)."""
    waiter = ConnectionWaiter(bus)
    limit = max(first_interval, max_interval)
    pending_pauses = Backoff(first=first_interval, limit=limit, jitter=0)  # doubling, as documented
    refused_pauses = Backoff(first=first_interval, limit=max(first_interval, refused_max_wait or limit), jitter=0)
    failures = 0
    notices = notices or Notices()
    while True:
        waiter.wait(stopping, deadline)
        reply: EnrolReply | None = None
        try:
            request = make_request()
            message = bus.request(subjects.enrol(request.public_key), encode(request), timeout=request_timeout)
            received = message.get(timeout=request_timeout + 5)
            reply = decode(EnrolReply, received.data)
            failures = 0
            if reply is None:
                log.warning("malformed enrolment reply ignored")
        except Exception as error:  # no responder (master down), timeout: try again later
            failures += 1
            log.info("enrolment request failed, retrying", extra={"error": str(error)})
            if failures >= REQUESTS_BEFORE_RECONNECT:
                # replies may be lost on a connection the server half-closed: start over
                raise ConnectionLost("enrolment requests keep failing; connecting anew") from error
        if reply is not None:
            if reply.status == "approved":
                return reply
            if reply.status == "refused":
                reason = reply.reason or "no reason given"
                if refused_max_wait is None:
                    raise EnrolmentRefused(f"the master refused enrolment: {reason}")
                notices.say(f"enrolment refused: {reason}", "the master refused enrolment (%s); asking again "
                            "with pauses doubling up to %.0f s", reason, refused_max_wait)
                if stopping.wait(refused_pauses.next()):
                    raise Stopped("agent stopped")
                continue
            notices.say("pending", "enrolment pending: approve this agent on the master "
                        "(partout agents list --status pending; partout agents approve ID)")
        pause = pending_pauses.next()
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - time.monotonic()))
        if stopping.wait(pause):
            raise Stopped("agent stopped")
        if deadline is not None and time.monotonic() >= deadline:
            raise EnrolmentTimeout("not approved in time; approve it with `partout agents approve ID`")


def enrol_agent(config: Any, credentials: Any, facts: Any, *, stopping: threading.Event, deadline: float | None,
                notices: Notices | None = None) -> EnrolReply:
    """Connect with the pending identity (inbox `_INBOX_<public key>`) and enrol until
    approved; a connection nats-py closes for good is replaced after a pause (`reconnect_pauses`).
    A daemon (no deadline) waits out refusals; a one-shot run fails on the first."""
    from partout.agent.facts import facts_payload
    from partout.bus.facade import Bus
    from partout.bus.messages import BusOptions

    payload = facts_payload(facts)
    hostname = str(facts.hostname)

    def make_request() -> EnrolRequest:
        request = EnrolRequest(public_key=credentials.public_key, hostname=hostname, facts=payload,
                               token=config.token)
        return request.signed_by(credentials.signer())  # type: ignore[return-value]

    options = BusOptions(servers=config.servers, name=f"partout-agent-{hostname}", seed_file=credentials.seed_path,
                         inbox_prefix=subjects.inbox_prefix(credentials.public_key),
                         refused_max_wait=config.refused_max_wait)
    notices = notices or Notices()
    reconnects = reconnect_pauses()
    while True:
        bus = Bus.start(options)
        bus.watch_connection(lambda state: notices.on_connection(state, config.refused_max_wait))
        try:
            return enrol(bus, make_request, stopping=stopping, first_interval=config.enrol_interval,
                         max_interval=config.enrol_max_interval, request_timeout=config.request_timeout,
                         deadline=deadline, notices=notices,
                         refused_max_wait=config.refused_max_wait if deadline is None else None)
        except ConnectionLost:
            pause = reconnects.next()
            log.warning("NATS connection closed, connecting again", extra={"pause": round(pause, 2)})
            if stopping.wait(pause):
                raise Stopped("agent stopped") from None
        finally:
            stop_quietly(bus)  # the pending connection: the next one gets the agent's permissions


def check_master_key(offered: str | None, *, given: str | None, pinned: str | None) -> str:
    """The master key to pin, or EnrolmentRefused when it contradicts what we trust.

    A key given on the command line wins; else the pinned one; else the first one seen
    (trust on first use, said loudly)."""
    if given:
        if offered and offered != given:
            raise EnrolmentRefused(
                f"the master answered with key {offered} but --master-key is {given}; "
                f"check that this is your master, or fix --master-key")
        return given
    if pinned:
        if offered and offered != pinned:
            raise EnrolmentRefused(
                f"the master's key {offered} differs from the key pinned at enrolment ({pinned}); "
                f"refusing it. If the master's key really changed, re-enrol with --master-key")
        return pinned
    if not offered:
        raise EnrolmentRefused("the master approved us without telling its public key; cannot verify policies")
    return offered  # trust on first use: the identity pins it and says so loudly


__all__ = ["reconnect_pauses", "stop_quietly", "ConnectionLost", "ConnectionWaiter", "EnrolmentRefused", "EnrolmentTimeout", "Stopped", "check_master_key", "enrol", "enrol_agent"]

"""The master's actor tree: a one-for-one supervisor and the base of its children.

    supervisor = Supervisor.start([ChildSpec("store", start_store), ChildSpec("ingest", start_ingest)])
    supervisor.ask(StartChildren(("store", "ingest")), timeout=30)   # in order; each answers once ready
    address("ingest").tell(message)        # reaches the current incarnation, buffered while it restarts

A child that crashes (an exception escapes its `handle`) tells its supervisor, which logs the
crash once with its cause and starts a fresh child after a `Backoff` delay (0.5 s, doubling up
to 30 s; a child that then runs for STABLE_AFTER seconds starts again from 0.5 s). Nothing
outside holds a child's ref: siblings, the bus and the Master reach it through its `Address`,
which keeps the messages sent while it is down and hands them to the next incarnation.

Children are told, never asked: a message that wants an answer carries its own future. So
an exception in a child is always a crash of that child, never an error for a caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pykka

# the pieces both actor trees share; the trees differ in how a child is reached: the agent's
# by name through its parent (Send), the master's through an Address that its bus
# subscriptions deliver to directly, whichever incarnation runs
from partout.actors.supervisor import STABLE_AFTER, Crash, InjectedCrash, Restart, tell_later
from partout.master.address import Address
from partout.retry import Backoff

log = logging.getLogger(__name__)

FIRST_RESTART = 0.5  # seconds
MAX_RESTART = 30.0
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 3.0  # seconds a child gets to stop; `partout master` exits within 5 s of SIGTERM


@dataclass(frozen=True)
class Ready:
    """Answered (ask) once the child has started; the one message a child is asked."""


@dataclass(frozen=True)
class ChildFailed:
    name: str
    incarnation: int
    error: BaseException = field(compare=False)


@dataclass(frozen=True)
class StartChildren:
    """Start these children in this order, each once the previous one is ready."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class CurrentRef:
    """Ask: the current ref of a child (None while it is down)."""

    name: str


@dataclass(frozen=True)
class Restarts:
    """Ask: how many times each child has been restarted."""


@dataclass(frozen=True)
class Child:
    """What a child knows of its place in the tree: its parent, its name, which start this is."""

    parent: pykka.ActorRef[Any] | None
    name: str
    incarnation: int = 0
    address: Address | None = None  # where messages to this child go, whichever incarnation


def fail_future(message: object, error: BaseException) -> None:
    future = getattr(message, "future", None)
    if isinstance(future, pykka.Future):
        try:
            future.set_exception((type(error), error, error.__traceback__))
        except Exception:  # already answered before the crash
            pass


class SupervisedActor(pykka.ThreadingActor):
    """A child of a Supervisor; subclasses implement `handle` (and `start_up`/`on_stop`)."""

    # a child stuck in a call (a store on a dead disk) must not keep the process alive
    # after the supervisor gave up waiting for it: SIGTERM means exit
    use_daemon_thread = True

    def __init__(self, *, child: Child | None = None) -> None:
        super().__init__()
        self._child = child or Child(None, type(self).__name__)  # None: unsupervised (a test's)
        self._crash: Exception | None = None

    def start_up(self) -> None:
        """What on_start does; an exception here is a crash like any other."""

    def handle(self, message: object) -> None:
        super().on_receive(message)  # Pykka logs it as unexpected

    def on_start(self) -> None:
        try:
            self.start_up()
        except Exception as error:
            self.crashed(error)

    def on_receive(self, message: object) -> object:
        if isinstance(message, Ready):
            if self._crash is not None:
                raise self._crash  # to the asker: this child did not come up
            return True
        if self._crash is not None:  # between its crash and its stop: for the next incarnation
            if self._child.address is not None:
                self._child.address.tell(message)
            else:
                fail_future(message, pykka.ActorDeadError(f"{self._child.name} crashed"))
            return None
        try:
            if isinstance(message, Crash):
                raise InjectedCrash(message.reason)
            self.handle(message)
        except Exception as error:
            self.crashed(error, message)
        return None

    def crashed(self, error: Exception, message: object = None) -> None:
        """Report to the parent (which logs it, once) and stop: on_stop still cleans up."""
        self._crash = error
        fail_future(message, error)
        if self._child.address is not None:
            self._child.address.detach(self.actor_ref)
        if self._child.parent is not None:
            try:
                self._child.parent.tell(ChildFailed(self._child.name, self._child.incarnation, error))
            except pykka.ActorDeadError:
                pass  # the tree is stopping
        else:
            log.error("actor failed", exc_info=error, extra={"actor": self._child.name})
        self.stop()


StartChild = Callable[[Child], pykka.ActorRef[Any]]


@dataclass(frozen=True)
class ChildSpec:
    name: str
    start: StartChild
    address: Address = field(default_factory=Address)


class Supervisor(pykka.ThreadingActor):
    """One-for-one: a crashed child alone is restarted; the others keep running."""

    use_daemon_thread = True

    def __init__(self, specs: Sequence[ChildSpec], *, backoff: Backoff | None = None) -> None:
        super().__init__()
        self._specs = {spec.name: spec for spec in specs}
        self._order: list[str] = []  # started, in order (stopped in reverse)
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._incarnations: dict[str, int] = {}
        self._started_at: dict[str, float] = {}
        self._restarts = backoff or Backoff(first=FIRST_RESTART, limit=MAX_RESTART)
        self._restart_counts: dict[str, int] = {}
        self._stopping = False

    def on_receive(self, message: object) -> object:
        match message:
            case StartChildren(names):
                for name in names:
                    self._start(name).ask(Ready(), timeout=READY_TIMEOUT)
                return None
            case ChildFailed():
                self._failed(message)
            case Restart(name):
                if not self._stopping and name not in self._refs:
                    self._restart_counts[name] = self._restart_counts.get(name, 0) + 1
                    self._start(name)
            case CurrentRef(name):
                return self._refs.get(name)
            case Restarts():
                return dict(self._restart_counts)
            case _:
                return super().on_receive(message)
        return None

    def _start(self, name: str) -> pykka.ActorRef[Any]:
        spec = self._specs[name]
        incarnation = self._incarnations.get(name, -1) + 1
        self._incarnations[name] = incarnation
        ref = spec.start(Child(self.actor_ref, name, incarnation, spec.address))
        self._refs[name] = ref
        self._started_at[name] = time.monotonic()
        if name not in self._order:
            self._order.append(name)
        spec.address.attach(ref)
        return ref

    def _failed(self, failure: ChildFailed) -> None:
        name = failure.name
        if failure.incarnation != self._incarnations.get(name) or name not in self._refs:
            return  # an older incarnation, already replaced
        self._specs[name].address.detach()
        del self._refs[name]
        if self._stopping:
            return
        if time.monotonic() - self._started_at.get(name, 0.0) >= STABLE_AFTER:
            self._restarts.reset(name)
        delay = self._restarts.next(name)
        error = failure.error
        log.error("master actor %s crashed (%s: %s); restarting it in %.1f s", name, type(error).__name__, error,
                  delay, exc_info=(type(error), error, error.__traceback__),
                  extra={"actor": name, "error": repr(error), "restart_in": delay})
        tell_later(delay, self.actor_ref, Restart(name))

    def on_stop(self) -> None:
        self._stopping = True
        for name in reversed(self._order):
            ref = self._refs.pop(name, None)
            self._specs[name].address.detach()
            if ref is not None and ref.is_alive():
                try:
                    ref.stop(timeout=STOP_TIMEOUT)
                except pykka.Timeout:
                    log.warning("master actor did not stop in time", extra={"actor": name})


__all__ = [
    "Child", "ChildFailed", "ChildSpec", "Crash", "CurrentRef", "InjectedCrash", "Ready", "Restart", "Restarts",
    "StartChildren", "SupervisedActor", "Supervisor", "tell_later",
]

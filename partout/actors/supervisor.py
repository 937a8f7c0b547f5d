"""One-for-one supervision for Pykka actors (Pykka has none; Erlang/OTP is the model).

A `Supervisor` starts its children from one table (name -> factory), routes messages
between them by name (`Send`), and restarts a child that failed, after a `Backoff`
delay, logging the crash once with its cause. A child never holds a sibling's ref: it
tells its parent `Send(name, message)`, so a message for a child that is restarting is
kept and handed to its successor instead of being lost.

A child is a `PooledChild` (served by the shared worker pool; it must never block) or
a `ThreadedChild` (a daemon thread of its own, for work that blocks: an Engine run, a
compile, an enrolment loop). Either turns an exception in `handle` into one
`ChildFailed` told to the parent; the child then stops, and what was still in its
inbox goes back to the parent (`Bounced`) for the successor.

    class Echo(PooledChild):
        name = "echo"
        def handle(self, message: object) -> None: ...

    class Tree(Supervisor):
        def __init__(self) -> None:
            super().__init__({"echo": lambda parent: Echo.start(parent)}, restarts=Backoff(first=0.5, limit=60))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pykka

from partout.actors.pool import PooledActor, WorkerPool, shared_pool
from partout.errors import PartoutError
from partout.retry import Backoff

log = logging.getLogger(__name__)

# a child that ran this long since its last restart starts its backoff over
STABLE_AFTER = 60.0

ChildRef = pykka.ActorRef[Any]
ChildFactory = Callable[[ChildRef], ChildRef]


@dataclass(frozen=True)
class Send:
    """Deliver `message` to the child named `to` (kept while it restarts)."""

    to: str
    message: object


@dataclass(frozen=True)
class ChildFailed:
    """Told by a child whose `handle` raised: `error` is the cause."""

    name: str
    error: BaseException


@dataclass(frozen=True)
class Bounced:
    """A message the failed child `name` had not handled yet, for its successor."""

    name: str
    message: object


@dataclass(frozen=True)
class Restart:
    name: str


@dataclass(frozen=True)
class _Stable:
    name: str
    generation: int


@dataclass(frozen=True)
class Wake:
    """Told to a pooled actor right after its start: it runs `on_start` at its first message
    (partout.actors.pool), and a child must begin without waiting for one."""


@dataclass(frozen=True)
class Crash:
    """Test hook: the child raises `InjectedCrash(reason)` as if its code had failed, and is
    restarted like after any crash. Harmless: it touches nothing but the child's own life."""

    reason: str = "crash injected by a test"


class InjectedCrash(PartoutError):
    """What a child raises on `Crash`."""


class Tellable(Protocol):
    """An actor ref, or anything that forwards to one (the master's `Address`)."""

    def tell(self, message: Any) -> None: ...


def tell_quietly(ref: Tellable, message: object) -> None:
    """Tell `ref` unless it is dead (a timer or a bus callback outliving its actor)."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        pass


def tell_later(delay: float, ref: Tellable, message: object) -> None:
    """Tell `ref` `message` in `delay` seconds, from the shared pool's timer: actors never sleep."""
    shared_pool().call_later(delay, lambda: tell_quietly(ref, message))


class Child(pykka.Actor):
    """What both child runtimes share: see the module docstring."""

    name: ClassVar[str] = "child"

    def __init__(self, parent: pykka.ActorRef[Any], **runtime: Any) -> None:
        super().__init__(**runtime)
        self.parent = parent
        self.failed = False

    def begin(self) -> None:
        """The child's start (Pykka's `on_start`, whose failures Pykka only logs): a failure
        here is a crash like one in `handle`."""

    def handle(self, message: object) -> object:
        """The child's behaviour; the base class passes unknown messages to Pykka (which logs them)."""
        return super().on_receive(message)

    def on_start(self) -> None:
        try:
            self.begin()
        except Exception as error:
            self._fail(error)

    def on_receive(self, message: object) -> object:
        if self.failed:
            tell_quietly(self.parent, Bounced(self.name, message))
            return None
        try:
            if isinstance(message, Crash):
                raise InjectedCrash(message.reason)
            if isinstance(message, Wake):
                return None
            return self.handle(message)
        except Exception as error:
            self._fail(error)
            return None

    def _fail(self, error: Exception) -> None:
        self.failed = True
        tell_quietly(self.parent, ChildFailed(self.name, error))
        self.stop()  # after what is already queued: those messages bounce to the parent

    def bounce(self, message: object) -> None:
        """Hand `message` back to the parent for this child's successor (from `on_stop` of a
        failed child that holds work it has not finished, such as unacknowledged reports)."""
        tell_quietly(self.parent, Bounced(self.name, message))


class PooledChild(Child, PooledActor):
    """A child served by the shared worker pool: `handle` must return quickly."""

    def __init__(self, parent: pykka.ActorRef[Any], *, pool: WorkerPool | None = None) -> None:
        super().__init__(parent, pool=pool)


class ThreadedChild(Child, pykka.ThreadingActor):
    """A child with a daemon thread of its own: `handle` may block (an Engine run)."""

    use_daemon_thread = True

    def __init__(self, parent: pykka.ActorRef[Any]) -> None:
        super().__init__(parent)


class Supervisor(PooledActor):
    """Starts children by name, routes `Send`s to them and restarts the ones that fail."""

    def __init__(self, children: Mapping[str, ChildFactory], *, restarts: Backoff,
                 stable_after: float = STABLE_AFTER) -> None:
        super().__init__()
        self._factories = dict(children)
        self._restarts = restarts
        self._stable_after = stable_after
        self._children: dict[str, ChildRef] = {}
        self._waiting: dict[str, list[object]] = {}  # messages for a child not running now
        self._generations: dict[str, int] = {}
        self.restart_counts: dict[str, int] = {}
        self.stopping = False

    # -- for subclasses --------------------------------------------------------------

    def start_child(self, name: str) -> None:
        """Start `name` (again), then hand it what waited for it."""
        self._children[name] = ref = self._factories[name](self.actor_ref)
        tell_quietly(ref, Wake())
        generation = self._generations[name] = self._generations.get(name, 0) + 1
        tell_later(self._stable_after, self.actor_ref, _Stable(name, generation))
        self.child_started(name, restarted=generation > 1)
        for message in self._waiting.pop(name, []):
            self.send(name, message)

    def child_started(self, name: str, *, restarted: bool) -> None:
        """Hook: `name` was just started; tell it what it must know first."""

    def child_restarting(self, name: str, error: BaseException, delay: float) -> None:
        """Hook: `name` failed and starts again in `delay` seconds."""

    def send(self, name: str, message: object) -> None:
        ref = self._children.get(name)
        try:
            if ref is not None:
                ref.tell(message)
                return
        except pykka.ActorDeadError:
            pass  # it failed; its ChildFailed is on its way
        self._waiting.setdefault(name, []).append(message)

    def running(self) -> list[tuple[str, ChildRef]]:
        """The children now running, in start order."""
        return list(self._children.items())

    def forget(self, name: str) -> ChildRef | None:
        """Take `name` out of the tree (it finished its job); the caller stops it."""
        self._waiting.pop(name, None)
        return self._children.pop(name, None)

    # -- messages ----------------------------------------------------------------------

    def on_receive(self, message: object) -> object:
        match message:
            case Send(to, inner):
                self.send(to, inner)
            case ChildFailed(name, error):
                self._on_failure(name, error)
            case Bounced(name, inner):
                self._waiting.setdefault(name, []).append(inner)
            case Restart(name):
                if not self.stopping and name not in self._children:
                    self.start_child(name)
            case Wake():
                pass
            case _Stable(name, generation):
                if self._generations.get(name) == generation and name in self._children:
                    self._restarts.reset(name)
            case _:
                return self.handle(message)
        return None

    def handle(self, message: object) -> object:
        """The subclass's own messages."""
        return super().on_receive(message)

    def _on_failure(self, name: str, error: BaseException) -> None:
        self._children.pop(name, None)
        if self.stopping:
            return
        delay = self._restarts.next(name)
        self.restart_counts[name] = self.restart_counts.get(name, 0) + 1
        log.warning("actor %s failed: %s: %s; restarting it in %.1f s", name, type(error).__name__, error, delay,
                    exc_info=(type(error), error, error.__traceback__),
                    extra={"actor": name, "error": f"{type(error).__name__}: {error}"})
        self.child_restarting(name, error, delay)
        tell_later(delay, self.actor_ref, Restart(name))


__all__ = ["Bounced", "Child", "ChildFactory", "ChildFailed", "Crash", "InjectedCrash", "PooledChild", "Restart",
           "STABLE_AFTER", "Send", "Supervisor", "Tellable", "ThreadedChild", "Wake", "tell_later", "tell_quietly"]

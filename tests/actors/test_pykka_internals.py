"""The Pykka internals `partout/actors/pool.py` builds `PooledActor` on, checked one by one.

Pykka keeps these private (`_threading`, `_envelope`, `messages._ActorStop`, the
`_create_actor_inbox` / `_create_future` / `_start_actor_loop` hooks, the
`_actor_loop_*` steps). pyproject pins Pykka to the minor release tested here; when a
new one is allowed, this file says exactly which of them moved, instead of actors
hanging or messages vanishing at run time.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
from importlib import import_module, metadata
from typing import Any

import pykka
import pytest

from partout.actors.pool import PooledActor, WorkerPool

PYKKA = f"Pykka {metadata.version('pykka')}"

# sha256 (first 16 hex digits) of the Pykka 4.5 source of the loop steps that
# PooledActor re-implements per message (_drain, _handle_envelope, _refuse).
COPIED_LOOP_STEPS = {
    "_actor_loop_running": "4109f316d2be434e",
    "_actor_loop_teardown": "1b35ca263372af74",
    "_actor_loop": "961c1b2b624061fa",
}


def changed(what: str) -> str:
    return f"{PYKKA} changed {what}, which partout/actors/pool.py relies on: re-read Pykka's source and adapt PooledActor"


def internal(module: str, name: str) -> Any:
    try:
        return getattr(import_module(module), name)
    except (ImportError, AttributeError):
        pytest.fail(changed(f"{module}.{name} (it is gone)"))


class RecordingInbox:
    """An inbox that keeps what Pykka puts in it, to see the envelopes Pykka builds."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    def put(self, envelope: Any, /) -> None:
        self.envelopes.append(envelope)

    def get(self) -> Any:
        return self.envelopes.pop(0)

    def empty(self) -> bool:
        return not self.envelopes


class HookProbe(pykka.Actor):
    """An actor type made the way PooledActor is: through Pykka's three creation hooks."""

    calls: list[str] = []

    @staticmethod
    def _create_actor_inbox() -> RecordingInbox:  # type: ignore[override]
        HookProbe.calls.append("_create_actor_inbox")
        return RecordingInbox()

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        HookProbe.calls.append("_create_future")
        future: pykka.Future[Any] = internal("pykka._threading", "ThreadingFuture")()
        return future

    def _start_actor_loop(self) -> None:
        HookProbe.calls.append("_start_actor_loop")


@pytest.fixture
def probe() -> Any:
    HookProbe.calls = []
    ref = HookProbe.start()
    yield ref
    pykka.ActorRegistry.unregister(ref)


def test_the_threading_future_is_a_pykka_future() -> None:
    future_type = internal("pykka._threading", "ThreadingFuture")
    assert issubclass(future_type, pykka.Future), changed("pykka._threading.ThreadingFuture (no longer a Future)")
    future = future_type()
    future.set("answer")
    assert future.get(timeout=1) == "answer", changed("ThreadingFuture.set/get")


def test_the_envelope_type_carries_a_message_and_a_reply_future() -> None:
    envelope_type = internal("pykka._envelope", "Envelope")
    envelope = envelope_type("hello", reply_to=None)
    assert (envelope.message, envelope.reply_to) == ("hello", None), changed("Envelope's fields message/reply_to")


def test_the_stop_message_type_exists() -> None:
    stop_type = internal("pykka.messages", "_ActorStop")
    assert isinstance(stop_type, type), changed("pykka.messages._ActorStop (no longer a class)")


def test_start_builds_the_actor_through_the_three_hooks(probe: Any) -> None:
    assert HookProbe.calls == ["_create_actor_inbox", "_start_actor_loop"], changed(
        "Actor.start/__init__ (the _create_actor_inbox and _start_actor_loop hooks are no longer called once each)"
    )
    assert isinstance(probe.actor_inbox, RecordingInbox), changed("ActorRef.actor_inbox (not the hook's inbox)")


def test_tell_puts_an_envelope_without_reply_into_the_inbox(probe: Any) -> None:
    probe.tell("told")
    [envelope] = probe.actor_inbox.envelopes
    assert isinstance(envelope, internal("pykka._envelope", "Envelope")), changed("ActorRef.tell (no Envelope put)")
    assert (envelope.message, envelope.reply_to) == ("told", None), changed("ActorRef.tell's envelope")


def test_ask_puts_an_envelope_with_a_future_made_by_the_hook(probe: Any) -> None:
    future = probe.ask("asked", block=False)
    [envelope] = probe.actor_inbox.envelopes
    assert HookProbe.calls[-1] == "_create_future", changed("ActorRef.ask (the _create_future hook is not used)")
    assert envelope.message == "asked" and envelope.reply_to is future, changed("ActorRef.ask's envelope")


def test_stop_sends_the_stop_message_with_a_reply_future(probe: Any) -> None:
    probe.stop(block=False)
    [envelope] = probe.actor_inbox.envelopes
    assert isinstance(envelope.message, internal("pykka.messages", "_ActorStop")), changed(
        "ActorRef.stop (it no longer sends messages._ActorStop through the inbox)"
    )
    assert envelope.reply_to is not None, changed("ActorRef.stop (no reply future on the stop envelope)")


@pytest.mark.parametrize("name", ["_actor_loop_setup", "_actor_loop_teardown", "_handle_receive",
                                  "_handle_failure", "_stop", "on_failure"])
def test_the_loop_steps_pooled_actor_calls_still_exist(name: str) -> None:
    assert callable(getattr(pykka.Actor, name, None)), changed(f"Actor.{name} (it is gone)")


def test_handle_receive_answers_the_stop_message_by_stopping() -> None:
    stopped = threading.Event()

    class Stoppable(PooledActor):
        def on_stop(self) -> None:
            stopped.set()

    actor = Stoppable(pool=WorkerPool(size=1))
    actor._handle_receive(internal("pykka.messages", "_ActorStop")())
    assert stopped.is_set() and actor.actor_stopped.is_set(), changed("Actor._handle_receive of _ActorStop")


@pytest.mark.parametrize(("name", "digest"), sorted(COPIED_LOOP_STEPS.items()))
def test_the_loop_pooled_actor_copies_is_unchanged(name: str, digest: str) -> None:
    source = inspect.getsource(getattr(pykka.Actor, name))
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == digest, changed(
        f"Actor.{name}, whose handling of one message PooledActor copies (_drain, _handle_envelope, _refuse); "
        "once pool.py matches it, update COPIED_LOOP_STEPS in this test"
    )


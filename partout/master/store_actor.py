"""`StoreActor`: the one thread that talks to the master's store.

SQLite connections belong to the thread that made them, and one writer at a time is what
WAL wants anyway, so every store call of the master goes through this actor's mailbox:

    store = StoreHandle.start("/var/lib/partout/master/store.sqlite3")
    agent = store.call("get_agent", agent_id).get(timeout=5)
    store.stop()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreCall:
    """Call `Store.<method>(*args, **kwargs)` on the store thread; the result goes to `future`."""

    method: str | Callable[..., Any]  # a Store method name, or a function called with the store first
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    future: pykka.Future[Any] | None = None


class StoreActor(pykka.ThreadingActor):
    def __init__(self, location: str) -> None:
        super().__init__()
        self._location = location
        self._store: Any = None

    def on_start(self) -> None:
        from partout.master.store import open_store

        self._store = open_store(self._location)

    def on_stop(self) -> None:
        close = getattr(self._store, "close", None)
        if close is not None:
            close()

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, StoreCall):
            return super().on_receive(message)
        try:
            if callable(message.method):  # a function of the store, e.g. resolve_agent
                result = message.method(self._store, *message.args, **message.kwargs)
            else:
                result = getattr(self._store, message.method)(*message.args, **message.kwargs)
        except Exception as error:  # handed to the caller; the store thread lives on
            if message.future is not None:
                message.future.set_exception((type(error), error, error.__traceback__))
            else:
                log.error("store call failed", extra={"method": message.method, "error": str(error)})
            return None
        if message.future is not None:
            message.future.set(result)
        return None


class StoreHandle:
    """What the master's other actors hold: calls become StoreCall messages."""

    def __init__(self, ref: pykka.ActorRef[StoreActor]) -> None:
        self.ref = ref

    @classmethod
    def start(cls, location: str) -> StoreHandle:
        return cls(StoreActor.start(location))

    def call(self, method: str | Callable[..., Any], *args: Any, **kwargs: Any) -> pykka.Future[Any]:
        future: pykka.Future[Any] = pykka.ThreadingFuture()
        self.ref.tell(StoreCall(method, args, kwargs, future))
        return future

    def get(self, method: str | Callable[..., Any], *args: Any, timeout: float = 30.0, **kwargs: Any) -> Any:
        """Call and wait for the result (re-raises the store's error)."""
        return self.call(method, *args, **kwargs).get(timeout=timeout)

    def stop(self) -> None:
        if self.ref.is_alive():
            self.ref.stop(timeout=10)

"""Waiting for pykka futures without blocking an actor: it keeps them in `PendingFutures`
and looks at the finished ones on a timer tick (pykka futures have no done-callback)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import pykka

K = TypeVar("K")
T = TypeVar("T")


class PendingFutures(Generic[K]):
    """Futures by key; `finished()` takes out the ones that are done, with result or error."""

    def __init__(self) -> None:
        self._futures: list[tuple[K, Callable[[], object]]] = []  # key, "get it now or raise Timeout"

    def __len__(self) -> int:
        return len(self._futures)

    def add(self, key: K, future: pykka.Future[T]) -> None:
        self._futures.append((key, lambda: future.get(timeout=0)))

    def finished(self) -> list[tuple[K, object, Exception | None]]:
        done: list[tuple[K, object, Exception | None]] = []
        waiting: list[tuple[K, Callable[[], object]]] = []
        for key, get in self._futures:
            try:
                result = get()
            except pykka.Timeout:
                waiting.append((key, get))
                continue
            except Exception as error:
                done.append((key, None, error))
                continue
            done.append((key, result, None))
        self._futures = waiting
        return done


__all__ = ["PendingFutures"]

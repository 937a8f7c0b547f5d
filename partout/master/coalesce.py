"""`KeyedWindow`: per key (an agent id, a rule name), at most one send per window; what
arrives meanwhile is merged and sent once, when the key's window is over.

    window = KeyedWindow(1.0, send=notify, merge=lambda old, new: old | new,
                         schedule=lambda delay: tell_later(delay, actor_ref, Due()))
    window.add(agent_id, {"q1"})     # sent now when the agent's last send is a window ago...
    window.add(agent_id, {"q2"})     # ...else merged, and sent when its window ends
    window.due()                     # on Due(): send what is due, schedule the rest

A key's first value goes at once (no added latency); a burst after it is one send at the
window's end, so a storm costs each key at most one send per window. Used from one actor's
thread (the dependency tracker, the trigger router): no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class KeyedWindow(Generic[V]):
    def __init__(self, window: float, *, send: Callable[[str, V], None], merge: Callable[[V, V], V],
                 schedule: Callable[[float], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._send = send
        self._merge = merge
        self._schedule = schedule
        self._clock = clock
        self._last_sent: dict[str, float] = {}  # key -> clock time of its last send
        self._waiting: dict[str, V] = {}  # key -> merged value, until its window is over
        self._due_scheduled = False
        self.sent = 0

    def add(self, key: str, value: V) -> None:
        """Merge `value` into what waits for `key`, then send whatever is due."""
        self._waiting[key] = self._merge(self._waiting[key], value) if key in self._waiting else value
        self.flush()

    def due(self) -> None:
        """The scheduled wake-up came: send what is due now."""
        self._due_scheduled = False
        self.flush()

    def waiting(self) -> dict[str, V]:
        return dict(self._waiting)

    def flush(self) -> None:
        now = self._clock()
        # forget windows that are over: the table stays the size of the recent sends
        self._last_sent = {key: at for key, at in self._last_sent.items() if now - at < self.window}
        later: list[float] = []
        for key in sorted(self._waiting):
            last = self._last_sent.get(key)
            if last is not None and now - last < self.window:
                later.append(last + self.window)
                continue
            value = self._waiting.pop(key)
            self._last_sent[key] = now
            self.sent += 1
            self._send(key, value)
        if later and not self._due_scheduled:
            self._due_scheduled = True
            self._schedule(max(0.0, min(later) - now))


__all__ = ["KeyedWindow"]

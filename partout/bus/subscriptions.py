"""`Subscriptions`: what the bus follows, by the id its caller got back.

A plain subscription or a KV update subscription is a nats-py `Subscription`; a pull
consumer or a JetStream KV watch is the loop task that feeds it. `Unsubscribe` ends either
by id. Loop-thread only.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Union

from partout.errors import BusError

if TYPE_CHECKING:
    from nats.aio.subscription import Subscription

Handle = Union["Subscription", "asyncio.Task[None]"]


class Subscriptions:
    """Live subscriptions, consumers and watches, by id."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._live: dict[str, Handle] = {}

    def reserve(self, kind: str) -> str:
        """A new id such as `sub-3` (delivered messages name it before the server has it)."""
        return f"{kind}-{next(self._ids)}"

    def keep(self, identifier: str, handle: Handle) -> str:
        self._live[identifier] = handle
        return identifier

    def add(self, kind: str, handle: Handle) -> str:
        return self.keep(self.reserve(kind), handle)

    async def remove(self, identifier: str) -> None:
        """End it; an unknown id (already ended) is no error."""
        handle = self._live.pop(identifier, None)
        try:
            if isinstance(handle, asyncio.Task):
                handle.cancel()
            elif handle is not None:
                await handle.unsubscribe()
        except Exception as error:
            raise BusError(f"cannot unsubscribe {identifier}: {error}") from error

    def cancel_tasks(self) -> None:
        """Closing: stop the loop tasks (the subscriptions go with the connection)."""
        for handle in self._live.values():
            if isinstance(handle, asyncio.Task):
                handle.cancel()


__all__ = ["Handle", "Subscriptions"]

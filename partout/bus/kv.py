"""JetStream key-value on the bus: put, get, and watch a key (the policy bucket)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from partout.bus.connection import Connection, deliver, round_trip
from partout.bus.messages import KeyValueChange, KeyValueGet, KeyValuePut, KeyValueWatch, Target
from partout.bus.subscriptions import Subscriptions
from partout.errors import BusError, KeyValueConflict

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.kv import KeyValue as Bucket

T = TypeVar("T")


def operation(name: str) -> Literal["put", "delete", "purge"]:
    """nats-py's KV-Operation ("", "DEL", "PURGE") as a KeyValueChange operation."""
    return "delete" if name == "DEL" else "purge" if name == "PURGE" else "put"


class KeyValue:
    """KV requests and watches; loop-thread only."""

    def __init__(self, connection: Connection, subscriptions: Subscriptions) -> None:
        self._connection = connection
        self._subscriptions = subscriptions

    async def _with_bucket(self, message: KeyValuePut | KeyValueGet | KeyValueWatch,
                           use: Callable[[Bucket], Awaitable[T]]) -> T:
        try:
            bucket = await (await self._connection.jetstream()).key_value(message.bucket)
            return await use(bucket)
        except KeyValueConflict:
            raise
        except Exception as error:
            raise BusError(f"KV {message.bucket}/{message.key}: {type(error).__name__} {error}") from error

    async def put(self, message: KeyValuePut) -> int:
        """The new revision; KeyValueConflict when `last_revision` no longer holds."""
        from nats.js.errors import KeyWrongLastSequenceError

        async def put(bucket: Bucket) -> int:
            last = message.last_revision
            try:
                if last is None:
                    return int(await bucket.put(message.key, message.value))
                if last == 0:  # nats-py's create also takes over a deleted key's tombstone
                    return int(await bucket.create(message.key, message.value))
                return int(await bucket.update(message.key, message.value, last=last))
            except KeyWrongLastSequenceError as error:
                raise KeyValueConflict(message.bucket, message.key, last or 0) from error

        return await self._with_bucket(message, put)

    async def get(self, message: KeyValueGet) -> KeyValueChange | None:
        """The key's value, or None when it has none."""
        from nats.js.errors import KeyNotFoundError

        async def get(bucket: Bucket) -> KeyValueChange | None:
            try:
                entry = await bucket.get(message.key)
            except KeyNotFoundError:
                return None
            return KeyValueChange(message.bucket, entry.key, entry.value, entry.revision or 0)

        return await self._with_bucket(message, get)

    async def watch(self, message: KeyValueWatch) -> str:
        """The watch id (for Unsubscribe); the current value and every change go to the target."""
        if message.updates is not None:
            return await self._with_bucket(message, lambda bucket: self._follow(message, bucket))

        async def watch(bucket: Bucket) -> str:
            watcher = await bucket.watch(message.key)
            task = asyncio.get_running_loop().create_task(self._watch(message.bucket, watcher, message.target))
            return self._subscriptions.add("watch", task)

        return await self._with_bucket(message, watch)

    async def _follow(self, message: KeyValueWatch, bucket: Bucket) -> str:
        """Subscribe to the key's republished changes first, then read its current value, so
        nothing falls between the two; revisions already delivered are skipped."""
        from nats.js.errors import KeyNotFoundError

        latest = 0
        target = message.target

        def forward(change: KeyValueChange) -> None:
            nonlocal latest
            if change.revision > latest:
                latest = change.revision
                deliver(target, change)

        async def on_update(received: Msg) -> None:
            headers = received.headers or {}
            name = headers.get("KV-Operation", "")
            forward(KeyValueChange(message.bucket, message.key, received.data if not name else None,
                                   int(headers.get("Nats-Sequence", "0") or 0), operation(name)))

        client = await self._connection.client()
        assert message.updates is not None
        identifier = self._subscriptions.add("watch", await client.subscribe(message.updates, cb=on_update))
        await round_trip(client)
        try:
            entry = await bucket.get(message.key)
            forward(KeyValueChange(message.bucket, entry.key, entry.value, entry.revision or 0))
        except KeyNotFoundError:
            pass
        return identifier

    async def _watch(self, bucket: str, watcher: Any, target: Target) -> None:
        try:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    continue
                deliver(target, KeyValueChange(bucket, entry.key, entry.value, entry.revision or 0,
                                               operation(str(entry.operation or ""))))
        finally:
            await watcher.stop()


__all__ = ["KeyValue"]

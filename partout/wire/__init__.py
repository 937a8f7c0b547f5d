"""Bus messages: pydantic models with a version field `v`, JSON encoded.

    class Heartbeat(WireMessage):
        kind: ClassVar[str] = "heartbeat"
        agent: str

    data = encode(Heartbeat(agent="web1"))
    message = decode(Heartbeat, data)  # None (counted, logged once) when malformed

A subscriber never crashes on what arrives: invalid JSON, a failed validation or an
unknown version is dropped, counted per kind (`dropped()`), and logged once per kind.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)


class WireMessage(BaseModel):
    """Base of every message on the bus. Subclasses set `kind` and may raise `versions`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kind: ClassVar[str] = "message"
    # the versions this code can read; newer senders must keep old fields for old readers
    versions: ClassVar[frozenset[int]] = frozenset({1})

    v: int = 1


M = TypeVar("M", bound=WireMessage)

_dropped: Counter[str] = Counter()
_logged: set[str] = set()
_lock = threading.Lock()


def encode(message: WireMessage) -> bytes:
    """The JSON bytes of a message."""
    return message.model_dump_json().encode()


def decode(model: type[M], data: bytes | str) -> M | None:
    """The message, or None when `data` is not a valid `model` of a known version (counted)."""
    try:
        message = model.model_validate_json(data)
    except ValidationError as exc:
        _drop(model.kind, "invalid", exc.error_count())
        return None
    if message.v not in model.versions:
        _drop(model.kind, "unknown version", message.v)
        return None
    return message


def _drop(kind: str, reason: str, detail: object) -> None:
    with _lock:
        _dropped[kind] += 1
        first = kind not in _logged
        _logged.add(kind)
    if first:  # once per kind: a flood of bad messages must not flood the log
        log.warning("bus message dropped", extra={"kind": kind, "reason": reason, "detail": str(detail)})


def dropped(kind: str | None = None) -> int:
    """How many messages were dropped, of one kind or in total."""
    with _lock:
        return _dropped[kind] if kind is not None else sum(_dropped.values())


def drop_counts() -> dict[str, int]:
    with _lock:
        return dict(_dropped)


__all__ = ["WireMessage", "decode", "drop_counts", "dropped", "encode"]

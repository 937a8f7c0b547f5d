"""The state one `Agent` shares between its parts (connection, runs, the daemon loop),
and the events its callbacks put on the agent's queue.

One thread per agent drives everything that changes state from one queue, so the Engine
(not thread-safe) sees one caller; the parts are mixins of one object for that reason.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from partout.agent.config import AgentConfig
from partout.agent.credentials import Credentials
from partout.agent.facts import published_sections
from partout.agent.feed import PolicyFeed
from partout.agent.notices import Notices
from partout.agent.outbox import ReportOutbox
from partout.agent.policy import PolicyCache
from partout.wire.fleet import RunReport

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


@dataclass(frozen=True)
class Event:
    kind: str  # policy, apply, drift, facts, reconnected, closed, expired, stop
    payload: Any = None


class AgentCore:
    """One agent identity with its own state dir, connection and engine."""

    def __init__(self, config: AgentConfig, *, on_report: Callable[[RunReport], None] | None = None,
                 on_policy: Callable[[int], None] | None = None) -> None:
        self.config = config
        self.on_report = on_report
        self.on_policy = on_policy  # told the KV revision of each policy value as it arrives (benches)
        self.state = "created"  # pending, running, refused, failed, stopped
        self.error: str | None = None
        self.applied_sequence = 0
        self._credentials: Credentials | None = None
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._bus: Any = None
        self._engine: Any = None
        self._policies: PolicyCache | None = None
        self._facts: Any = None
        self._sent_facts_hash = ""
        self._fact_sections = published_sections()  # until the master asks for others
        self._digest = ""
        self._outbox = ReportOutbox(lambda: self._bus)
        self._feed: PolicyFeed | None = None
        self._notices = Notices()
        self._connected_at: float | None = None  # monotonic time the current connection was ready
        self._credentials_lifetime: float | None = None  # seconds, learnt at the last expiry

    @property
    def agent_id(self) -> str | None:
        return self._credentials.agent_id if self._credentials else None

    @property
    def environment(self) -> str | None:
        return self._credentials.environment if self._credentials else None

    @property
    def public_key(self) -> str:
        return self._load_credentials().public_key

    def _load_credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = Credentials.load(self.config.state_dir)
            self.applied_sequence = 0
        return self._credentials


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_REFUSED", "AgentCore", "Event"]

"""What the agent says about its standing (refused by NATS, refused at enrolment, a refused
bundle, accepted again): once per change, at warning level, with the reason in the message
itself, so that `partout agent`'s and `partout up`'s plain log lines say why."""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("partout.agent")

REFUSED_BY_NATS = (
    "NATS refuses this agent's key (%s): it was revoked on the master, or the master's auth callout "
    "is not answering; trying again with pauses doubling up to %.0f s")


class Notices:
    """Remembers the last thing said, so a state that repeats (every refused attempt, the same
    bundle delivered again) is said once. Callable from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.last: str | None = None

    def say(self, key: str, message: str, *arguments: Any) -> bool:
        """Log `message % arguments` at warning level unless `key` was the last thing said."""
        with self._lock:
            if key == self.last:
                return False
            self.last = key
        log.warning(message, *arguments)
        return True

    def on_connection(self, state: Any, refused_max_wait: float) -> None:
        """A connection state change of one of the agent's buses."""
        if state.state == "refused":
            self.say("refused", REFUSED_BY_NATS, state.reason or "authorization violation", refused_max_wait)
        elif state.state in ("connected", "reconnected") and self.last == "refused":
            self.say("accepted", "NATS accepts this agent's key again")


__all__ = ["REFUSED_BY_NATS", "Notices"]

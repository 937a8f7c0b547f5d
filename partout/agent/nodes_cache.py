"""The last answers the master gave `p2.nodes`, kept on disk so that a run while the master is
unreachable compiles with them (with a warning) instead of failing: the node keeps enforcing
what it last knew, as an agent does with its last policy.

    <state dir>/inventory-answers.json   (0600: other nodes' facts)
      {"answers": {"<key>": {"rows": [...], "answered_at": "<ISO time>"}}}

Only an unreachable master is answered from here; a refusal (a revoked agent, a scope the
master does not allow) never is. After a compile the file holds the answers that compile
used, so it stays the size of the policy's questions.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from partout.state import write_secret

log = logging.getLogger(__name__)

ANSWERS_FILE = "inventory-answers.json"  # in the agent's state dir


class CachedAnswer(BaseModel):
    rows: list[dict[str, Any]]
    answered_at: datetime


class CachedAnswers(BaseModel):
    answers: dict[str, CachedAnswer] = {}


def answer_key(query: str, fields: Sequence[str], scope: str) -> str:
    return json.dumps([query, list(fields), scope], separators=(",", ":"))


class AnswerCache:
    """Thread-safe: the compiler's thread reads and fills it, the runner closes compiles."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._answers = self._load()
        self._used: dict[str, CachedAnswer] = {}  # by the compile under way

    def _load(self) -> dict[str, CachedAnswer]:
        if self._path is None:
            return {}
        try:
            return CachedAnswers.model_validate_json(self._path.read_bytes()).answers
        except FileNotFoundError:
            return {}
        except (OSError, ValidationError) as error:
            log.warning("p2.nodes answer cache unreadable; starting without it",
                        extra={"path": str(self._path), "error": str(error)[:200]})
            return {}

    def new_compile(self) -> None:
        with self._lock:
            self._used = {}

    def answered(self, key: str, rows: list[dict[str, Any]]) -> None:
        """The master answered: remember it for this compile and later outages."""
        with self._lock:
            self._used[key] = self._answers[key] = CachedAnswer(rows=rows, answered_at=datetime.now(UTC))

    def fallback(self, key: str) -> CachedAnswer | None:
        """The last answer to `key`, for a compile the master cannot answer."""
        with self._lock:
            found = self._answers.get(key)
            if found is not None:
                self._used[key] = found
            return found

    def compiled(self) -> None:
        """After a successful compile: keep (and write) the answers it used, only those."""
        with self._lock:
            if not self._used and not self._answers:
                return  # asked nothing, holds nothing: no file to write
            self._answers = dict(self._used)
            data = CachedAnswers(answers=self._answers).model_dump_json().encode()
        if self._path is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            write_secret(self._path, data)
        except OSError as error:
            log.warning("cannot write the p2.nodes answer cache", extra={"path": str(self._path), "error": str(error)})


__all__ = ["ANSWERS_FILE", "AnswerCache", "CachedAnswer", "answer_key"]

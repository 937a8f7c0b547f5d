"""Regular expressions for `=~`, compiled by RE2: matching time is linear in the text
whatever the pattern, so a hostile query cannot stall the master or the store
(Python's `re` backtracks, has no timeout, and `(a+)+$` takes exponential time).

RE2 refuses what it cannot run in linear time (backreferences, lookaround) with an
error; the parser reports it at the pattern's column. Patterns are bounded in length and
in the memory RE2 may use to compile them.
"""

from __future__ import annotations

import functools
from typing import Any

import re2  # google-re2

MAX_PATTERN_LENGTH = 512
# RE2's compiled-program budget: a pattern such as `(a{100}){100}` exceeds it and is refused
MAX_PATTERN_MEMORY = 1 << 20


class PatternError(ValueError):
    """A pattern RE2 refuses, or one too long; the message says why."""


class Pattern:
    """A compiled RE2 pattern; `search` is all the language needs."""

    def __init__(self, source: str, compiled: Any) -> None:
        self.source = source
        self._compiled = compiled

    def search(self, text: str) -> bool:
        return self._compiled.search(text) is not None


@functools.lru_cache(maxsize=512)
def compile_pattern(source: str) -> Pattern:
    """The compiled pattern, cached: the store calls it once per row through REGEXP."""
    if len(source) > MAX_PATTERN_LENGTH:
        raise PatternError(f"pattern is {len(source)} characters long; the limit is {MAX_PATTERN_LENGTH}")
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return Pattern(source, re2.compile(source, options))
    except re2.error as error:
        reason = error.args[0] if error.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(f"bad regular expression: {reason}") from None

"""Strings from agents, made harmless for a terminal.

Hostnames, facts and report messages are whatever an agent (perhaps a taken-over one)
sent. Printed raw, an ESC sequence in them could recolour or rewrite the operator's
screen, retitle the window, hide a row or forge one with a newline. Every text output of
the operator commands passes agent data through `sanitised` first: control characters
(C0, DEL, C1: ESC and CSI among them), line and paragraph separators and the bidi
overrides are shown as `\\xNN` / `\\uNNNN` escapes, so nothing the agent chose is
interpreted, and an operator still sees that something odd was sent. JSON output needs
none of this: json.dumps escapes them itself.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls and DEL, C1 controls, line/paragraph separators, bidi embeddings/overrides/isolates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object) -> str:
    """`text` as one line a terminal shows as is."""
    return _UNSAFE.sub(_escape, str(text))


def sanitised(data: Any) -> Any:
    """`data` (decoded JSON) with every string and key made `safe`; numbers, booleans and
    None unchanged."""
    if isinstance(data, str):
        return safe(data)
    if isinstance(data, dict):
        return {safe(key): sanitised(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [sanitised(value) for value in data]
    return data


__all__ = ["safe", "sanitised"]

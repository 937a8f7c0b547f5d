"""INI text edits that keep everything they do not touch: comments, blank lines, key
order, other sections, the spacing of untouched lines.

`set_values(text, {"section": {"key": "value"}})` and `remove_values(text, {...})`
return the new text; applied to their own output they return it unchanged, which is
what makes the `ini` module idempotent. Section "" is the part before the first
section header (global keys, as in /etc/environment-like files).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_HEADER = re.compile(r"^\s*\[([^\]]*)\]\s*(?:[;#].*)?$")
_KEY = re.compile(r"^(\s*)([^=;#\[\s][^=]*?)\s*=\s?(.*?)\s*$")

GLOBAL = ""


@dataclass
class _Section:
    name: str
    header: int | None  # line index of "[name]", None for the global part
    end: int  # index one past its last line
    keys: list[tuple[int, str, str]] = field(default_factory=list)  # (line, key, value)


def _parse(lines: list[str]) -> list[_Section]:
    sections = [_Section(name=GLOBAL, header=None, end=len(lines))]
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if header:
            sections[-1].end = index
            sections.append(_Section(name=header.group(1).strip(), header=index, end=len(lines)))
            continue
        key = _KEY.match(line)
        if key:
            sections[-1].keys.append((index, key.group(2), key.group(3).strip()))
    return sections


def _find(sections: list[_Section], name: str) -> _Section | None:
    return next((section for section in sections if section.name == name), None)


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def render_value(value: object) -> str:
    """Booleans as true/false (what most INI readers expect), the rest as str()."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def set_values(text: str, values: Mapping[str, Mapping[str, object]], *, separator: str = " = ") -> str:
    """Set each key of each section, adding keys and sections that are missing."""
    lines = _lines(text)
    for section_name, keys in values.items():
        for key, raw in keys.items():
            value = render_value(raw)
            wanted = f"{key}{separator}{value}\n"
            section = _find(_parse(lines), section_name)
            if section is None:
                block = [f"[{section_name}]\n", wanted]
                if lines and lines[-1].strip():
                    block.insert(0, "\n")
                lines.extend(block)
                continue
            matches = [(index, current) for index, name, current in section.keys if name == key]
            if matches:
                for index, current in matches:
                    if current != value:
                        indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
                        lines[index] = indent + wanted
                continue
            if section.keys:
                at = section.keys[-1][0] + 1
            elif section.header is not None:
                at = section.header + 1
            else:
                at = 0
            lines.insert(at, wanted)
    return "".join(lines)


def remove_values(text: str, values: Mapping[str, Mapping[str, object] | None]) -> str:
    """Remove the named keys; a section given as None (or with no keys) goes entirely,
    header, keys and comments up to the next section."""
    lines = _lines(text)
    for section_name, keys in values.items():
        section = _find(_parse(lines), section_name)
        if section is None:
            continue
        if not keys:
            start = section.header if section.header is not None else 0
            del lines[start:section.end]
            continue
        doomed = {index for index, name, _ in section.keys if name in keys}
        lines = [line for index, line in enumerate(lines) if index not in doomed]
    return "".join(lines)

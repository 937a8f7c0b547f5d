"""KEY=value files: /etc/environment (read by pam_env, no shell) and /etc/profile.d/*.sh
(sourced by login shells, so `export KEY="value"`). Parsed without running a shell:
quotes are removed, `$VAR` is not expanded."""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LINE = re.compile(r"^\s*(export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_SHELL_SPECIAL = re.compile(r'(["\\$`])')


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def render(name: str, value: str, *, export: bool) -> str:
    """One line setting name to value. Shell files escape what a shell would expand;
    pam_env files cannot hold a double quote, the caller checks that."""
    if export:
        escaped = _SHELL_SPECIAL.sub(r"\\\1", value)
        return f'export {name}="{escaped}"\n'
    return f'{name}="{value}"\n'


def _unquote(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith('"'):
        out = []
        index = 1
        while index < len(raw):
            char = raw[index]
            if char == "\\" and index + 1 < len(raw) and raw[index + 1] in '"\\$`':
                out.append(raw[index + 1])
                index += 2
                continue
            if char == '"':
                break
            out.append(char)
            index += 1
        return "".join(out)
    if raw.startswith("'"):
        end = raw.find("'", 1)
        return raw[1:end] if end != -1 else raw[1:]
    return re.split(r"\s+#|\s", raw, maxsplit=1)[0]


def parse(text: str) -> dict[str, str]:
    """Every KEY=value assignment, later ones winning; comments and other lines skipped."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match and not line.lstrip().startswith("#"):
            found[match.group(2)] = _unquote(match.group(3))
    return found


def set_variable(text: str, name: str, value: str | None, *, export: bool) -> str:
    """The text with name set to value (its first assignment rewritten in place, later
    duplicates dropped, or a line appended); value None removes every assignment."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    kept: list[str] = []
    placed = False
    for line in lines:
        match = _LINE.match(line)
        if match and match.group(2) == name and not line.lstrip().startswith("#"):
            if value is None or placed:
                continue
            # A line that already means the same value is left exactly as written.
            same = _unquote(match.group(3)) == value and bool(match.group(1)) == export
            kept.append(line if same else render(name, value, export=export))
            placed = True
            continue
        kept.append(line)
    if value is not None and not placed:
        kept.append(render(name, value, export=export))
    return "".join(kept)

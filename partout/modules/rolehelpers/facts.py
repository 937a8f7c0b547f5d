"""Facts helpers for the add_fact role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from partout.errors import FactsError
from partout.facts.parsing import parse_json, parse_yaml


def read_value(role: str, path: Path) -> Any:
    """The value held by a JSON or YAML file (YAML for .yaml/.yml, else JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{role}: file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{role}: cannot read {path}: {exc}") from None
    parse = parse_yaml if path.suffix.lower() in (".yaml", ".yml") else parse_json
    try:
        return parse(text, f"{role}: {path}")
    except FactsError as exc:
        raise ValueError(str(exc)) from None


def remember(facts: Any, name: str, value: Any) -> bool:
    """Make `facts.custom.<name>` return `value` for the rest of this compile. Facts
    objects cache their `custom` section once read; this sets the key in that cache.
    Returns False for facts that have no custom section to extend (test stand-ins)."""
    section = getattr(facts, "_section", None)
    if callable(section):
        try:
            custom = section("custom")
        except Exception:  # a broken facts.d must not fail the fact being added
            return False
        if isinstance(custom, dict):
            custom[name] = value
            return True
    custom = getattr(facts, "custom", None)
    if isinstance(custom, dict):
        custom[name] = value
        return True
    return False

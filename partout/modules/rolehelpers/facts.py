"""Facts helpers for the add_fact role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_value(role: str, path: Path) -> Any:
    """The value held by a JSON or YAML file (YAML for .yaml/.yml, else JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{role}: file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{role}: cannot read {path}: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{role}: {path} is not valid YAML: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{role}: {path}:{exc.lineno} is not valid JSON: {exc.msg}") from None


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

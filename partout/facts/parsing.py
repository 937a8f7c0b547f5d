"""JSON and YAML text to Python values, with errors that name the source and the line:
one spelling for facts files, facts.d entries and the add_fact role."""

from __future__ import annotations

import json
from typing import Any

from partout.errors import FactsError


def parse_json(text: str, source: str) -> Any:
    """The value `text` holds; `source` starts the error, e.g. 'facts file /etc/x.json'."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FactsError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from None


def parse_yaml(text: str, source: str) -> Any:
    """The value `text` holds (YAML also reads JSON); the line is named when YAML knows it."""
    import yaml  # only where a YAML file is read

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise FactsError(f"{source}{where}: not valid YAML: {exc}") from None

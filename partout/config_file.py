"""Daemon configuration: a TOML file's table, command-line options on top, one pydantic model."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from partout.errors import StateError

M = TypeVar("M", bound=BaseModel)


def load_config_file(model: type[M], path: Path | None, *, table: str, overrides: Mapping[str, Any],
                     adjust: Callable[[dict[str, Any]], None] | None = None) -> M:
    """`model` from the file's [table] (or its top level), with the non-None `overrides`
    (command-line options) on top. Every problem is a StateError naming the file and field."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise StateError(f"{table} config {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise StateError(f"{table} config {path}: {exc}") from exc
        data = dict(data.get(table, data))
    data.update({key: value for key, value in overrides.items() if value is not None})
    if adjust is not None:
        adjust(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'config'}: {error['msg']}" for error in exc.errors()
        )
        raise StateError(f"{table} config {path or '(options)'}: {problems}") from exc

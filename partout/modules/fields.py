"""Option rules several modules share, stated once: absolute paths and octal modes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

OCTAL_MODE = re.compile(r"^0?[0-7]{3,4}$")


def must_be_absolute(path: Path, *, field: str = "path", example: str = "") -> Path:
    """`path` itself when absolute; otherwise a ValueError that names the field (and an example)."""
    if not path.is_absolute():
        hint = f", e.g. {example!r}" if example else ""
        raise ValueError(f"{field} {str(path)!r} must be absolute{hint}")
    return path


# A `path` option that must be absolute; its schema stays that of a plain path.
AbsolutePath = Annotated[Path, AfterValidator(must_be_absolute)]

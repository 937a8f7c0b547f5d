"""Roles: directives written in the DSL, either `p2.role("name", fn)` in a policy or a
`NAME.p2` file in a roles folder. Role files are found and compiled only when used."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType
from typing import Any

from partout.dsl.catalog import SourceLocation
from partout.dsl.locations import compile_code
from partout.errors import PolicyError

ROLE_SUFFIX = ".p2"


@dataclass(frozen=True)
class DslRole:
    """A role defined in a policy with `p2.role(name, function)`."""

    name: str
    function: Callable[..., Any]
    source: SourceLocation


@dataclass
class RoleBook:
    """The roles one compile can use: defined in the DSL, or files under `dirs` (first wins)."""

    dirs: Sequence[Path]
    defined: dict[str, DslRole] = field(default_factory=dict)
    _files: dict[str, Path | None] = field(default_factory=dict)
    _code: dict[Path, CodeType] = field(default_factory=dict)

    def find_file(self, name: str) -> Path | None:
        """The role file defining directive `name`, looked up once per compile."""
        if name not in self._files:
            self._files[name] = next(
                (candidate for directory in self.dirs if (candidate := directory / f"{name}{ROLE_SUFFIX}").is_file()),
                None,
            )
        return self._files[name]

    def code(self, path: Path, used_at: SourceLocation) -> CodeType:
        code = self._code.get(path)
        if code is None:
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PolicyError(f"cannot read role file {path}: {exc}", file=used_at.file, line=used_at.line) from None
            code = compile_code(source, str(path), context=f" (role used at {used_at})")
            self._code[path] = code
        return code

    def names(self) -> list[str]:
        """Every role name available, for 'did you mean' suggestions."""
        found = set(self.defined)
        for directory in self.dirs:
            if directory.is_dir():
                found.update(path.stem for path in directory.glob(f"*{ROLE_SUFFIX}"))
        return sorted(found)

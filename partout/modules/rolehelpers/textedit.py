"""Edit a text file in place: read it, compute the new text, and write it atomically
with the file module's helpers (temp file + rename, backup of the old content), keeping
the file's mode and owner. Used by the ini, replace and env_var modules."""

from __future__ import annotations

from pathlib import Path

from partout.errors import ResourceError
from partout.modules.base import Change, RunContext
from partout.modules.files import fileops
from partout.modules.files.diff import content_diff


def read_text(path: Path) -> str | None:
    """The file's text, None when it does not exist; an error for a non-file."""
    try:
        state = fileops.inspect(path, read_content=True)
    except OSError as exc:
        raise ResourceError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    if state.kind == "missing":
        return None
    if state.kind != "file":
        raise ResourceError(f"{path} is a {state.kind}, not a regular file; nothing changed")
    assert state.content is not None
    try:
        return state.content.decode("utf-8")
    except UnicodeDecodeError:
        raise ResourceError(f"{path} is not UTF-8 text; nothing changed") from None


def text_change(path: Path, old: str | None, new: str, summary: str) -> Change | None:
    """A Change with a unified diff when new differs from old (None = missing file)."""
    if old is not None and old == new:
        return None
    return Change(
        summary=summary if old is not None else f"created; {summary}",
        diff=content_diff(str(path), (old or "").encode("utf-8"), new.encode("utf-8")),
    )


def write_text(path: Path, new: str, context: RunContext, *, mode: int | None = None, backup: bool = True) -> None:
    """Replace the file's content with `new` atomically; the old content goes to the
    backup store. A new file gets `mode` (or the umask default)."""
    try:
        state = fileops.inspect(path, read_content=backup)
        if state.kind not in ("missing", "file"):
            raise ResourceError(f"{path} is a {state.kind}, not a regular file; nothing changed")
        if state.kind == "file" and backup and state.content is not None:
            from partout.modules.files.backup import BackupStore

            BackupStore(context.state_dir).save(path, state.content, state.mode)
        if state.kind == "file":
            final_mode = mode if mode is not None else state.mode
            fileops.write_atomically(path, new.encode("utf-8"), mode=final_mode, uid=state.uid, gid=state.gid)
        else:
            fileops.write_atomically(
                path, new.encode("utf-8"), mode=mode if mode is not None else fileops.default_file_mode()
            )
    except OSError as exc:
        raise fileops.write_error(path, exc) from exc


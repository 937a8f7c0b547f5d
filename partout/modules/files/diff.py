"""Unified diffs of file content, computed only once bytes are known to differ."""

from __future__ import annotations


# Past this a diff is noise in a report and costly to compute.
MAX_DIFF_BYTES = 512 * 1024


def content_diff(path: str, old: bytes | None, new: bytes) -> str:
    import difflib  # only when content differs: a no-op run never needs it

    old = old or b""
    try:
        old_text = old.decode("utf-8")
        new_text = new.decode("utf-8")
    except UnicodeDecodeError:
        return _binary(path, old, new)
    if len(old) > MAX_DIFF_BYTES or len(new) > MAX_DIFF_BYTES:
        return _binary(path, old, new)
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
        fromfile=path, tofile=path,
    )
    out = []
    for line in lines:
        if not line.endswith("\n"):
            line += "\n\\ No newline at end of file\n"
        out.append(line)
    return "".join(out)


def hidden_diff(path: str, old: bytes | None, new: bytes) -> str:
    """For secrets: says that content differs without showing any of it."""
    return _binary(path, old or b"", new, what="Content")


def _binary(path: str, old: bytes, new: bytes, what: str = "Binary or large content") -> str:
    import hashlib

    return (
        f"{what} of {path} differs: "
        f"{len(old)} bytes sha256 {hashlib.sha256(old).hexdigest()[:16]} -> "
        f"{len(new)} bytes sha256 {hashlib.sha256(new).hexdigest()[:16]}\n"
    )

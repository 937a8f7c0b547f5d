"""Where in a policy something happened: the caller's file and line, and a Python
exception's innermost policy frame, so that errors point at `site.p2:12`, not at Partout."""

from __future__ import annotations

import sys
from collections.abc import Container
from types import CodeType, FrameType, TracebackType

from partout.dsl.catalog import SourceLocation
from partout.errors import PolicyError


def caller_location(policy_files: Container[str], depth: int = 2) -> SourceLocation:
    """The innermost frame above `depth` that runs policy code (a `.p2` file, a role file,
    a function defined in one). Falls back to the first frame when no policy frame is on
    the stack (a role function written in a plain Python module called from Python)."""
    # sys._getframe walks a linked list; inspect.stack() would read source for every frame.
    first = frame = sys._getframe(depth)
    found: FrameType | None = frame
    while found is not None and found.f_code.co_filename not in policy_files:
        found = found.f_back
    chosen = found if found is not None else first
    return SourceLocation(file=chosen.f_code.co_filename, line=chosen.f_lineno)


def policy_frames(traceback: TracebackType | None, policy_files: Container[str]) -> list[SourceLocation]:
    """The policy frames of a traceback, outermost first."""
    frames: list[SourceLocation] = []
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if code.co_filename in policy_files:
            frames.append(SourceLocation(file=code.co_filename, line=traceback.tb_lineno))
        traceback = traceback.tb_next
    return frames


def error_from_exception(exc: BaseException, policy_files: Container[str], policy: str) -> PolicyError:
    """A Python exception raised by policy code, as a PolicyError at its innermost policy line
    (and the lines that called it), instead of a traceback."""
    frames = policy_frames(exc.__traceback__, policy_files)
    if isinstance(exc, SystemExit):
        message = "the policy called exit(); a policy must declare resources, not stop the compiler"
    else:
        detail = str(exc)
        message = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    if not frames:
        return PolicyError(message, file=policy)
    *callers, innermost = frames
    # A lambda guard fails on the line that declared it: say that line once.
    callers = [caller for index, caller in enumerate(callers) if caller != innermost and caller not in callers[:index]]
    if callers:
        message += " (called from " + ", ".join(str(caller) for caller in reversed(callers)) + ")"
    return PolicyError(message, file=innermost.file, line=innermost.line)


def compile_code(source: str, filename: str, *, context: str = "") -> CodeType:
    """Compile policy or role source; a syntax error becomes a PolicyError at its line."""
    try:
        return compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise PolicyError(
            f"syntax error: {exc.msg}{context}", file=exc.filename or filename, line=exc.lineno
        ) from None
    except ValueError as exc:  # source with NUL bytes
        raise PolicyError(f"cannot compile: {exc}{context}", file=filename) from None

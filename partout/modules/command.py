"""The `command` directive: run a command, with its output in the report.

Commands are not idempotent by nature: `creates=` (and the engine's `onlyif=`/`unless=`
guards) make them so. `check` never runs the command, so `--noop` never does either.
A command that outlives its timeout is killed with its whole process group.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import time
from pathlib import Path

from pydantic import Field, field_validator

from partout.errors import ResourceError
from partout.modules.base import STATELESS, Change, Module, ModuleOptions, RunContext
from partout.modules.files.owners import gid_of, uid_of

# The report keeps the tail of the output: errors are usually at the end.
OUTPUT_LIMIT = 64 * 1024


class CommandOptions(ModuleOptions):
    """Run a command; make it idempotent with creates=, onlyif= or unless=."""

    title_field = "cmd"

    cmd: str = Field(description="The command line (the title). Run by /bin/sh -c unless shell=False.")
    cwd: Path | None = Field(None, description="Working directory; must exist. Default: the agent's.")
    env: dict[str, str] | None = Field(
        None, description="Environment variables set for the command, over the agent's environment."
    )
    user: str | int | None = Field(None, description="Run as this user (name or uid). Default: the agent's user.")
    group: str | int | None = Field(None, description="Run with this group (name or gid). Default: the agent's group.")
    creates: Path | None = Field(
        None, description="A path the command creates: when it exists, the command is not run."
    )
    returns: list[int] = Field(
        default_factory=lambda: [0], description="Exit codes that mean success.", min_length=1
    )
    timeout: float = Field(
        300, gt=0, description="Seconds before the command and its process group are killed and it fails."
    )
    shell: bool = Field(
        True, description="Run through /bin/sh -c; False splits cmd like a shell and runs it directly."
    )

    @field_validator("cwd", "creates")
    @classmethod
    def _absolute(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_absolute():
            raise ValueError(f"{str(path)!r} must be an absolute path")
        return path


def check(spec: CommandOptions, context: RunContext) -> Change | None:
    if spec.creates is not None and os.path.lexists(spec.creates):
        return None
    return Change(summary=f"would run: {spec.cmd}", done=f"ran: {spec.cmd}")


def apply(spec: CommandOptions, change: Change, context: RunContext) -> str | None:
    return run(spec)


def run_action(spec: CommandOptions, context: RunContext) -> str | None:
    """The `run` action (`on={"file:/x:changed": "run"}`); creates= still applies."""
    if spec.creates is not None and os.path.lexists(spec.creates):
        return None
    return run(spec)


def run(spec: CommandOptions) -> str:
    """Run the command; its output (tail) on success, ResourceError otherwise."""
    arguments = ["/bin/sh", "-c", spec.cmd] if spec.shell else shlex.split(spec.cmd)
    if not arguments:
        raise ResourceError("command is empty")
    if spec.cwd is not None and not spec.cwd.is_dir():
        raise ResourceError(f"cwd {spec.cwd} does not exist or is not a directory")
    environment = _environment(spec)
    try:
        process = subprocess.Popen(
            arguments,
            cwd=spec.cwd,
            env=environment,
            user=uid_of(spec.user) if spec.user is not None else None,
            group=gid_of(spec.group) if spec.group is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own process group, so a timeout kills the children it started too.
            start_new_session=True,
        )
    except OSError as exc:
        raise ResourceError(f"cannot run {arguments[0]!r}: {exc.strerror or exc}") from exc
    output, timed_out = _collect(process, spec.timeout)
    text = output.decode("utf-8", errors="replace")
    if timed_out:
        raise ResourceError(f"timed out after {spec.timeout:g} s; killed{_tail(text)}")
    code = process.returncode
    if code not in spec.returns:
        accepted = ", ".join(str(value) for value in spec.returns)
        raise ResourceError(f"exited with code {code} (accepted: {accepted}){_tail(text)}")
    return text


def _environment(spec: CommandOptions) -> dict[str, str] | None:
    """The agent's environment, with HOME/USER/LOGNAME of the user it runs as (so tools
    do not write root's dotfiles), then env= on top."""
    if spec.user is None and not spec.env:
        return None
    environment = dict(os.environ)
    if spec.user is not None:
        import pwd

        try:
            entry = pwd.getpwuid(uid_of(spec.user))
        except KeyError:
            pass  # a bare uid without a passwd entry: keep the agent's values
        else:
            environment.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    environment.update(spec.env or {})
    return environment


def _collect(process: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bool]:
    """Read output until EOF and exit, keeping only the last OUTPUT_LIMIT bytes, so a
    chatty command cannot fill memory; kill the process group at the deadline."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = bytearray()
    truncated = False
    timed_out = False
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if not selector.select(remaining):
                continue
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                break
            buffer += chunk
            if len(buffer) > 2 * OUTPUT_LIMIT:
                del buffer[: len(buffer) - OUTPUT_LIMIT]
                truncated = True
    if timed_out:
        _kill_group(process)
    else:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            # Output closed but the process lingers: the deadline still holds.
            timed_out = True
            _kill_group(process)
    process.stdout.close()
    if len(buffer) > OUTPUT_LIMIT:
        del buffer[: len(buffer) - OUTPUT_LIMIT]
        truncated = True
    if truncated:
        buffer[:0] = b"[output truncated to the last 64 KiB]\n"
    return bytes(buffer), timed_out


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _tail(text: str, lines: int = 20) -> str:
    kept = text.rstrip("\n").splitlines()[-lines:]
    return (":\n" + "\n".join(kept)) if kept else ""


MODULE = Module(
    name="command",
    options=CommandOptions,
    check=check,
    apply=apply,
    watching=STATELESS,
    actions={"run": run_action},
    apply_actions=frozenset({"run"}),
    concurrent=False,
    summary="Run a command (never in noop); creates=, onlyif= and unless= make it idempotent.",
)

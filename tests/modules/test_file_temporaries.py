"""Temp files of atomic writes that a killed run left behind: swept the next time their
directory is written, only when ours by name, old, and held by no live writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from helpers import eventually, run_partout

from partout.modules.files import fileops

OLD = time.time() - 2 * fileops.STALE_AFTER


def age(path: Path) -> None:
    os.utime(path, (OLD, OLD), follow_symlinks=False)


def test_a_temp_file_left_by_a_sigkilled_writer_is_removed_by_the_next_apply(tmp_path: Path) -> None:
    target = tmp_path / "site" / "motd"
    target.parent.mkdir()
    ready = tmp_path / "ready"
    # A real writer, killed with SIGKILL while it holds its temp file open (mid-write).
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from partout.modules.files import fileops
        temporary = fileops.temporary_name(Path({str(target)!r}))
        descriptor = fileops.create_private(temporary)
        os.write(descriptor, b"half a fi")
        Path({str(ready)!r}).write_text(str(temporary))
        time.sleep(600)
    """)])
    try:
        assert eventually(ready.exists)
        left = Path(ready.read_text())
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert left.exists() and left.name.startswith(".motd.partout-")
    age(left)  # as if the next run came a while later
    policy = tmp_path / "site.p2"
    policy.write_text(f'p2.file("{target}", content="hello\\n")\n')
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    completed = run_partout("apply", "--state-dir", str(state), str(policy))
    assert completed.returncode == 0, completed.stderr
    assert target.read_text() == "hello\n"
    assert sorted(path.name for path in target.parent.iterdir()) == ["motd"]


def test_only_our_stale_unlocked_temp_files_are_removed(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    stale = directory / ".app.conf.partout-0badc0de"
    stale.write_text("old")
    age(stale)
    stale_link = directory / ".app.conf.partout-0badf00d"
    stale_link.symlink_to("/nowhere")
    age(stale_link)
    fresh = directory / ".app.conf.partout-12345678"  # a write that may be in progress
    fresh.write_text("new")
    not_ours = [directory / ".app.conf.partout-xyz", directory / "app.conf.partout-0badc0de",
                directory / ".app.conf.swp"]
    for path in not_ours:
        path.write_text("keep")
        age(path)
    locked = directory / ".other.partout-cafebabe"
    holder = os.open(locked, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        import fcntl

        fcntl.flock(holder, fcntl.LOCK_EX)  # a live writer, slow enough for its file to be old
        age(locked)
        removed = fileops.sweep_stale_temporaries(directory)
        assert sorted(removed) == sorted([stale, stale_link])
        assert locked.exists() and fresh.exists() and all(path.exists() for path in not_ours)
    finally:
        os.close(holder)


def test_a_directory_is_swept_once_per_interval_not_per_write(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    directory.mkdir()
    fileops.write_atomically(directory / "a", b"a", mode=0o644)
    late = directory / ".a.partout-0badc0de"
    late.write_text("old")
    age(late)
    fileops.write_atomically(directory / "b", b"b", mode=0o644)
    assert late.exists()  # swept at the first write already; the next sweep comes later

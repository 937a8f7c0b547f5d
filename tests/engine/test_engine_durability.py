"""What a run writes is durable before it reports: each file's data is fsynced before its
rename, and each directory renamed into is fsynced once, after its last rename and before
the process prints its report. Checked on a real `partout apply` traced with strace."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from partout.modules.files.fileops import DirectorySyncs, write_atomically

# "1712345678.123456 fsync(5) = 0", one file per thread (-ff): no call is split in two
_CALL = re.compile(r"^(?P<time>[0-9.]+)\s+(?P<name>\w+)\((?P<arguments>.*)\)\s+=\s+(?P<result>-?\d+)")


def _trace(tmp_path: Path, policy: str) -> tuple[list[tuple[str, str, str, str]], str]:
    """The traced calls of every thread of a real apply, in time order: (thread, name, arguments, result)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    (tmp_path / "site.p2").write_text(policy)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    traces = tmp_path / "traces"
    traces.mkdir()
    completed = subprocess.run(
        ["strace", "-ff", "-ttt", "-qq", "-e", "trace=fsync,rename,openat,write", "-e", "signal=none",
         "-o", str(traces / "t"), sys.executable, "-m", "partout", "apply", "--state-dir", str(state),
         str(tmp_path / "site.p2")],
        capture_output=True, text=True, timeout=120)
    if "ptrace" in completed.stderr.lower() and completed.returncode != 0:
        pytest.skip(f"strace cannot trace here: {completed.stderr.strip()}")
    assert completed.returncode == 0, completed.stderr
    timed = []
    for trace in traces.iterdir():
        thread = trace.suffix.lstrip(".")
        for line in trace.read_text().splitlines():
            match = _CALL.match(line)
            if match:
                timed.append((float(match["time"]), (thread, match["name"], match["arguments"], match["result"])))
    timed.sort(key=lambda entry: entry[0])
    return [call for _, call in timed], completed.stdout


def _fsynced_before_reuse(calls: list[tuple[str, str, str, str]], opened: int, pid: str, descriptor: str) -> bool:
    """Whether the descriptor opened at calls[opened] is fsynced before the thread gets the
    same number from another open (a directory listed by the stale-temp sweep is opened too)."""
    for thread, name, arguments, result in calls[opened + 1:]:
        if thread != pid:
            continue
        if name == "fsync" and arguments == descriptor:
            return True
        if name == "openat" and result == descriptor:
            return False
    return False


def test_each_directory_is_fsynced_once_after_its_renames_and_before_the_report(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    calls, stdout = _trace(tmp_path, f"for n in range(20):\n"
                                     f"    folder = 'ab'[n % 2]\n"
                                     f"    p2.file(f'{root}/{{folder}}/f{{n}}', content=f'{{n}}\\n')\n")
    assert "20 changed" in stdout
    renames = [index for index, (_, name, arguments, _) in enumerate(calls)
               if name == "rename" and str(root) in arguments]
    assert len(renames) == 20
    for directory in (root / "a", root / "b"):
        opened = [(index, pid, result) for index, (pid, name, arguments, result) in enumerate(calls)
                  if name == "openat" and arguments.startswith(f'AT_FDCWD, "{directory}"') and "O_DIRECTORY" in arguments]
        synced = [index for index, pid, descriptor in opened if _fsynced_before_reuse(calls, index, pid, descriptor)]
        assert len(synced) == 1, f"{directory} fsynced {len(synced)} times"
        assert synced[0] > max(renames)
    # the report is written to stdout (fd 1) after the last directory fsync
    report_writes = [index for index, (_, name, arguments, _) in enumerate(calls)
                     if name == "write" and arguments.startswith("1,")]
    assert report_writes and min(report_writes) > max(index for index, call in enumerate(calls) if call[1] == "fsync")


def test_file_data_is_fsynced_before_its_rename(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    calls, _ = _trace(tmp_path, f"for n in range(10):\n    p2.file(f'{root}/f{{n}}', content='x')\n")
    for index, (pid, name, arguments, _) in enumerate(calls):
        if name == "rename" and str(root) in arguments:
            temporary = arguments.split('"')[1]
            opened = next(call for call in reversed(calls[:index])
                          if call[0] == pid and call[1] == "openat" and f'"{temporary}"' in call[2])
            start = calls.index(opened)
            assert any(call[0] == pid and call[1] == "fsync" and call[2] == opened[3] for call in calls[start:index])


def test_deferred_syncs_skip_a_directory_removed_later_in_the_run(tmp_path: Path) -> None:
    directories = DirectorySyncs()
    gone = tmp_path / "gone"
    gone.mkdir()
    write_atomically(gone / "f", b"x", mode=0o644, directories=directories)
    write_atomically(tmp_path / "kept", b"y", mode=0o600, directories=directories)
    shutil.rmtree(gone)
    directories.sync()  # no error for the removed directory
    assert (tmp_path / "kept").read_bytes() == b"y" and (tmp_path / "kept").stat().st_mode & 0o777 == 0o600

"""`partout apply --watch` at the edges of watching: the inotify watch limit reached
(lowered for real in a user namespace of the test's own, the system's is untouched),
the watching line, and watch=True on a module without state."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import eventually, run_partout
from test_apply_watch import Watching


def ancestors(path: Path) -> list[Path]:
    return [Path(*path.parts[:depth]) for depth in range(2, len(path.parts) + 1)]


def start_watch(policy: Path, state: Path, *, prefix: list[str] | None = None,
                json: bool = True) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "partout", "apply", "--watch", *(["--json"] if json else []),
               "--state-dir", str(state), str(policy)]
    return subprocess.Popen([*(prefix or []), *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=10)
    return stderr


def drifted_and_repaired(path: Path, *, within: float) -> bool:
    path.write_text("drift\n")
    return eventually(lambda: path.read_text() == "good\n", timeout=within)


def user_namespace_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-Ur", "sh", "-c", "echo 5 > /proc/sys/user/max_inotify_watches"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not user_namespace_available(),
                    reason="needs unshare -Ur and a per-namespace /proc/sys/user/max_inotify_watches")
def test_watch_limit_reached_says_which_sysctl_and_polls_the_rest(tmp_path: Path) -> None:
    root = tmp_path / "root"
    files = [root / f"d{number}" / "app.conf" for number in range(6)]
    for path in files:
        path.parent.mkdir(parents=True)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    policy = tmp_path / "site.p2"
    policy.write_text("with p2.watch():\n" + "".join(f'    p2.file("{path}", content="good\\n")\n' for path in files))
    # d0 and d1 get a watch each, after the ancestors of root and root itself; the rest cannot
    limit = len(ancestors(root)) + 2
    prefix = ["unshare", "-Ur", "sh", "-c", f'echo {limit} > /proc/sys/user/max_inotify_watches && exec "$@"', "-"]
    process = start_watch(policy, state, prefix=prefix)
    session = Watching(process)
    try:
        assert eventually(lambda: len(session.reports) >= 1 or process.poll() is not None)
        assert session.reports, process.stderr.read() if process.stderr else ""
        # the watch starts right after the first report: drift until a repair shows it is live
        assert eventually(lambda: drifted_and_repaired(files[0], within=0.5))
        assert drifted_and_repaired(files[-1], within=10)  # not watched by inotify: polled
    finally:
        stderr = stop(process)
    assert "fs.inotify.max_user_watches" in stderr
    assert stderr.count("inotify watch limit reached") == 1


def test_watch_says_how_many_resources_are_heard_by_events_and_by_polling(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    policy = tmp_path / "site.p2"
    policy.write_text(
        "with p2.watch():\n"
        f'    p2.file("{tmp_path}/a", content="a\\n")\n'
        f'    p2.file("{tmp_path}/b", content="b\\n")\n'
        f'    p2.command("true", creates="{tmp_path}/a")\n'  # stateless: left out of the block
        f'p2.file("{tmp_path}/c", content="c\\n")\n'
    )
    process = start_watch(policy, state, json=False)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
    finally:
        stop(process)
    assert line.startswith("watching 2 resources (2 by events, 0 by polling)")


def test_watch_true_on_a_command_is_a_policy_error_naming_file_and_line(tmp_path: Path) -> None:
    policy = tmp_path / "site.p2"
    policy.write_text(f'p2.file("{tmp_path}/a", content="a\\n")\np2.command("echo hi", watch=True)\n')
    result = run_partout("apply", "--state-dir", str(tmp_path / "state"), str(policy))
    assert result.returncode == 2
    assert f"{policy}:2: command:echo hi has no state to watch; use creates=/unless= and a schedule" in result.stderr
    assert not (tmp_path / "a").exists()

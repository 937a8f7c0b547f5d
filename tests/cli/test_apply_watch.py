from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually


class Watching:
    """A real `partout apply --watch --json` process and the reports it printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.reports: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.reports.append(json.loads(line))

    def repairs(self, resource_id: str) -> list[dict[str, Any]]:
        return [result for report in self.reports[1:] if report["trigger"] == "watch"
                for result in report["results"] if result["id"] == resource_id]


@pytest.fixture
def watching(tmp_path: Path) -> Iterator[tuple[Watching, Path]]:
    root = tmp_path / "root"
    root.mkdir()
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    policy = tmp_path / "site.p2"
    policy.write_text(
        "with p2.watch():\n"
        f'    p2.file("{root}/motd", content="hello\\n", mode="0644")\n'
        f'    p2.file("{root}/marker", content="marker\\n")\n'
        f'p2.file("{root}/unwatched", content="free\\n")\n'
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "partout", "apply", "--watch", "--json", "--state-dir", str(state), str(policy)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    session = Watching(process)
    try:
        assert eventually(lambda: len(session.reports) >= 1 or process.poll() is not None)
        assert session.reports, process.stderr.read() if process.stderr else ""
        # The watch starts right after the first report; a repair of the marker proves it is live.
        assert eventually(lambda: _drift_marker(root, session))
        yield session, root
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _drift_marker(root: Path, session: Watching) -> bool:
    before = len(session.repairs(f"file:{root}/marker"))
    (root / "marker").write_text("drift\n")
    return eventually(lambda: len(session.repairs(f"file:{root}/marker")) > before, timeout=0.5)


def _fence(root: Path, session: Watching) -> None:
    """Drift the marker and wait for its repair: repairs caused before this have been printed."""
    assert eventually(lambda: _drift_marker(root, session))


def test_watch_repairs_content_drift_once_without_feeding_on_its_own_write(
        watching: tuple[Watching, Path]) -> None:
    session, root = watching
    motd = root / "motd"
    motd.write_text("defaced\n")
    assert eventually(lambda: motd.read_text() == "hello\n")
    assert eventually(lambda: len(session.repairs(f"file:{motd}")) == 1)
    _fence(root, session)
    repairs = session.repairs(f"file:{motd}")
    assert len(repairs) == 1
    assert repairs[0]["status"] == "changed"


def test_watch_repairs_mode_drift(watching: tuple[Watching, Path]) -> None:
    session, root = watching
    motd = root / "motd"
    motd.chmod(0o666)
    assert eventually(lambda: motd.stat().st_mode & 0o777 == 0o644)
    assert eventually(lambda: any("mode" in result["summary"] for result in session.repairs(f"file:{motd}")))


def test_watch_recreates_a_deleted_file(watching: tuple[Watching, Path]) -> None:
    session, root = watching
    motd = root / "motd"
    motd.unlink()
    assert eventually(lambda: motd.exists() and motd.read_text() == "hello\n")


def test_watch_leaves_unwatched_resources_alone(watching: tuple[Watching, Path]) -> None:
    session, root = watching
    (root / "unwatched").write_text("changed by hand\n")
    _fence(root, session)
    assert (root / "unwatched").read_text() == "changed by hand\n"
    assert session.repairs(f"file:{root}/unwatched") == []


def test_sigterm_stops_watch_with_exit_zero(watching: tuple[Watching, Path]) -> None:
    session, _ = watching
    session.process.send_signal(signal.SIGTERM)
    assert session.process.wait(timeout=10) == 0


def test_sigint_stops_watch_with_exit_zero(watching: tuple[Watching, Path]) -> None:
    session, _ = watching
    os.kill(session.process.pid, signal.SIGINT)
    assert session.process.wait(timeout=10) == 0

"""`partout up` shows events: `partout events --follow` run beside it (no flags: it finds the
running up) prints a drift repair of a file the example policy manages, within the event
period P that up's banner states, counted from the repair (plus a margin for the store,
the republish and two processes on a loaded machine; not a performance claim)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from helpers import eventually
from upenv import RunningUp, read_lines, running_up

MARGIN = 5.0  # seconds beyond P (and its splay) for the line to be printed: delivery takes well under 1 s


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningUp]:
    with running_up(tmp_path_factory.mktemp("up-state")) as running:
        yield running


def stated_period(up: RunningUp) -> float:
    """P as up's banner states it beside the `partout events --follow` hint."""
    assert eventually(lambda: "partout events --follow" in up.output(), timeout=30), up.output()
    found = re.search(r"partout events --follow.*a repair shows within (\d+(?:\.\d+)?) s \(the event period",
                      up.output())
    assert found is not None, up.output()
    return float(found.group(1))


def test_events_follow_beside_up_prints_a_repair_within_the_event_period(up: RunningUp) -> None:
    period = stated_period(up)
    motd = up.directory / "managed" / "motd"
    assert eventually(motd.exists, timeout=30)
    follower = subprocess.Popen([sys.executable, "-m", "partout", "events", "--follow"],
                                env={**os.environ, **up.env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    lines: list[str] = []
    reader = threading.Thread(target=read_lines, args=(follower, lines), daemon=True)
    reader.start()
    try:
        assert eventually(lambda: any(line.startswith("following partout.node.") for line in lines),
                          timeout=60), lines
        followed_from = len(lines)

        def repairs_printed_by_up() -> int:
            return sum(f"repaired file:{motd}: " in line for line in list(up.lines))

        before = repairs_printed_by_up()
        motd.write_text("tampered by the events test\n")
        assert eventually(lambda: repairs_printed_by_up() > before, timeout=30), up.output()

        def repair_followed() -> bool:
            return any(str(motd) in line and "  file  changed  1  " in line for line in list(lines)[followed_from:])

        # from the repair: the rest of its period (at most P, stretched by the splay), then delivery
        assert eventually(repair_followed, timeout=period * 1.5 + MARGIN, interval=0.05), lines[followed_from:]
        assert follower.poll() is None  # still following
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        reader.join(timeout=10)

"""Resident memory of an idle `partout apply --watch` over N watched files.

    python3 bench/watch_rss.py [--n 1000] [--dirs 10]
Target: < 80 MB with 1,000 watched files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def thread_count(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of watched files")
    parser.add_argument("--dirs", type=int, default=10, help="spread over this many directories")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="partout-rss-") as temporary:
        directory = Path(temporary)
        root, state = directory / "root", directory / "state"
        root.mkdir()
        state.mkdir(mode=0o700)
        for number in range(arguments.dirs):
            (root / f"d{number}").mkdir()
        policy = directory / "watch.p2"
        policy.write_text(
            "with p2.watch():\n"
            f"    for number in range({arguments.n}):\n"
            f"        p2.file(f'{root}/d{{number % {arguments.dirs}}}/file{{number}}.conf',"
            " content=f'line {number}\\n', mode='0644')\n")
        process = subprocess.Popen(
            [sys.executable, "-m", "partout", "apply", "--watch", "--json", "--state-dir", str(state), str(policy)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert process.stdout is not None
            process.stdout.readline()
            time.sleep(2.0)  # idle: registrations done, nothing drifting
            samples = [rss_mb(process.pid)]
            for _ in range(4):
                time.sleep(0.5)
                samples.append(rss_mb(process.pid))
            print(f"idle partout apply --watch on {arguments.n} watched files in {arguments.dirs} directories:")
            print(f"  RSS {max(samples):.1f} MB (target < 80 MB), {thread_count(process.pid)} threads")
        finally:
            process.terminate()
            process.wait(timeout=10)


if __name__ == "__main__":
    main()

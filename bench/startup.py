"""Start-up cost: an empty-policy `partout apply`, whole process, against a bare
`python3 -c pass` of the same interpreter, runs interleaved so that load from other work
hits both alike. Prints the best and the median of each and their ratios.

    python3 bench/startup.py [--runs 20] [--importtime]

Run it with byte-code caches writable (PYTHONDONTWRITEBYTECODE unset), as an installed
package has them: otherwise every run compiles Partout from source.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def elapsed(command: list[str], environment: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)
    took = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr.decode()[-2000:]}")
    return took


def slowest_imports(command: list[str], environment: dict[str, str], count: int = 15) -> list[str]:
    """The imports that cost most (cumulative), from python -X importtime."""
    completed = subprocess.run([command[0], "-X", "importtime", *command[1:]], capture_output=True, text=True,
                               env=environment)
    rows = []
    for line in completed.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return [f"  {microseconds / 1000:7.1f} ms {name}" for microseconds, name in rows[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command")
    parser.add_argument("--importtime", action="store_true", help="also list the slowest imports")
    arguments = parser.parse_args()
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="partout-startup-") as temporary:
        directory = Path(temporary)
        policy = directory / "empty.p2"
        policy.write_text("")
        state = directory / "state"
        state.mkdir(mode=0o700)
        bare = [sys.executable, "-c", "pass"]
        apply = [sys.executable, "-m", "partout", "apply", "--state-dir", str(state), str(policy)]
        elapsed(apply, environment)  # writes the byte-code caches
        timings: dict[str, list[float]] = {"bare": [], "apply": []}
        for _ in range(arguments.runs):
            timings["bare"].append(elapsed(bare, environment))
            timings["apply"].append(elapsed(apply, environment))
        best = {name: min(values) for name, values in timings.items()}
        median = {name: statistics.median(values) for name, values in timings.items()}
        print(f"start-up, {arguments.runs} interleaved runs each ({sys.executable}):")
        print(f"  python3 -c pass              best {best['bare'] * 1000:6.1f} ms  median {median['bare'] * 1000:6.1f} ms")
        print(f"  partout apply (empty policy) best {best['apply'] * 1000:6.1f} ms  median {median['apply'] * 1000:6.1f} ms")
        print(f"  ratio                        best {best['apply'] / best['bare']:6.1f} x   "
              f"median {median['apply'] / median['bare']:6.1f} x")
        if arguments.importtime:
            print("slowest imports of the empty-policy apply (cumulative):")
            print("\n".join(slowest_imports(apply, environment)))


if __name__ == "__main__":
    main()

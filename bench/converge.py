"""Whole-process time of `partout apply` over N file resources (content + mode): the
first run, a no-op second run, resources per second; and, when installed, the same
files through salt-call --local, puppet apply and pyinfra @local, with ratios.

    python3 bench/converge.py --n 1000 [--peers salt,puppet,pyinfra] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def write_policy(directory: Path, root: Path, count: int) -> Path:
    lines = ["for number in range(%d):" % count,
             f"    p2.file(f'{root}/file{{number}}.txt', content=f'line {{number}}\\n', mode='0644')"]
    policy = directory / "converge.p2"
    policy.write_text("\n".join(lines) + "\n")
    return policy


def timed(command: list[str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}... exited {completed.returncode}:\n{completed.stderr[-2000:]}")
    return elapsed


def partout(directory: Path, count: int, repeat: int) -> tuple[float, float]:
    root = directory / "partout-root"
    state = directory / "partout-state"
    policy = write_policy(directory, root, count)
    root.mkdir()
    state.mkdir(mode=0o700)
    command = [sys.executable, "-m", "partout", "apply", "--state-dir", str(state), str(policy)]
    firsts, noops = [], []
    for _ in range(repeat):
        shutil.rmtree(root)
        root.mkdir()
        firsts.append(timed(command))
        noops.append(timed(command))
    return min(firsts), min(noops)


def salt(directory: Path, count: int) -> tuple[float, float] | None:
    if shutil.which("salt-call") is None:
        return None
    root, states = directory / "salt-root", directory / "salt-states"
    root.mkdir()
    states.mkdir()
    body = [f"{root}/file{n}.txt:\n  file.managed:\n    - contents: 'line {n}'\n    - mode: '0644'\n"
            for n in range(count)]
    (states / "converge.sls").write_text("".join(body))
    command = ["salt-call", "--local", f"--file-root={states}", "state.apply", "converge"]
    return timed(command), timed(command)


def puppet(directory: Path, count: int) -> tuple[float, float] | None:
    if shutil.which("puppet") is None:
        return None
    root = directory / "puppet-root"
    root.mkdir()
    manifest = directory / "converge.pp"
    manifest.write_text("".join(f"file {{ '{root}/file{n}.txt': content => \"line {n}\\n\", mode => '0644' }}\n"
                                for n in range(count)))
    command = ["puppet", "apply", str(manifest)]
    return timed(command), timed(command)


def pyinfra(directory: Path, count: int) -> tuple[float, float] | None:
    if shutil.which("pyinfra") is None:
        return None
    root, sources = directory / "pyinfra-root", directory / "pyinfra-src"
    root.mkdir()
    sources.mkdir()
    for n in range(count):
        (sources / f"file{n}.txt").write_text(f"line {n}\n")
    deploy = directory / "deploy.py"
    deploy.write_text(
        "from pyinfra.operations import files\n"
        f"for n in range({count}):\n"
        f"    files.put(src=f'{sources}/file{{n}}.txt', dest=f'{root}/file{{n}}.txt', mode='644')\n")
    command = ["pyinfra", "-y", "@local", str(deploy)]
    return timed(command), timed(command)


PEERS: dict[str, Callable[[Path, int], tuple[float, float] | None]] = {
    "salt": salt, "puppet": puppet, "pyinfra": pyinfra,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of file resources")
    parser.add_argument("--peers", default="", help="comma-separated: salt,puppet,pyinfra")
    parser.add_argument("--repeat", type=int, default=3, help="runs of partout; the best is printed")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="partout-bench-") as temporary:
        directory = Path(temporary)
        first, noop = partout(directory, arguments.n, arguments.repeat)
        print(f"partout apply, {arguments.n} files (content + mode), whole process, best of {arguments.repeat}:")
        print(f"  first run  {first:6.3f} s  {arguments.n / first:8.0f} resources/s")
        print(f"  no-op run  {noop:6.3f} s  {arguments.n / noop:8.0f} resources/s")
        for name in filter(None, arguments.peers.split(",")):
            if name not in PEERS:
                sys.exit(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
            timings = PEERS[name](directory, arguments.n)
            if timings is None:
                print(f"  {name}: not installed, skipped")
                continue
            peer_first, peer_noop = timings
            print(f"  {name:<8} first {peer_first:6.2f} s ({peer_first / first:5.1f}x partout)"
                  f"  no-op {peer_noop:6.2f} s ({peer_noop / noop:5.1f}x partout)")


if __name__ == "__main__":
    main()

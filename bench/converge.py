"""Whole-process time of `partout apply` over N file resources (content + mode): the
first run, a no-op second run, resources per second; and, when installed, the same
files through salt-call --local, puppet apply and pyinfra @local, with ratios.

    python3 bench/converge.py --n 1000 [--peers salt,puppet,pyinfra] [--rounds 3]

Each round runs every tool's first run (into an emptied root, the deletion flushed to
disk beforehand) and then its no-op run, one tool after the other, so that load from other work on the machine hits all of them alike.
The best and the median over the rounds are printed, with the ratios of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class Contender:
    """One tool applying the N files: its command, the root it writes, its timings."""

    name: str
    command: list[str]
    root: Path
    firsts: list[float] = field(default_factory=list)
    noops: list[float] = field(default_factory=list)

    def round(self) -> None:
        shutil.rmtree(self.root)
        self.root.mkdir()
        # The deletion is set-up, not the tool's work: flush it first, or a tool that
        # fsyncs its writes (partout) waits for the journal to commit it (and, on a disk
        # mounted with `discard`, to trim the freed blocks) while one that does not
        # (salt) leaves it to the kernel.
        os.sync()
        self.firsts.append(timed(self.command))
        self.noops.append(timed(self.command))


def partout(directory: Path, count: int) -> Contender:
    root = directory / "partout-root"
    state = directory / "partout-state"
    policy = write_policy(directory, root, count)
    root.mkdir()
    state.mkdir(mode=0o700)
    return Contender("partout", [sys.executable, "-m", "partout", "apply", "--state-dir", str(state), str(policy)], root)


def salt(directory: Path, count: int) -> Contender | None:
    if shutil.which("salt-call") is None:
        return None
    root, states = directory / "salt-root", directory / "salt-states"
    root.mkdir()
    states.mkdir()
    body = [f"{root}/file{n}.txt:\n  file.managed:\n    - contents: 'line {n}'\n    - mode: '0644'\n"
            for n in range(count)]
    (states / "converge.sls").write_text("".join(body))
    return Contender("salt", ["salt-call", "--local", f"--file-root={states}", "state.apply", "converge"], root)


def puppet(directory: Path, count: int) -> Contender | None:
    if shutil.which("puppet") is None:
        return None
    root = directory / "puppet-root"
    root.mkdir()
    manifest = directory / "converge.pp"
    manifest.write_text("".join(f"file {{ '{root}/file{n}.txt': content => \"line {n}\\n\", mode => '0644' }}\n"
                                for n in range(count)))
    return Contender("puppet", ["puppet", "apply", str(manifest)], root)


def pyinfra(directory: Path, count: int) -> Contender | None:
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
    return Contender("pyinfra", ["pyinfra", "-y", "@local", str(deploy)], root)


PEERS: dict[str, Callable[[Path, int], Contender | None]] = {
    "salt": salt, "puppet": puppet, "pyinfra": pyinfra,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="number of file resources")
    parser.add_argument("--peers", default="", help="comma-separated: salt,puppet,pyinfra")
    parser.add_argument("--rounds", "--repeat", type=int, default=3,
                        help="interleaved rounds (first + no-op run of every tool)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="partout-bench-") as temporary:
        directory = Path(temporary)
        ours = partout(directory, arguments.n)
        peers: list[Contender] = []
        for name in filter(None, arguments.peers.split(",")):
            if name not in PEERS:
                sys.exit(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
            peer = PEERS[name](directory, arguments.n)
            if peer is None:
                print(f"  {name}: not installed, skipped")
                continue
            peers.append(peer)
        for _ in range(arguments.rounds):
            for contender in (ours, *peers):
                contender.round()
        best = {"first": min(ours.firsts), "no-op": min(ours.noops)}
        median = {"first": statistics.median(ours.firsts), "no-op": statistics.median(ours.noops)}
        print(f"partout apply, {arguments.n} files (content + mode), whole process, {arguments.rounds} rounds:")
        for run in ("first", "no-op"):
            print(f"  {run:<6} run  best {best[run]:6.3f} s ({arguments.n / best[run]:5.0f} resources/s)"
                  f"  median {median[run]:6.3f} s")
        for peer in peers:
            for run, timings in (("first", peer.firsts), ("no-op", peer.noops)):
                peer_best, peer_median = min(timings), statistics.median(timings)
                print(f"  {peer.name:<8} {run:<6} best {peer_best:6.2f} s ({peer_best / best[run]:5.1f}x partout)"
                      f"  median {peer_median:6.2f} s ({peer_median / median[run]:5.1f}x partout)")
            ratios = [f"{peer_first / first:.1f}x/{peer_noop / noop:.1f}x" for first, noop, peer_first, peer_noop
                      in zip(ours.firsts, ours.noops, peer.firsts, peer.noops, strict=True)]
            print(f"  {peer.name:<8} ratio per round (first/no-op): {', '.join(ratios)}")


if __name__ == "__main__":
    main()

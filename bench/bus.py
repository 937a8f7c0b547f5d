"""BusActor versus raw nats-py against the same nats-server, in the same run.

    python3 bench/bus.py [--messages 100000] [--requests 2000]

Prints publish/subscribe throughput (messages/s, from first publish to last delivery) and
request/reply latency p50/p99, raw and through BusActor, and the ratios.
Targets: BusActor >= 50 % of raw throughput, p99 within 2x raw.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import nats
import pykka

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from partout.bus.facade import Bus  # noqa: E402
from partout.bus.messages import BusMessage, BusOptions  # noqa: E402

PAYLOAD = b"x" * 64


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def raw_throughput(url: str, count: int) -> float:
    connection = await nats.connect(url, pending_size=64 << 20)
    received = 0
    done = asyncio.Event()

    async def on_message(message: Any) -> None:
        nonlocal received
        received += 1
        if received == count:
            done.set()

    await connection.subscribe("bench.throughput", cb=on_message, pending_msgs_limit=count + 1)
    await connection.flush()
    start = time.perf_counter()
    for _ in range(count):
        await connection.publish("bench.throughput", PAYLOAD)
    await asyncio.wait_for(done.wait(), timeout=120)
    elapsed = time.perf_counter() - start
    await connection.close()
    return count / elapsed


async def raw_latencies(url: str, count: int) -> list[float]:
    connection = await nats.connect(url)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await connection.request("bench.echo", PAYLOAD, timeout=5)
        samples.append(time.perf_counter() - start)
    await connection.close()
    return samples


class Counter(pykka.ThreadingActor):
    def __init__(self, count: int, done: threading.Event) -> None:
        super().__init__()
        self.count, self.done, self.received = count, done, 0

    def on_receive(self, message: Any) -> None:
        self.received += 1
        if self.received == self.count:
            self.done.set()


def bus_throughput(bus: Bus, count: int, to_actor: bool) -> float:
    done = threading.Event()
    received = [0]

    def on_message(message: BusMessage) -> None:
        received[0] += 1
        if received[0] == count:
            done.set()

    subject = f"bench.bus.{'actor' if to_actor else 'callback'}"
    counter = Counter.start(count, done) if to_actor else None
    subscription = bus.subscribe(subject, counter if counter is not None else on_message).get(timeout=10)
    start = time.perf_counter()
    for _ in range(count):
        bus.publish(subject, PAYLOAD)
    if not done.wait(timeout=120):
        raise RuntimeError("BusActor did not deliver every message")
    elapsed = time.perf_counter() - start
    bus.unsubscribe(subscription).get(timeout=10)
    if counter is not None:
        counter.stop()
    return count / elapsed


def bus_latencies(bus: Bus, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        bus.request("bench.echo", PAYLOAD, timeout=5).get(timeout=10)
        samples.append(time.perf_counter() - start)
    return samples


def start_echo(url: str) -> tuple[asyncio.AbstractEventLoop, threading.Thread, Any]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def serve() -> Any:
        connection = await nats.connect(url)

        async def echo(message: Any) -> None:
            await message.respond(message.data)

        await connection.subscribe("bench.echo", cb=echo)
        await connection.flush()
        return connection

    return loop, thread, asyncio.run_coroutine_threadsafe(serve(), loop).result(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    arguments = parser.parse_args()
    binary = shutil.which("nats-server") or "nats-server"
    port = free_port()
    store = tempfile.mkdtemp(prefix="partout-bench-")
    server = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"nats://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        echo_loop, echo_thread, echo_connection = start_echo(url)
        bus = Bus.start(BusOptions(servers=(url,), max_buffer_bytes=64 << 20))
        bus.flush().get(timeout=10)
        # warm up both paths once
        asyncio.run(raw_throughput(url, 2000))
        bus_throughput(bus, 2000, to_actor=False)

        raw_rate = statistics.median(asyncio.run(raw_throughput(url, arguments.messages)) for _ in range(3))
        callback_rate = statistics.median(bus_throughput(bus, arguments.messages, False) for _ in range(3))
        actor_rate = statistics.median(bus_throughput(bus, arguments.messages, True) for _ in range(3))
        raw_samples = asyncio.run(raw_latencies(url, arguments.requests))
        bus_samples = bus_latencies(bus, arguments.requests)
        bus.stop()
        asyncio.run_coroutine_threadsafe(echo_connection.close(), echo_loop).result(timeout=10)
        echo_loop.call_soon_threadsafe(echo_loop.stop)
        echo_thread.join(timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(store, ignore_errors=True)

    print(f"pub/sub throughput, {arguments.messages} x {len(PAYLOAD)} B messages (median of 3):")
    print(f"  raw nats-py                  {raw_rate:>10,.0f} msg/s")
    print(f"  BusActor -> callback         {callback_rate:>10,.0f} msg/s   {callback_rate / raw_rate:6.0%} of raw")
    print(f"  BusActor -> pykka actor      {actor_rate:>10,.0f} msg/s   {actor_rate / raw_rate:6.0%} of raw")
    raw50, raw99 = percentile(raw_samples, 0.5) * 1e3, percentile(raw_samples, 0.99) * 1e3
    bus50, bus99 = percentile(bus_samples, 0.5) * 1e3, percentile(bus_samples, 0.99) * 1e3
    print(f"request/reply latency, {arguments.requests} sequential requests:")
    print(f"  raw nats-py                  p50 {raw50:.3f} ms   p99 {raw99:.3f} ms")
    print(f"  BusActor (Bus.request.get)   p50 {bus50:.3f} ms   p99 {bus99:.3f} ms   "
          f"p50 x{bus50 / raw50:.2f}  p99 x{bus99 / raw99:.2f} raw")


if __name__ == "__main__":
    main()

"""Action -> datagram latency on loopback: how long from ``MixerEngine.apply`` (or a raw backend ``set``) until the
desk's socket has the datagram. Prints p50/p99/max in milliseconds.

The "desk" is a plain blocking UDP socket in a thread (answers ``/xinfo`` and reads, timestamps every set with the
same monotonic clock), so the event loop under test is not also running the receiver.

    .venv/bin/python tools/bench/bench_mixer_latency.py [--n 400]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from liverec_edge.mixer.actions import MixerEngine
from liverec_edge.mixer.firmware import load_firmware
from liverec_edge.mixer.journal import Journal
from liverec_edge.mixer.osc import OscConsole, decode, encode
from liverec_edge.mixer.settings import MixerSettings
from liverec_edge.types import Action


class ThreadDesk:
    """A minimal X32 on a thread: /xinfo, reads answered with 0.75 (0 dB faders), sets timestamped on arrival."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.arrivals: list[tuple[float, str]] = []
        self.values: dict[str, float] = {}
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                data, client = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            now = time.monotonic()
            address, args = decode(data)
            if address == "/xinfo":
                self.sock.sendto(encode("/xinfo", ["127.0.0.1", "bench", "X32", "4.06"]), client)
            elif address.endswith("/fader") and not args:
                self.sock.sendto(encode(address, [self.values.get(address, 767 / 1023)], "f"), client)
            elif args:
                self.arrivals.append((now, address))
                self.values[address] = float(args[0])

    def close(self) -> None:
        self._stop = True
        self.thread.join()
        self.sock.close()


def summary(name: str, samples: list[float]) -> None:
    ms = sorted(x * 1000 for x in samples)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    print(f"{name:<52} n={len(ms):4d}  p50={statistics.median(ms):6.3f} ms  p99={p99:6.3f} ms  max={ms[-1]:6.3f} ms")


async def wait_arrivals(desk: ThreadDesk, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(desk.arrivals) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.0005)


async def main(n: int) -> None:
    desk = ThreadDesk()
    firmware = load_firmware("x32")
    # The rate limit is the product's (100 Hz, the notes' 10 ms pacing): the benchmark spaces its actions wider
    # than that so it measures latency, not queueing.
    console = OscConsole(firmware, "127.0.0.1", desk.port, reply_timeout_s=0.2)
    await console.connect(5)
    gap = 0.012

    raw: list[float] = []
    for i in range(n):
        before = len(desk.arrivals)
        t0 = time.monotonic()
        await console.set("ch01.fader", -10.0 - (i % 20))
        await wait_arrivals(desk, before + 1)
        raw.append(desk.arrivals[-1][0] - t0)
        await asyncio.sleep(gap)
    summary("backend.set -> datagram at the desk", raw)

    with tempfile.TemporaryDirectory() as state:
        engine = MixerEngine(console, MixerSettings(), journal=Journal(Path(state)))
        await engine.start()
        held: list[float] = []
        # Eight parameters in turn, so the per-parameter debounce (50 Hz) does not add to the figure.
        rotation = [f"ch{c:02d}.fader" for c in range(2, 10)]
        for param in rotation:
            await engine.apply(Action(param, -10, owner="bench"))
        for i in range(n):
            before = len(desk.arrivals)
            t0 = time.monotonic()
            await engine.apply(Action(rotation[i % len(rotation)], -11.0 - (i % 20), owner="bench"))
            await wait_arrivals(desk, before + 1)
            held.append(desk.arrivals[-1][0] - t0)
            await asyncio.sleep(gap)
        summary("engine.apply, parameter already held -> datagram", held)

        first: list[float] = []
        await engine.release("bench")
        await asyncio.sleep(0.1)
        for i in range(min(n, 31)):
            param = f"ch{i + 2:02d}.fader"
            before = len(desk.arrivals)
            t0 = time.monotonic()
            await engine.apply(Action(param, -20, owner=f"first-{i}"))
            await wait_arrivals(desk, before + 1)
            first.append(desk.arrivals[-1][0] - t0)
            await asyncio.sleep(gap)
        summary("engine.apply, first change (baseline read + fsync)", first)

        ramp: list[float] = []
        for i in range(min(n, 100)):
            before = len(desk.arrivals)
            t0 = time.monotonic()
            await engine.apply(Action("bus01.fader", -30.0 + (i % 2) * 10, ramp_ms=200, owner="ramp"))
            await wait_arrivals(desk, before + 1)
            ramp.append(desk.arrivals[before][0] - t0)
            await engine.wait_idle()
            await asyncio.sleep(0.025)  # past the per-parameter debounce (1/50 s) after the ramp's last step
        summary("engine.apply ramp -> first step datagram", ramp)
        await engine.close(restore=False)
    await console.close()
    desk.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="actions per scenario")
    asyncio.run(main(parser.parse_args().n))

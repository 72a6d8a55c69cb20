"""Real-time factor of the software console: a full strip (HPF + 4-band EQ + gate + compressor + fader) on 48 kHz
mono real music, blocks of 1024 samples, one core. Prints the median RTF over repeats (target ≥ 200×).

Two clocks: CPU time of the processing thread (what the console costs; robust when other processes share the core)
and wall time (what a caller waits, including time the scheduler gave to others).

    .venv/bin/python tools/bench/bench_soft_console.py [--repeats 7] [--seconds 20] [--block 1024]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from liverec_edge.media import decode_audio
from liverec_edge.mixer.soft import SoftConsole

RATE = 48000
MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
FULL_STRIP = {
    "ch01.trim": 3.0,
    "ch01.hpf.on": 1,
    "ch01.hpf.slope": 24,
    "ch01.hpf.freq": 100.0,
    "ch01.gate.on": 1,
    "ch01.gate.mode": "EXP2",
    "ch01.gate.thr": -45.0,
    "ch01.gate.range": 30.0,
    "ch01.gate.attack": 1.0,
    "ch01.eq.on": 1,
    "ch01.eq.1.type": "LShv",
    "ch01.eq.1.gain": 3.0,
    "ch01.eq.2.gain": -4.0,
    "ch01.eq.3.gain": 2.5,
    "ch01.eq.4.gain": 4.0,
    "ch01.dyn.on": 1,
    "ch01.dyn.thr": -24.0,
    "ch01.dyn.ratio": 4.0,
    "ch01.dyn.knee": 3.0,
    "ch01.dyn.mgain": 6.0,
    "ch01.dyn.mix": 80.0,
    "ch01.fader": -3.0,
}


FILTERS_ONLY = {name: value for name, value in FULL_STRIP.items() if not name.startswith(("ch01.gate", "ch01.dyn"))}
FADER_ONLY = {"ch01.fader": -3.0}


def one_run(signal: np.ndarray, block: int, settings: dict[str, object]) -> tuple[float, float]:
    """(CPU-time RTF, wall-time RTF) of one pass over the signal."""
    console = SoftConsole(RATE)
    for name, value in settings.items():
        console.set(name, value)
    blocks = [signal[i : i + block] for i in range(0, len(signal) - block + 1, block)]
    wall, cpu = time.perf_counter(), time.thread_time()
    for index, samples in enumerate(blocks):
        console.process(samples, index * block / RATE)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    audio = len(blocks) * block / RATE
    return audio / cpu, audio / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--block", type=int, default=1024)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    music, _ = decode_audio(MEDIA / "music" / "Kevin_MacLeod_-_Vibe_Ace.ogg", RATE)
    signal = music[: int(args.seconds * RATE)].astype(np.float32)
    one_run(signal[:RATE], args.block, FULL_STRIP)  # warm-up
    print(f"soft console, {RATE} Hz mono, block {args.block}, {len(signal) / RATE:.0f} s of music, "
          f"{args.repeats} runs; target for the full strip >= 200x")
    print(f"numpy call cost on this box now: {numpy_call_cost_us():.2f} us (1024-sample multiply)")
    for title, settings in (("fader only", FADER_ONLY), ("HPF + 4-band EQ + fader", FILTERS_ONLY),
                            ("full strip: HPF + EQ + gate + compressor + fader", FULL_STRIP)):
        runs = [one_run(signal, args.block, settings) for _ in range(args.repeats)]
        print(title)
        for label, factors in (("CPU time", [r[0] for r in runs]), ("wall time", [r[1] for r in runs])):
            median = statistics.median(factors)
            print(f"  real-time factor ({label}): median {median:.0f}x  (min {min(factors):.0f}x, "
                  f"max {max(factors):.0f}x) = {args.block / RATE / median * 1e6:.0f} us per block")


def numpy_call_cost_us() -> float:
    """A yardstick for the machine's state: the console is bounded by per-call overhead, not arithmetic."""
    x = np.ones(1024)
    start = time.thread_time()
    for _ in range(20000):
        x * 0.5
    return (time.thread_time() - start) / 20000 * 1e6


if __name__ == "__main__":
    main()

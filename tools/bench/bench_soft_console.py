"""Real-time factor of the software console: a full strip (HPF + 4-band EQ + gate + compressor + fader) on 48 kHz
mono real music, blocks of 1024 samples, one core. Prints the median RTF over repeats (target ≥ 200×).

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


def one_run(signal: np.ndarray, block: int) -> float:
    console = SoftConsole(RATE)
    for name, value in FULL_STRIP.items():
        console.set(name, value)
    blocks = [signal[i : i + block] for i in range(0, len(signal) - block + 1, block)]
    start = time.perf_counter()
    for index, samples in enumerate(blocks):
        console.process(samples, index * block / RATE)
    elapsed = time.perf_counter() - start
    return len(blocks) * block / RATE / elapsed


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
    one_run(signal[: RATE], args.block)  # warm-up
    factors = [one_run(signal, args.block) for _ in range(args.repeats)]
    print(f"soft console full strip, {RATE} Hz mono, block {args.block}, {len(signal) / RATE:.0f} s of music")
    print(f"real-time factor: median {statistics.median(factors):.0f}x  (min {min(factors):.0f}x, "
          f"max {max(factors):.0f}x over {args.repeats} runs; target >= 200x)")
    print(f"per block: {args.block / RATE / statistics.median(factors) * 1e6:.0f} us")


if __name__ == "__main__":
    main()

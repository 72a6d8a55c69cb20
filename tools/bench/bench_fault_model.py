"""Fault model speed and memory: latency per 1 s window including features, one thread; RSS the model adds.

    .venv/bin/python tools/bench/bench_fault_model.py [--model-dir models/faults] [--repeats 300] [--against DIR]

Prints medians (best of three interleaved rounds) of wall time and of CPU time (process time: what the window
costs on an idle core, robust to other processes sharing the box), for the log-mel of a 1.015 s window at 16 kHz,
the model alone, and both; plus the resident-memory growth from loading the model and running it once (the
interpreter library counted separately), and the file sizes. Targets: ≤ 3 ms per window with features, ≤ 20 MB RSS,
≤ 1.5 MB of model files. ``--against DIR`` times another model directory's window (features + model) in the same
rounds, interleaved, and prints the ratio of the medians round by round: the box's speed drifts by 2× over hours, so
two models are only comparable measured side by side.
"""

from __future__ import annotations

import os

# one thread, as the daemon runs it (liverec_edge.cli and the systemd unit set the same)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from liverec_edge.audio.features import FeatureParams, logmel  # noqa: E402


def rss_mb() -> float:
    """Current resident set size (Linux /proc), MB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``fn()``."""
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return float(np.median(wall) * 1e3), float(np.median(cpu) * 1e3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "faults")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    parser.add_argument("--against", type=Path, default=None, metavar="DIR",
                        help="another model directory, timed in the same rounds (ratio = this / that)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from liverec_edge.media import decode_audio

    speech, _ = decode_audio(args.media / "speech" / "jfk.wav", 16_000)
    samples = speech[16_000 : 16_000 + FeatureParams().n_samples(100)]
    window = logmel(samples)
    for _ in range(20):
        logmel(samples)

    from liverec_edge.audio.model import FaultModel
    from liverec_edge.tflite import _interpreter_class

    # the interpreter library is shared by every model of the daemon: count it separately from this model
    before_library = rss_mb()
    _interpreter_class()
    before = rss_mb()

    model = FaultModel.load(args.model_dir, num_threads=1)
    model.scores(window, samples=samples)
    rss_delta = rss_mb() - before
    for _ in range(20):
        model.scores(window, samples=samples)
    other = FaultModel.load(args.against, num_threads=1) if args.against is not None else None
    if other is not None:
        for _ in range(20):
            other.scores(window, samples=samples)

    # three interleaved rounds; the lowest median is the figure least disturbed by the other processes of a shared
    # box (the spread is printed too)
    rounds: dict[str, list[tuple[float, float]]] = {"features": [], "model": [], "total": [], "against": []}
    for _ in range(args.rounds):
        rounds["features"].append(timed(lambda: logmel(samples), args.repeats))
        # "model" includes the extra feature channels a model computes from the samples (mains lines), if any
        rounds["model"].append(timed(lambda: model.scores(window, samples=samples), args.repeats))
        rounds["total"].append(timed(lambda: model.scores(logmel(samples), samples=samples), args.repeats))
        if other is not None:
            rounds["against"].append(timed(lambda: other.scores(logmel(samples), samples=samples), args.repeats))
    features_ms, model_ms, total_ms = (min(rounds[k]) for k in ("features", "model", "total"))
    sizes = {p.name: p.stat().st_size for p in sorted(args.model_dir.glob("*.tflite"))}
    result = {
        "window_s": round(samples.size / 16_000, 3),
        "features_ms": {"wall_median": round(features_ms[0], 3), "cpu_median": round(features_ms[1], 3)},
        "model_ms": {"wall_median": round(model_ms[0], 3), "cpu_median": round(model_ms[1], 3)},
        "total_ms": {"wall_median": round(total_ms[0], 3), "cpu_median": round(total_ms[1], 3)},
        "total_ms_rounds_wall": [round(r[0], 3) for r in rounds["total"]],
        "rss_delta_mb": round(rss_delta, 2),
        "interpreter_library_rss_mb": round(before - before_library, 2),
        "file_bytes": sizes,
        "with_mask": model.with_mask,
        "targets": {"total_ms": 3.0, "rss_delta_mb": 20.0, "file_bytes": 1_500_000},
    }
    if other is not None:
        ratios = [ours[0] / theirs[0] for ours, theirs in zip(rounds["total"], rounds["against"], strict=True)]
        result["against"] = {
            "model_dir": str(args.against),
            "total_ms_rounds_wall": [round(r[0], 3) for r in rounds["against"]],
            "ratio_rounds": [round(r, 3) for r in ratios],
            "ratio_median": round(float(np.median(ratios)), 3),
        }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

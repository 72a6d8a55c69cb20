"""Fault analysis latency per 1 s window on one thread, features included.

Cases (48 kHz mono, real material from ../shared/media):

* ``model only`` — one inference of the shipped model on a (100, 64) log-mel window;
* ``batch: silence`` — a silent window: the gate answers, the model never runs;
* ``batch: clean speech`` — resample + log-mel + gate + model (the usual no-fault outcome);
* ``batch: hum`` / ``batch: clipped`` — a fault: location and measurement run too;
* ``batch: speech, no candidate`` — the clean-speech path when nothing passes the pre-judgement (the usual case
  with a good model: gate, resampling, features, one inference);
* ``stream: feed 20 ms`` — the daemon's per-block cost (ring, streaming resample, streaming log-mel);
* ``stream: analyse newest 1 s`` — the daemon's audio-only analysis of the newest window, reusing the streamed
  frames (``no candidate``: when nothing passes the pre-judgement).

Prints medians and 90th percentiles in milliseconds.

    .venv/bin/python tools/bench/bench_fault_analysis.py [--repeat 50]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from liverec_edge.audio.analysis import FaultAnalyser, StreamingFaultAnalyser  # noqa: E402
from liverec_edge.audio.features import logmel  # noqa: E402
from liverec_edge.audio.settings import AudioSettings  # noqa: E402
from liverec_edge.media import decode_audio  # noqa: E402
from liverec_edge.types import AudioBlock, AudioWindow  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
RATE = 48_000


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm caches (filter designs, FFT plans)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000.0)
    return float(np.median(samples)), float(np.percentile(samples, 90))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()

    settings = AudioSettings(num_threads=1)
    analyser = FaultAnalyser(settings, args.model_dir)
    speech, _ = decode_audio(MEDIA / "speech" / "librispeech_5703-47212-0000.ogg", rate=RATE)
    speech = speech[RATE: 2 * RATE].astype(np.float32)
    mains, _ = decode_audio(MEDIA / "hum" / "enf_whu_h1_ref_018.wav")
    phase = np.interp(np.arange(RATE) / RATE, np.arange(mains.size) / 400.0,
                      np.unwrap(np.angle(np.fft.ifft(np.fft.fft(mains) * (np.arange(mains.size) < mains.size / 2)))))
    hum = (speech + 0.03 * sum(np.cos(k * phase) / k for k in (1, 2, 3))).astype(np.float32)
    clipped = np.clip(speech * 8.0, -1.0, 1.0).astype(np.float32)
    tiled = np.tile(speech[::3], 2)
    frames = logmel(tiled)[: analyser.window_frames]
    window_samples = tiled[: analyser.params.n_samples(analyser.window_frames)]

    rows: list[tuple[str, tuple[float, float]]] = []
    rows.append(("model only (100 frames, + line features if the model takes them)",
                 timed(lambda: analyser.model.scores(frames, samples=window_samples), args.repeat)))
    for name, x in (("silence", np.zeros(RATE, np.float32)), ("clean speech", speech), ("hum", hum),
                    ("clipped", clipped)):
        window = AudioWindow(0.0, 1.0, x, RATE)
        rows.append((f"batch: {name}", timed(lambda w=window: analyser.analyse(w), args.repeat)))

    # The path most windows take with a good model: gate, features, one inference, nothing passes pre-judgement.
    strict = FaultAnalyser(AudioSettings(num_threads=1, types={t: {"threshold": 0.99} for t in settings.types}),
                           model=analyser.model)
    rows.append(("batch: speech, no candidate", timed(lambda: strict.analyse(AudioWindow(0.0, 1.0, speech, RATE)),
                                                       args.repeat)))
    stream = StreamingFaultAnalyser(analyser, RATE)
    long = np.tile(speech, 4)
    for a in range(0, long.size, 960):
        stream.feed(AudioBlock(a / RATE, long[a: a + 960, None], RATE))
    block = AudioBlock(0.0, speech[:960, None], RATE)
    t_next = [long.size / RATE]

    def feed() -> None:
        stream.feed(AudioBlock(t_next[0], block.samples, RATE))
        t_next[0] += 960 / RATE

    rows.append(("stream: feed 20 ms block", timed(feed, args.repeat * 10)))
    rows.append(("stream: analyse newest 1 s", timed(
        lambda: stream.analyse_span(stream.now - 1.0, stream.now), args.repeat)))
    strict_stream = StreamingFaultAnalyser(strict, RATE)
    for a in range(0, long.size, 960):
        strict_stream.feed(AudioBlock(a / RATE, long[a: a + 960, None], RATE))
    rows.append(("stream: newest 1 s, no candidate", timed(
        lambda: strict_stream.analyse_span(strict_stream.now - 1.0, strict_stream.now), args.repeat)))

    print(f"{'case':34s} {'median ms':>10s} {'p90 ms':>8s}")
    for name, (median, p90) in rows:
        print(f"{name:34s} {median:10.2f} {p90:8.2f}")
    print("target: <= 3 ms per 1 s window including features, one thread")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Background music under a talker, over time: how much of it the analysis reports, window by window and judged
over several windows (``audio.types.background_music.sustained_windows``), and how much of the talker alone.

Each stream is 60 s: 30 s of a split's talker (looped, active level -38…-14 dBFS) with one of the split's real music
recordings under it (a fixed music-to-talker ratio drawn from -25…-6 dB, the dataset's range; half of the streams
low-passed and reverberated, as heard from a speaker across the room), then 30 s of the talker alone, over a noise
floor of -85…-65 dBFS. The whole stream goes through the offline analysis (``liverec-edge analyze``'s code, the
daemon's rule). Printed per rule: the share of time from 2 s to 30 s covered by background_music events, and of 32 s
to 60 s (the talker alone), and the first by music-to-talker ratio.

``--split val`` (the validation talker over validation's real music: Fishin' and the 22 soundtrack tracks, which need
``bash tools/setup.sh train``) chose the shipped rule; ``--split test`` (JFK over the Brahms strings) reports it.
These are the figures of ``models/faults/MODEL_CARD.md``, "Session 8":

    .venv/bin/python tools/bench/music_over_time.py --split val --streams 20
    .venv/bin/python tools/bench/music_over_time.py --split test --streams 20 --rules 1 4:0.25 4:0.3
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from liverec_edge.audio.analysis import FaultAnalyser  # noqa: E402
from liverec_edge.audio.model import FaultModel  # noqa: E402
from liverec_edge.audio.offline import analyze_samples  # noqa: E402
from liverec_edge.audio.settings import AudioSettings  # noqa: E402
from liverec_edge.types import FaultEvent  # noqa: E402
from tools.faultsynth import generators as gen  # noqa: E402
from tools.faultsynth.sources import is_rendered, load_split  # noqa: E402

RATE = 16_000
HALF_S = 30


def streams(split: str, count: int, seed: int, media: Path) -> list[tuple[float, np.ndarray]]:
    """``count`` (music-to-talker ratio in dB, 60 s of samples) pairs, deterministic from ``seed``."""
    sources = load_split(media, split, soundtracks=split == "val")
    music = [item for item in sources.music if not is_rendered(item[0])]
    rng = np.random.default_rng(seed)
    half = HALF_S * RATE
    out = []
    for i in range(count):
        ratio_db = float(rng.uniform(-25.0, -6.0))
        voice = sources.speech[i % len(sources.speech)][1]
        piece = music[int(rng.integers(len(music)))][1]
        talker = _looped(voice, 2 * half, int(rng.integers(voice.size)))
        level_db = float(rng.uniform(-38.0, -14.0))
        talker = talker * gen.db(level_db) / max(gen.active_rms(talker), 1e-6)
        under = _looped(piece, half, int(rng.integers(piece.size)))
        if rng.random() < 0.5:
            under = gen.reverberate(rng, gen.lowpass(under, float(rng.uniform(2500, 6000)), 2), 0.4)
        under = under * gen.db(level_db + ratio_db) / max(gen.active_rms(under), 1e-6)
        x = talker.copy()
        x[:half] += under
        x += rng.normal(0.0, gen.db(float(rng.uniform(-85.0, -65.0))), x.size)
        out.append((ratio_db, x.astype(np.float32)))
    return out


def _looped(x: np.ndarray, n: int, offset: int) -> np.ndarray:
    return np.tile(x, int(np.ceil((n + offset) / x.size)) + 1)[offset: offset + n]


def covered(events: list[FaultEvent], start_s: float, end_s: float) -> float:
    """Share of [start_s, end_s] inside some background_music event."""
    hit = np.zeros(round((end_s - start_s) * 100), bool)
    for e in events:
        if e.type == "background_music":
            hit[max(0, int((e.start - start_s) * 100)): max(0, int((e.end - start_s) * 100))] = True
    return float(hit.mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("val", "test"), default="val")
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rules", nargs="+", default=["1", "default"], metavar="N[:THRESHOLD]",
                        help="rules to compare: 1 = window by window, N:T = mean of N windows >= T, "
                             "default = the shipped settings (default: %(default)s)")
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "faults")
    parser.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    args = parser.parse_args(argv)
    model = FaultModel.load(args.model_dir)
    material = streams(args.split, args.streams, args.seed, args.media)
    for rule in args.rules:
        if rule == "default":
            settings = AudioSettings()
        else:
            count, _, threshold = rule.partition(":")
            music: dict[str, float | int] = {"sustained_windows": int(count)}
            if threshold:
                music["sustained_threshold"] = float(threshold)
            settings = AudioSettings(types={"background_music": music})
        analyser = FaultAnalyser(settings, model=model)
        with_music, alone, by_ratio = [], [], {}
        for ratio_db, x in material:
            events = analyze_samples(x, RATE, analyser)
            with_music.append(covered(events, 2.0, HALF_S))
            alone.append(covered(events, HALF_S + 2.0, 2 * HALF_S))
            by_ratio.setdefault(int((ratio_db + 25.0) // 5), []).append(with_music[-1])
        bands = " ".join(f"{-25 + 5 * k}..{-20 + 5 * k} dB {np.mean(v):.2f}" for k, v in sorted(by_ratio.items()))
        print(f"{args.split} rule {rule}: music under the talker covered {np.mean(with_music):.3f}, talker alone "
              f"{100 * np.mean(alone):.2f} %; by music-to-talker ratio: {bands}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

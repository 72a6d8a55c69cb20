"""Build the labelled background-fault windows (train / val / test) from ../shared/media into one .npz.

    nice .venv/bin/python tools/build_fault_dataset.py --out /tmp/faults.npz --seed 0 \
        --train 6000 --val 1200 --test 1500

Each window is 1.015 s (100 log-mel frames) of a talker (real speech, or a pause) with 0–3 concurrent faults,
multi-label in ``liverec_edge.types.FAULT_TYPES`` order (``clean`` = no fault). The splits use disjoint source
recordings (see ``tools/faultsynth/sources.py``: SPLITS); synthetic generators draw from per-window seeds, so the
file is a pure function of ``--seed`` and the counts. Keys are ``<split>__<name>`` (see
``faultsynth.windows.build_split``). The output belongs outside the repository.

By default (``--rendered``) train and val also draw on rendered music and train on synthetic talkers, made from the
seed by ``tools/faultsynth/rendered.py`` (needs the Debian packages fluidsynth, fluid-soundfont-gm,
timgm6mb-soundfont and flite: ``bash tools/setup.sh train`` installs them; rendered once, then cached in
``~/.cache/liverec-edge/faultsynth``). ``--no-rendered`` builds from the shared recordings alone. By default
(``--soundtracks``) train and val music also draws on about seventy produced tracks of two Debian game-soundtrack
packages (``tools/faultsynth/soundtracks.py``). The test split is always the shared recordings only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: make `tools.faultsynth` and `liverec_edge` importable
    sys.path.insert(0, str(REPO))

from liverec_edge.types import FAULT_TYPES  # noqa: E402
from tools.faultsynth.rendered import GENERATOR_VERSION, MUSIC_COUNTS, SPEECH_COUNTS  # noqa: E402
from tools.faultsynth.sources import SPLITS  # noqa: E402
from tools.faultsynth.windows import FAULT_COUNT_WEIGHTS, FAULTS, build_split  # noqa: E402

DEFAULT_MEDIA = REPO.parent / "shared" / "media"


def build(media_dir: Path, counts: dict[str, int], seed: int, rendered: bool = True, keep_samples: bool = False,
          jobs: int = 1, soundtracks: bool = True,
          train_count_weights: tuple[float, ...] = FAULT_COUNT_WEIGHTS) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for split, count in counts.items():
        if count <= 0:
            continue
        started = time.monotonic()
        data = build_split(media_dir, split, count, seed, rendered=rendered, keep_samples=keep_samples, jobs=jobs,
                           soundtracks=soundtracks,
                           count_weights=train_count_weights if split == "train" else FAULT_COUNT_WEIGHTS)
        for key, value in data.items():
            arrays[f"{split}__{key}"] = value
        per_type = dict(zip(FAULT_TYPES, data["labels"].sum(axis=0).tolist(), strict=True))
        print(f"{split}: {count} windows in {time.monotonic() - started:.1f} s; positives per type {per_type}",
              file=sys.stderr)
    arrays["fault_types"] = np.asarray(FAULT_TYPES)
    meta = {"seed": seed, "counts": counts, "splits": SPLITS, "rendered": rendered, "soundtracks": soundtracks,
            "train_fault_counts": list(train_count_weights),
            "rendered_version": GENERATOR_VERSION if rendered else None,
            "rendered_counts": {"music": MUSIC_COUNTS, "speech": SPEECH_COUNTS} if rendered else None}
    arrays["meta_json"] = np.asarray(json.dumps(meta))
    return arrays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="the shared media folder")
    parser.add_argument("--out", type=Path, required=True, help="output .npz (outside the repository)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=6000, help="train windows")
    parser.add_argument("--val", type=int, default=1200, help="validation windows")
    parser.add_argument("--test", type=int, default=1500, help="test windows")
    parser.add_argument("--rendered", action=argparse.BooleanOptionalAction, default=True,
                        help="add rendered music (train, val) and synthetic talkers (train) from the seed "
                             "(needs fluidsynth, the GM soundfonts and flite; default on)")
    parser.add_argument("--soundtracks", action=argparse.BooleanOptionalAction, default=True,
                        help="add the Debian game soundtracks' music to train and val (tools/faultsynth/"
                             "soundtracks.py; needs the packages wesnoth-1.16-music and warzone2100-music; default "
                             "on; --no-soundtracks builds session 3's data)")
    parser.add_argument("--samples", action="store_true",
                        help="also store each window's mixture samples (16240 float32 per window), so new features "
                             "can be computed without rebuilding")
    parser.add_argument("--jobs", type=int, default=1, help="processes per split (the result does not change)")
    parser.add_argument("--train-fault-counts", default=",".join(f"{w:g}" for w in FAULT_COUNT_WEIGHTS),
                        metavar="P0,P1,P2,P3",
                        help="training windows only: the weights of 0, 1, 2, 3 … faults in a window (validation "
                             "and test keep the default, %(default)s, so their windows do not change)")
    args = parser.parse_args(argv)
    try:
        train_counts = tuple(float(w) for w in args.train_fault_counts.split(","))
    except ValueError:
        parser.error(f"--train-fault-counts: comma-separated numbers, got {args.train_fault_counts!r}")
    if len(train_counts) > len(FAULTS) + 1 or min(train_counts) < 0 or sum(train_counts) <= 0:
        parser.error(f"--train-fault-counts: 1–{len(FAULTS) + 1} non-negative weights, not all 0")
    if not args.media.is_dir():
        parser.error(f"media folder not found: {args.media}")
    arrays = build(args.media, {"train": args.train, "val": args.val, "test": args.test}, args.seed, args.rendered,
                   keep_samples=args.samples, jobs=args.jobs, soundtracks=args.soundtracks,
                   train_count_weights=train_counts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

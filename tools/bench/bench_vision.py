"""Per-frame cost of the full part analysis (face + hands + pose, as scheduled by PartAnalyser) on the shared ASL
clips (640×480), one interpreter thread, at steady state.

Prints the median / p90 / mean frame time, each model's inferences (in all and per frame: deterministic, unlike the
times), its median time on the frames it ran and its share of the total time, the time outside the models (crops,
decoding, bookkeeping), and the detection counts. Both wall time and this thread's CPU time are shown: on a shared,
oversubscribed box the wall time measures the neighbours, the CPU time the analysis itself (with one interpreter
thread XNNPACK runs in the calling thread, so CPU time covers the models).

The frame budget is unlimited by default so that every scheduled stage runs and the figure is the full analysis;
``--budget-ms`` sets one to see the scheduler shed work.

    .venv/bin/python tools/bench/bench_vision.py [--repeat 2] [--warmup 10] [--hand-model lite|full] [--bilinear]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from liverec_edge.behaviour.codes import BehaviourEncoder, HandState  # noqa: E402
from liverec_edge.behaviour.settings import BehaviourSettings  # noqa: E402
from liverec_edge.media import iter_video_frames  # noqa: E402
from liverec_edge.types import Frame  # noqa: E402
from liverec_edge.vision.pipeline import PartAnalyser  # noqa: E402
from liverec_edge.vision.settings import VisionSettings  # noqa: E402

TARGET_MS = 12.0
UNLIMITED_MS = 1e6


def _summary(values: list[float]) -> str:
    return (f"median {statistics.median(values):6.2f} ms  p90 {np.percentile(values, 90):6.2f} ms  "
            f"mean {statistics.fmean(values):6.2f} ms")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=REPO.parent / "shared" / "media" / "video" / "asl")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="passes over the clips")
    parser.add_argument("--warmup", type=int, default=10, help="frames per clip not timed (tracking acquisition)")
    parser.add_argument("--hand-model", choices=["lite", "full"], default="lite")
    parser.add_argument("--palm-model", choices=["lite", "full"], default="lite")
    parser.add_argument("--pose-every-n", type=int, default=None)
    parser.add_argument("--budget-ms", type=float, default=UNLIMITED_MS)
    parser.add_argument("--bilinear", action="store_true", help="bilinear crops instead of nearest-neighbour")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="any other vision setting, e.g. --set hands_per_frame=2 (repeatable)")
    parser.add_argument("--reference", action="store_true",
                        help="also run every part on every frame and report how far the schedule's results are "
                             "from it (hand and pose landmark error in pixels, hands missed, the behaviour stage's "
                             "hand-at-mouth codes)")
    args = parser.parse_args(argv)

    overrides: dict[str, object] = {
        "num_threads": 1, "hand_model": args.hand_model, "palm_model": args.palm_model,
        "bilinear_crops": args.bilinear, "frame_budget_ms": args.budget_ms,
    }  # fmt: skip
    if args.pose_every_n is not None:
        overrides["pose_every_n"] = args.pose_every_n
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = value
    settings = VisionSettings(**overrides)
    analyser = PartAnalyser(settings, args.models_dir)
    reference = None
    if args.reference:
        every_frame = {"hands_per_frame": settings.max_hands or 1, "hand_still_threshold": 0.0, "pose_every_n": 1,
                       "frame_budget_ms": UNLIMITED_MS}  # fmt: skip
        reference = PartAnalyser(settings.model_copy(update=every_frame), args.models_dir)
    errors: dict[str, list[float]] = defaultdict(list)
    hands_seen = [0, 0]  # frames with a hand in the reference, of those with one in the schedule
    # The behaviour stage's hand-at-the-mouth codes on every frame (warm-up included), scheduled vs reference.
    mouth_codes: dict[HandState, list[tuple[bool, bool]]] = {HandState.AT_MOUTH: [], HandState.RISING_TO_MOUTH: []}

    clips = sorted(args.clips.glob("*.mkv"))
    if not clips:
        print(f"no clips in {args.clips}", file=sys.stderr)
        return 1
    decoded = [[img for _, img in iter_video_frames(c)] for c in clips]

    wall: list[float] = []
    cpu: list[float] = []
    per_model: dict[str, list[float]] = defaultdict(list)
    model_sum: dict[str, float] = defaultdict(float)
    model_runs: dict[str, int] = defaultdict(int)  # inferences (a hand-landmark model may run twice on a frame)
    tracked_runs = 0  # hand-landmark runs on already tracked hands (the rest start tracks: palm search, pose seeds)
    hand_tracker = analyser.detectors.get("hand")
    hand_runs_hist: dict[int, int] = defaultdict(int)  # frames by their number of hand-landmark runs
    face_only = 0  # frames on which no model but the face's ran
    for _ in range(args.repeat):
        for frames in decoded:
            analyser.reset()
            if reference is not None:
                reference.reset()
                encoders = (BehaviourEncoder(BehaviourSettings()), BehaviourEncoder(BehaviourSettings()))
            for i, image in enumerate(frames):
                frame = Frame(t=i / 30.0, index=i, image=image)
                start = time.perf_counter()
                results = analyser.analyse(frame)
                elapsed = (time.perf_counter() - start) * 1000.0
                if reference is not None:
                    expected = reference.analyse(frame)
                    aspect = image.shape[0] / image.shape[1]
                    states = [encoders[0].encode(frame.t, i, results, aspect).hand_state,
                              encoders[1].encode(frame.t, i, expected, aspect).hand_state]  # fmt: skip
                    for flag, pairs in mouth_codes.items():
                        pairs.append((bool(states[0] & flag), bool(states[1] & flag)))
                if i < args.warmup:
                    continue
                if reference is not None:
                    compare(results, expected, image.shape[1], errors, hands_seen)
                wall.append(elapsed)
                cpu.append(analyser.last_total_cpu_ms)
                for name, ms in analyser.last_model_cpu_ms.items():
                    per_model[name].append(ms)
                    model_sum[name] += ms
                for name, count in analyser.last_model_runs.items():
                    model_runs[name] += count
                tracked_runs += getattr(hand_tracker, "last_updates", 0)
                hand_runs_hist[sum(n for m, n in analyser.last_model_runs.items() if m.startswith("hand_"))] += 1
                face_only += all(m.startswith("face_") for m in analyser.last_model_runs)

    cpu_sum = sum(cpu)
    print(f"frames timed: {len(cpu)} (640x480, {len(clips)} clips x {args.repeat}, one thread, "
          f"crops {'bilinear' if args.bilinear else 'nearest'}, hand {args.hand_model}, palm {args.palm_model})")
    print(f"frame CPU time:  {_summary(cpu)}   (target median <= {TARGET_MS:.0f} ms)")
    print(f"frame wall time: {_summary(wall)}")
    # frames: timed frames on which the model ran; runs: its inferences, also per timed frame (deterministic, unlike
    # the times); median ms: its CPU time on a frame it ran (all its runs on that frame).
    print(f"{'model (CPU time)':44s} {'frames':>6s} {'runs':>6s} {'/frame':>6s} {'median ms':>10s} {'share':>7s}")
    for name in sorted(per_model, key=lambda n: -model_sum[n]):
        ran = per_model[name]
        print(f"{name:44s} {len(ran):6d} {model_runs[name]:6d} {model_runs[name] / len(cpu):6.3f} "
              f"{statistics.median(ran):10.2f} {model_sum[name] / cpu_sum:7.1%}")  # fmt: skip
    outside = cpu_sum - sum(model_sum.values())
    print(f"{'outside the models (crops, decoding, NMS)':44s} {len(cpu):6d} {'':6s} {'':6s} {outside / len(cpu):10.2f} "
          f"{outside / cpu_sum:7.1%}")  # fmt: skip
    print(f"hand-landmark runs on tracked hands: {tracked_runs} ({tracked_runs / len(cpu):.3f} per frame; the rest "
          "start new tracks)")
    print("frames by hand-landmark runs: " + ", ".join(f"{k}: {v}" for k, v in sorted(hand_runs_hist.items()))
          + f"; frames running the face models only: {face_only} ({face_only / len(cpu):.0%})")
    print("stats:", analyser.stats())
    if reference is not None:
        print("against every part on every frame (landmark error in pixels at 640 px wide, median / p90):")
        for part, values in errors.items():
            print(f"  {part:5s} {len(values):5d} frames  {statistics.median(values):6.2f} / "
                  f"{np.percentile(values, 90):6.2f} px")  # fmt: skip
        print(f"  frames with a hand in the reference: {hands_seen[0]}, with one in the schedule too: {hands_seen[1]}")
        for flag, pairs in mouth_codes.items():
            print(f"  behaviour code {flag.name} (all {len(pairs)} frames): reference {sum(t for _, t in pairs)} "
                  f"frames, schedule {sum(o for o, _ in pairs)}, both {sum(o and t for o, t in pairs)}, "
                  f"disagreeing {sum(o != t for o, t in pairs)}")  # fmt: skip
    print(f"{'each model alone, 30 runs on a real input':44s} {'CPU ms':>10s} {'wall ms':>10s}")
    for name, (cpu_ms, wall_ms) in standalone_timings(analyser, decoded[0][20]).items():
        print(f"{name:44s} {cpu_ms:10.2f} {wall_ms:10.2f}")
    return 0


def compare(
    scheduled: list, reference: list, width: int, errors: dict[str, list[float]], hands_seen: list[int]
) -> None:
    """Landmark error of the scheduled results (fresh or reused) against the every-frame reference, per part: each
    reference hand is matched to the nearest scheduled hand; mean landmark distance in pixels."""
    for part in ("hand", "pose"):
        ours = [r for r in scheduled if r.part == part and r.detected and r.landmarks is not None]
        theirs = [r for r in reference if r.part == part and r.detected and r.landmarks is not None]
        if part == "hand" and theirs:
            hands_seen[0] += 1
            hands_seen[1] += int(bool(ours))
        for ref in theirs:
            if not ours:
                continue
            dists = [float(np.linalg.norm((r.landmarks[:, :2] - ref.landmarks[:, :2]) * width, axis=1).mean())
                     for r in ours if r.landmarks.shape == ref.landmarks.shape]  # fmt: skip
            if dists:
                errors[part].append(min(dists))


def standalone_timings(analyser: PartAnalyser, image: np.ndarray, runs: int = 30) -> dict[str, tuple[float, float]]:
    """Median CPU and wall time of each loaded model on its own (the figures platform notes quote per model)."""
    from liverec_edge.vision.geometry import full_frame_rect
    from liverec_edge.vision.model import FrameView

    view = FrameView.from_array(image)
    out: dict[str, tuple[float, float]] = {}
    for detector in analyser.detectors.values():
        for model in detector.models:
            tensor = view.tensor(full_frame_rect(view.width, view.height), model.spec)
            cpu, wall = [], []
            for _ in range(runs):
                model.run(tensor)
                cpu.append(model.last_cpu_ms)
                wall.append(model.last_ms)
            out[model.spec.filename] = (statistics.median(cpu), statistics.median(wall))
    return out


if __name__ == "__main__":
    sys.exit(main())

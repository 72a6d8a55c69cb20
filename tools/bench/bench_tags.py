"""Tag latency: behaviour visible → tag emitted (open), and behaviour over → tag closed, in frames, per behaviour.

Two kinds of synthetic sequence with exact ground truth:

- **real photo, real detectors**: ``behaviour.synthetic`` moves a real photograph (grace_hopper.bmp) to lean in,
  leave the room, or move out of the seat zone, and the frames go through the vision stage's PartAnalyser (all
  parts, default schedule: pose every 3rd frame) and the behaviour stage. Latency includes what the detectors add.
- **scripted detector output**: part results in the detectors' conventions for what a still photo cannot show
  (a hand sweeping into the mic zone, covering the mouth, typing; a head turning). Latency is the behaviour
  stage's alone; for ``hand_at_mic`` the prediction's lead (frames *before* contact) is reported too.

``--asl`` also runs the shared ASL clips (real hands, moving all the time) through the part detectors and the
behaviour stage and lists each clip's tags with the frames at which they were opened and closed: no exact ground
truth, but the one place where the hand schedule (``--set hands_per_frame=0.5``) can move a hand tag.

Each case runs with several sub-frame phases of the onset; medians are printed. Also prints the behaviour stage's
own cost per frame (encode + recognise), which comes on top of the part detectors.

    .venv/bin/python tools/bench/bench_tags.py            # ~1 min here
    .venv/bin/python tools/bench/bench_tags.py --scripted-only
    .venv/bin/python tools/bench/bench_tags.py --asl --set hands_per_frame=0.5   # vision settings for the detectors
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from liverec_edge.behaviour import synthetic as syn
from liverec_edge.behaviour.recognise import BehaviourAnalyser, BehaviourTag
from liverec_edge.behaviour.settings import BehaviourSettings
from liverec_edge.types import PartResult

SHARED = Path(__file__).resolve().parents[3] / "shared" / "media"
MIC = [(0.70, 0.40), (0.85, 0.40), (0.85, 0.60), (0.70, 0.60)]
KEYBOARD = [(0.2, 0.8), (0.8, 0.8), (0.8, 1.0), (0.2, 1.0)]


def latency_frames(events: list[tuple[int, BehaviourTag]], behaviour: str, truth: tuple[float, float],
                   fps: float) -> tuple[float, float]:
    """(frames from the true start to the open tag's emission, frames from the true end to the close emission)."""
    start_frame = math.ceil(truth[0] * fps - 1e-9)
    end_frame = math.ceil(truth[1] * fps - 1e-9)
    opened = [i for i, e in events if e.behaviour == behaviour and e.open and not e.predicted]
    closed = [i for i, e in events if e.behaviour == behaviour and not e.open and not e.predicted]
    return (opened[0] - start_frame if opened else math.nan, closed[0] - end_frame if closed else math.nan)


def run_scripted(builder: Callable[[float, int], list[PartResult]], seconds: float, fps: float,
                 settings: BehaviourSettings) -> tuple[list[tuple[int, BehaviourTag]], float]:
    """Events with the frame index at which each was emitted, and the behaviour stage's cost per frame (µs)."""
    analyser = BehaviourAnalyser(settings)
    events: list[tuple[int, BehaviourTag]] = []
    n = round(seconds * fps)
    cost = 0.0
    for i in range(n):
        t = i / fps
        results = builder(t, i)
        begin = time.thread_time()  # CPU time: the figure holds on a shared, busy machine too
        tags = analyser.push(t, i, results)
        cost += time.thread_time() - begin
        events += [(i, tag) for tag in tags]
    events += [(n, tag) for tag in analyser.finish(n / fps)]
    return events, cost / n * 1e6


def scripted_cases(fps: float, phase: float):
    """(behaviour, builder, seconds, truth) with the onset ``phase`` frames after a frame boundary."""
    on, off = 1.5 + phase / fps, 3.0 + phase / fps
    face = syn.face_result(0, 0)
    mouth = (face.attrs["mouth_x"], face.attrs["mouth_y"])

    def person(t, i, **kw):
        return [syn.face_result(t, i, **kw), syn.pose_result(t, i)]

    def turned(t, i):
        return person(t, i, yaw_deg=55 if on <= t < off else 0)

    def at_mouth(t, i):
        where = mouth if on <= t < off else (0.5, 0.85)
        return [*person(t, i), syn.hand_result(t, i, centre=where)]

    def typing(t, i):
        return [*person(t, i), syn.hand_result(t, i, centre=(0.5, 0.9), phase=i * 1.7 if on <= t < off else 0.0)]

    # The hand sweeps at 0.6 frame widths/s from the left and arrives in the zone at ``on``, rests, then leaves.
    contact_x = MIC[0][0] + 0.01

    def to_mic(t, i):
        x = contact_x - 0.6 * (on - t) if t < on else (0.78 if t < off else 0.3)
        return [syn.face_result(t, i, centre=(0.2, 0.3)), syn.hand_result(t, i, centre=(max(x, 0.2), 0.5))]

    def lean(t, i):
        return person(t, i, width=0.24 if on <= t < off else 0.16)

    return [
        ("turned_away", turned, 4.0, (on, off)),
        ("hand_at_mouth", at_mouth, 4.0, (on, off)),
        ("typing", typing, 4.0, (on, off)),
        ("hand_at_mic", to_mic, 4.0, (on, off)),
        ("lean_in", lean, 4.0, (on, off)),
    ]


def first_contact_frame(builder, seconds: float, fps: float, settings: BehaviourSettings) -> int | None:
    """The first frame whose hand is inside the mic zone by the encoder's own rule (ground truth of the contact)."""
    from liverec_edge.behaviour.codes import BehaviourEncoder, HandState

    encoder = BehaviourEncoder(settings)
    for i in range(round(seconds * fps)):
        t = i / fps
        if encoder.encode(t, i, builder(t, i)).hand_state & HandState.IN_MIC_ZONE:
            return i
    return None


def bench_scripted(fps: float, phases: list[float]) -> dict[str, dict[str, float]]:
    settings = BehaviourSettings.model_validate({"zones": {"microphone": MIC, "keyboard": KEYBOARD}})
    rows: dict[str, dict[str, list[float]]] = {}
    costs: list[float] = []
    for phase in phases:
        for behaviour, builder, seconds, truth in scripted_cases(fps, phase):
            events, cost = run_scripted(builder, seconds, fps, settings)
            costs.append(cost)
            open_lat, close_lat = latency_frames(events, behaviour, truth, fps)
            row = rows.setdefault(behaviour, {"open": [], "close": [], "lead": []})
            row["open"].append(open_lat)
            row["close"].append(close_lat)
            if behaviour == "hand_at_mic":
                # Visible = the first frame the hand is in the zone (by the encoder's rule), not the nominal time.
                contact = first_contact_frame(builder, seconds, fps, settings)
                predicted = [i for i, e in events if e.behaviour == behaviour and e.predicted and e.open]
                opened = [i for i, e in events if e.behaviour == behaviour and e.open and not e.predicted]
                if contact is not None and opened:
                    row["open"][-1] = opened[0] - contact
                if contact is not None and predicted:
                    row["lead"].append(contact - predicted[0])
    out = {b: {k: statistics.median(v) if v else math.nan for k, v in r.items()} for b, r in rows.items()}
    out["_cost_us_per_frame"] = {"median": statistics.median(costs)}
    return out


def part_analyser(overrides: dict[str, str]):
    """The vision stage with an unlimited frame budget (nothing skipped for time: the same on a busy machine) and
    the given settings."""
    from liverec_edge.vision.pipeline import PartAnalyser
    from liverec_edge.vision.settings import VisionSettings

    return PartAnalyser(VisionSettings(**{"frame_budget_ms": 1e9, **overrides}))


def bench_real_photo(fps: float, variants: int, analyser) -> dict[str, dict[str, float]]:
    from liverec_edge.media import load_image

    person = load_image(SHARED / "images" / "grace_hopper.bmp")
    rows: dict[str, dict[str, list[float]]] = {}
    for k in range(variants):
        shift = k / (variants * fps)  # onsets at different sub-frame phases
        scenes = [
            ("lean_in", syn.lean_in_scene(person, fps, 4.0, (2.0 + shift, 3.2 + shift), factor=1.4 + 0.1 * k), {}),
            ("absent", syn.absent_scene(person, fps, 3.6, (1.0 + shift, 2.6 + shift)), {"absent": {"min_on_s": 1.0}}),
            ("absent (left seat)", syn.leave_seat_scene(person, fps, 3.6, (1.0 + shift, 2.6 + shift)),
             {"absent": {"min_on_s": 1.0}}),
        ]
        for label, scene, extra in scenes:
            analyser.reset()
            settings = BehaviourSettings.model_validate({"zones": scene.zones, **extra})
            behaviour = label.split()[0]
            events = _emission_frames(scene, analyser, settings)
            truth = scene.truth[behaviour][0]
            open_lat, close_lat = latency_frames(events, behaviour, truth, fps)
            min_on = settings.timing(behaviour).min_on_s
            row = rows.setdefault(label, {"open": [], "close": [], "open_minus_min_on": []})
            row["open"].append(open_lat)
            row["close"].append(close_lat)
            row["open_minus_min_on"].append(open_lat - min_on * fps)
    return {b: {k: statistics.median(v) for k, v in r.items()} for b, r in rows.items()}


def _emission_frames(scene, analyser, settings) -> list[tuple[int, BehaviourTag]]:
    """Run a scene through the detectors and the behaviour stage; events with the frame at which each came."""
    analyser.reset()
    behaviour = BehaviourAnalyser(settings)
    events: list[tuple[int, BehaviourTag]] = []
    for frame in scene.frames:
        results = analyser.analyse(frame)
        events += [(frame.index, e) for e in behaviour.push(frame.t, frame.index, results, 0.75)]
    n = len(scene.frames)
    events += [(n, e) for e in behaviour.finish(n / scene.fps)]
    return events


def bench_asl(analyser) -> list[tuple[str, list[str]]]:
    """Each ASL clip's tags (closed ones, then predictions) through the detectors, with emission frames."""
    from liverec_edge.behaviour.offline import iter_media_frames

    out = []
    for clip in sorted((SHARED / "video" / "asl").glob("*.mkv")):
        analyser.reset()
        behaviour = BehaviourAnalyser(BehaviourSettings())
        events: list[tuple[int, BehaviourTag]] = []
        n = 0
        for frame in iter_media_frames(clip):
            aspect = frame.image.shape[0] / frame.image.shape[1]
            events += [(frame.index, e) for e in behaviour.push(frame.t, frame.index, analyser.analyse(frame), aspect)]
            n = frame.index + 1
        events += [(n, e) for e in behaviour.finish(n / 30.0)]
        lines = []
        for index, event in events:
            if event.open:
                continue
            opened = next(i for i, e in events if e.open and e.behaviour == event.behaviour and e.start == event.start
                          and e.predicted == event.predicted)  # fmt: skip
            kind = "predicted " if event.predicted else ""
            lines.append(f"{kind}{event.behaviour} {event.start:.3f}–{event.end:.3f} s (opened at frame {opened}, "
                         f"closed at {index}, conf {event.confidence:.2f})")  # fmt: skip
        out.append((clip.stem, lines))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the scripted sequences")
    parser.add_argument("--photo-fps", type=float, default=15.0, help="frame rate of the real-photo sequences")
    parser.add_argument("--phases", type=int, default=5, help="sub-frame onset phases per scripted case")
    parser.add_argument("--variants", type=int, default=2, help="variants per real-photo case")
    parser.add_argument("--scripted-only", action="store_true", help="skip the real-photo (detector) cases")
    parser.add_argument("--asl", action="store_true", help="also list the tags of the shared ASL clips")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a vision setting for the detector cases, e.g. --set hands_per_frame=0.5 (repeatable)")
    args = parser.parse_args()
    overrides = dict(item.partition("=")[::2] for item in args.set)

    settings = BehaviourSettings()
    print("defaults: min_on_s " + ", ".join(f"{b}={settings.timing(b).min_on_s:g}" for b in
                                            ("hand_at_mic", "hand_at_mouth", "typing", "lean_in", "turned_away",
                                             "absent")))
    phases = [k / args.phases for k in range(args.phases)]
    scripted = bench_scripted(args.fps, phases)
    cost = scripted.pop("_cost_us_per_frame")["median"]
    print(f"\nscripted detector output, {args.fps:g} fps, median over {len(phases)} onset phases (frames):")
    print(f"  {'behaviour':<22}{'open after start':>18}{'close after end':>17}{'prediction lead':>17}")
    for behaviour, row in scripted.items():
        lead = f"{row['lead']:.1f}" if behaviour == "hand_at_mic" else "-"
        print(f"  {behaviour:<22}{row['open']:>18.1f}{row['close']:>17.1f}{lead:>17}")
    print(f"  behaviour stage cost: {cost:.0f} µs CPU per frame (median; encode + recognise, one face, pose, hand)")
    if args.scripted_only:
        return 0
    analyser = part_analyser(overrides)
    if overrides:
        print(f"\nvision settings for the detector cases: {overrides}")
    real = bench_real_photo(args.photo_fps, args.variants, analyser)
    print(f"\nreal photo through the part detectors, {args.photo_fps:g} fps, median over {args.variants} "
          "variants (frames):")
    print(f"  {'behaviour':<22}{'open after start':>18}{'  of which beyond min_on':>25}{'close after end':>17}")
    for label, row in real.items():
        print(f"  {label:<22}{row['open']:>18.1f}{row['open_minus_min_on']:>25.1f}{row['close']:>17.1f}")
    if args.asl:
        print("\nASL clips through the part detectors, 30 fps (tags: start–end, frames of the open and close events):")
        for name, lines in bench_asl(analyser):
            print(f"  {name:<9}" + ("\n  " + " " * 9).join(lines or ["-"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

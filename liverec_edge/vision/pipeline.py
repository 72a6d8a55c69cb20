"""The vision stage: every frame in, the parts' results out, scheduled to stay real time on one Pi-class core.

Per frame, in order of what the behaviour stage needs most:

1. **face** — every frame, never skipped: the mesh (~1.2 ms) on a crop tracked from the previous frame's mesh, the
   detector (~1.1 ms) every ``face_detect_every_n`` frames and whenever the face is lost.
2. **hands, tracking** — the landmark model on hands tracked from their previous landmarks (~4 ms a hand, about
   three face meshes): a hand whose crop has not changed since it was last measured is still and keeps its landmarks
   (re-measured every ``hand_refresh_n`` frames); of the moving hands, ``hands_per_frame`` on average (a fraction
   spreads the runs: 0.5 measures one hand every other frame; each frame earns the rate, spends the whole hands
   earned and carries only the remaining fraction), as many as fit in the time left, the longest-waiting first; a
   moving hand is measured regardless once it has waited :func:`~liverec_edge.vision.hands.max_hand_age` frames.
   Hands not measured repeat their last result marked ``reused``.
3. **pose** — every ``pose_every_n`` frames (a tracked run is one ~14 ms landmark inference; re-acquiring adds the
   ~10 ms detector); frames in between repeat the last pose result with ``attrs["reused"] = 1`` and
   ``attrs["age_frames"]``.
4. **hands, search** — palm detection (~8 ms) while fewer than ``max_hands`` hands are tracked, every
   ``palm_every_n`` frames, and not on a frame where the pose ran (the two heavy stages alternate) unless no hand is
   tracked at all.

Before each stage after the face, its expected cost (a running mean of its measured cost) is checked against what is
left of ``frame_budget_ms``; a due stage that does not fit is skipped, counted in :meth:`PartAnalyser.stats`, and
stays due for the next frame.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from liverec_edge.types import PART_NAMES, Frame, PartResult
from liverec_edge.vision.face import FaceDetector
from liverec_edge.vision.hands import HandTracker
from liverec_edge.vision.model import FrameView
from liverec_edge.vision.pose import PoseTracker
from liverec_edge.vision.registry import PartDetector, create_detector
from liverec_edge.vision.settings import VisionSettings

#: A jump back in time or a gap longer than this between frames drops tracking state (new clip, camera restart).
TRACKING_GAP_S = 1.0
#: Weight of the newest measurement in the running mean of each stage's cost.
COST_SMOOTHING = 0.2


class PartAnalyser:
    """Runs the configured part detectors on each frame within the frame budget.

    Construction loads every model and raises :class:`~liverec_edge.tflite.ModelError` naming the file when one is
    missing, corrupt or of the wrong shape (the daemon then runs audio-only). Not thread-safe: one analyser per camera.
    """

    def __init__(self, settings: VisionSettings, models_dir: Path | None = None):
        self.settings = settings
        models_dir = Path(models_dir) if models_dir is not None else settings.resolved_models_dir()
        self.detectors: dict[str, PartDetector] = {
            kind: create_detector(kind, settings, models_dir) for kind in settings.parts
        }
        self._stats = {part: {"frames": 0, "detected": 0, "skipped": 0} for part in (*PART_NAMES, *self.detectors)}
        self._cost_ms: dict[str, float] = {}
        self._last: dict[str, list[PartResult]] = {}
        self._last_fresh_index: dict[str, int] = {}
        self._frames_since_pose = settings.pose_every_n  # pose runs on the first frame
        #: Fraction of a moving-hand measurement carried to the next frame (see :meth:`_hand_allowance`).
        self._hand_credit = 0.0
        self._last_t: float | None = None
        #: Wall and CPU milliseconds per model, and in total, of the last analysed frame (for benchmarks and logs).
        self.last_model_ms: dict[str, float] = {}
        self.last_model_cpu_ms: dict[str, float] = {}
        #: Inferences per model on the last analysed frame (deterministic, unlike the times).
        self.last_model_runs: dict[str, int] = {}
        self.last_total_ms = 0.0
        self.last_total_cpu_ms = 0.0

    def stats(self) -> dict[str, dict[str, int]]:
        """Per part: ``frames`` on which it was analysed, ``detected`` of those with the part found, ``skipped``
        frames on which one of its due stages was dropped for time (pose frames reusing the last result by schedule
        count in neither)."""
        return {part: dict(counts) for part, counts in self._stats.items()}

    def reset(self) -> None:
        """Drop all tracking state (hands, pose, the lean baseline) and reused results."""
        for detector in self.detectors.values():
            detector.reset()
        self._last.clear()
        self._frames_since_pose = self.settings.pose_every_n
        self._hand_credit = 0.0
        self._last_t = None

    def analyse(self, frame: Frame) -> list[PartResult]:
        """The part results of one frame: one face result, one or more hand results, one pose result (for the parts
        configured). ValueError naming the problem for a frame that is not an H×W×3 uint8 image."""
        if not isinstance(frame, Frame):
            raise ValueError(f"analyse expects a Frame, got {type(frame).__name__}")
        start, start_cpu = time.perf_counter(), time.thread_time()
        view = FrameView.from_array(frame.image, frame.t, frame.index, self.settings.bilinear_crops)
        if self._last_t is not None and not (0.0 <= frame.t - self._last_t <= TRACKING_GAP_S):
            self.reset()
        self._last_t = frame.t
        budget = self.settings.frame_budget_ms

        def fits(stage: str, count: int = 1) -> bool:
            return (time.perf_counter() - start) * 1000.0 + self._cost_ms.get(stage, 0.0) * count <= budget

        results: list[PartResult] = []
        for kind, detector in self.detectors.items():
            if isinstance(detector, HandTracker | PoseTracker):
                continue  # scheduled below
            results += self._timed(kind, kind, lambda d=detector: d.process(view), view)

        hands = self.detectors.get("hand")
        pose = self.detectors.get("pose")
        hand_results: list[PartResult] = []
        if isinstance(hands, HandTracker):
            # This frame's share of hands_per_frame moving hands, as many as fit in the time left, the longest-waiting
            # first; still hands and the rest repeat their last result.
            room = budget - (time.perf_counter() - start) * 1000.0
            per_hand = self._cost_ms.get("hand_track", 0.0)
            wanted = min(hands.tracked_count, self._hand_allowance())
            fitting = wanted if per_hand <= 0 else min(wanted, int(room // per_hand))
            if fitting < wanted:
                self._stats["hand"]["skipped"] += 1
            hand_results = self._timed(
                "hand_track", None, lambda: hands.track(view, fitting), view, per=lambda: hands.last_updates
            )

        pose_ran = False
        pose_results: list[PartResult] = []
        if isinstance(pose, PoseTracker):
            self._frames_since_pose += 1
            if self._frames_since_pose >= self.settings.pose_every_n:
                stage = "pose_track" if pose.tracking else "pose_acquire"
                # A pose deferred for a whole extra period runs regardless: a stale pose is worse than a late frame.
                overdue = self._frames_since_pose >= 2 * self.settings.pose_every_n
                if overdue or fits(stage):
                    pose_results = self._timed(stage, "pose", lambda: pose.process(view), view)
                    results += pose_results
                    self._frames_since_pose = 0
                    pose_ran = True
                else:
                    self._stats["pose"]["skipped"] += 1
                    results += self._reuse("pose", frame)
            else:
                results += self._reuse("pose", frame)

        if isinstance(hands, HandTracker):
            if pose_ran and hands.tracked_count < self.settings.max_hands:
                # Hands the pose places but tracking lacks: try them first, they are cheaper than a palm search.
                seen = [r for r in pose_results if r.detected]
                if seen and fits("hand_track", self.settings.max_hands - hands.tracked_count):
                    body = seen[0].landmarks
                    hand_results += self._timed("hand_seed", None, lambda: hands.seed_from_pose(view, body), view)
            searched = False
            if hands.palm_search_due() and (not pose_ran or hands.tracked_count == 0):
                overdue = hands.frames_since_search >= 2 * self.settings.palm_every_n
                if overdue or fits("palm"):
                    hand_results += self._timed("palm", None, lambda: hands.search(view), view)
                    searched = True
                else:
                    self._stats["hand"]["skipped"] += 1
            if not searched:
                hands.no_search()
            hand_results = hands.finish(view, hand_results)
            fresh = [r for r in hand_results if r.attrs.get("reused", 0.0) == 0.0]
            if fresh:  # frames on which every hand only repeated its last result were not analysed for hands
                self._count("hand", fresh, frame)
            results += hand_results

        self.last_model_ms = dict(view.model_ms)
        self.last_model_cpu_ms = dict(view.model_cpu_ms)
        self.last_model_runs = dict(view.model_runs)
        self.last_total_ms = (time.perf_counter() - start) * 1000.0
        self.last_total_cpu_ms = (time.thread_time() - start_cpu) * 1000.0
        return results

    # -- helpers -------------------------------------------------------------------------------------------------

    def _hand_allowance(self) -> int:
        """Moving hands this frame may measure: each frame earns ``hands_per_frame`` and spends the whole hands earned
        (0.5: one hand every other frame; 0.67: two frames in three). Only the fraction of a hand carries over:
        allowance not spent because no hand was tracked or moving, or for time, is dropped rather than piled up,
        and hands measured regardless (overdue) do not run the credit into debt."""
        credit = self._hand_credit + self.settings.hands_per_frame
        whole = int(credit + 1e-9)  # three thirds make one hand, not 0.999…
        self._hand_credit = max(0.0, credit - whole)
        return whole

    def _timed(
        self, stage: str, part: str | None, run: Any, view: FrameView, per: Callable[[], int] | None = None
    ) -> list[PartResult]:
        """Run a stage and fold its cost into the stage's running mean (per model run when ``per`` counts them:
        a call that ran no model leaves the estimate alone, or it would decay towards zero)."""
        begin = time.perf_counter()
        out: list[PartResult] = run()
        runs = 1 if per is None else per()
        if runs > 0:
            cost = (time.perf_counter() - begin) * 1000.0 / runs
            previous = self._cost_ms.get(stage)
            self._cost_ms[stage] = cost if previous is None else previous + COST_SMOOTHING * (cost - previous)
        if part is not None:
            out = [_mark(r, reused=False) for r in out] if part == "pose" else out
            self._count(part, out, view)
        return out

    def _count(self, part: str, results: list[PartResult], frame: Frame | FrameView) -> None:
        counts = self._stats.setdefault(part, {"frames": 0, "detected": 0, "skipped": 0})
        counts["frames"] += 1
        counts["detected"] += int(any(r.detected for r in results))
        self._last[part] = results
        self._last_fresh_index[part] = frame.index

    def _reuse(self, part: str, frame: Frame) -> list[PartResult]:
        """The part's last results restamped with this frame and marked ``reused`` (``detected=False`` if none)."""
        last = self._last.get(part)
        if not last:
            return [PartResult(part, frame.t, frame.index, detected=False, attrs={"reused": 1.0})]
        age = frame.index - self._last_fresh_index.get(part, frame.index)
        return [
            dataclasses.replace(r, t=frame.t, frame_index=frame.index, attrs={**r.attrs, "reused": 1.0,
                                                                             "age_frames": float(age)})
            for r in last
        ]


def _mark(result: PartResult, reused: bool) -> PartResult:
    return dataclasses.replace(result, attrs={**result.attrs, "reused": 1.0 if reused else 0.0, "age_frames": 0.0})


__all__ = ["FaceDetector", "HandTracker", "PartAnalyser", "PoseTracker"]

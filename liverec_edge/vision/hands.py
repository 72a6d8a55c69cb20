"""Hands: palm detection to find hands, 21-point hand landmarks on a rotated crop, and tracking between frames.

As in mediapipe's hand-tracking graph, a hand found once is followed by deriving the next frame's crop from its own
landmarks (wrist → middle-finger knuckle gives the rotation), so the landmark model alone runs on tracked hands and
the costlier palm detector runs only while fewer than ``max_hands`` hands are tracked, every ``palm_every_n`` frames
(or when the scheduler lets it).

Each hand result (``instance`` = its tracking slot, stable while the hand stays tracked):

- ``box``: bounding box of the 21 landmarks, normalised; ``landmarks`` (21, 3): x, y normalised, z in units of
  frame width relative to the wrist (negative = nearer the camera), mediapipe's hand order (0 wrist, 4 thumb tip,
  8 index tip, 12 middle tip, 16 ring tip, 20 little tip).
- ``attrs``: ``handedness`` (0 = the person's left hand, 1 = right, for an unmirrored camera; see
  ``VisionSettings.mirrored``), ``handedness_score`` (probability of right), ``tracked`` (1 when the crop came from
  the previous frame's landmarks, 0 when from palm detection this frame), ``score`` (hand-presence probability),
  ``cx``, ``cy`` (landmark centroid, normalised); ``reused`` (1 when this hand was not measured on this frame —
  still, not its turn, or no time — and repeats its last result) and ``age_frames``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverec_edge.types import PartResult
from liverec_edge.vision.geometry import (
    AnchorOptions,
    RotatedRect,
    crop_pixels,
    decode_detections,
    full_frame_rect,
    iou,
    rotation_from_points,
    ssd_anchors,
    weighted_nms,
)
from liverec_edge.vision.model import FrameView, ModelSpec, TfliteModel
from liverec_edge.vision.settings import VisionSettings

PALM_OUTPUTS = ((1, 2016, 18), (1, 2016, 1))
PALM_SPECS = {
    "lite": ModelSpec("palm_detection_lite.tflite", (192, 192), (0.0, 1.0), PALM_OUTPUTS),
    "full": ModelSpec("palm_detection_full.tflite", (192, 192), (0.0, 1.0), PALM_OUTPUTS),
}
PALM_ANCHORS = AnchorOptions(192, 192, strides=(8, 16, 16, 16), num_layers=4)
HAND_OUTPUTS = ((1, 63), (1, 1), (1, 1))  # screen landmarks, presence, handedness (world landmarks unused)
HAND_SPECS = {
    "lite": ModelSpec("hand_landmark_lite.tflite", (224, 224), (0.0, 1.0), HAND_OUTPUTS),
    "full": ModelSpec("hand_landmark_full.tflite", (224, 224), (0.0, 1.0), HAND_OUTPUTS),
}
PALM_KEYPOINTS = 7  # 0 wrist centre, 2 middle-finger knuckle (the rest unused)
NMS_IOU = 0.3
#: Palm box → hand crop (mediapipe's palm_detection_detection_to_roi): square, 2.6× the palm, shifted towards the
#: fingers by half a palm.
PALM_ROI_SCALE, PALM_ROI_SHIFT_Y = 2.6, -0.5
#: Landmarks → next crop (mediapipe's hand_landmark_landmarks_to_roi): 2× the palm-and-knuckles box, shifted 0.1.
TRACK_ROI_SCALE, TRACK_ROI_SHIFT_Y = 2.0, -0.1
#: Landmarks defining the tracking crop: wrist, thumb base, and the two lower joints of each finger.
PALM_LANDMARKS = np.array([0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18])
WRIST, INDEX_MCP, MIDDLE_MCP, RING_MCP = 0, 5, 9, 13
#: A new palm overlapping a tracked hand's crop by more than this is the same hand (mediapipe's association: 0.5).
SAME_HAND_IOU = 0.5
#: A moving tracked hand the scheduler skipped this many frames in a row is updated on the next regardless of the
#: budget: a crop that old may no longer hold the hand. Below one hand per frame (``hands_per_frame``) hands wait
#: longer by design, and the limit grows in proportion (see :func:`max_hand_age`).
MAX_HAND_AGE_FRAMES = 2
#: Size of the thumbnail of a hand's crop compared between frames to tell a still hand from a moving one: one tiny
#: affine warp (~50 µs) against a ~7 ms landmark run.
THUMB_SIZE = (16, 16)
#: Weight of the newest frame in a tracked hand's running handedness.
HANDEDNESS_SMOOTHING = 0.3
#: Pose points (wrist, little finger, index finger) of the left and right hand, for crops seeded from the pose.
POSE_HANDS = ((15, 17, 19), (16, 18, 20))
POSE_HAND_MIN_VISIBILITY = 0.5
#: Pose hand box (twice the wrist → middle-knuckle distance) → hand crop; mediapipe's holistic uses 2.7 before its
#: re-crop model, which we do without.
POSE_HAND_ROI_SCALE, POSE_HAND_ROI_SHIFT_Y = 2.7, -0.1


@dataclass
class TrackedHand:
    slot: int
    roi: RotatedRect
    from_tracking: bool
    #: Running mean of the probability that this is the right hand: single frames flip on edge-on or blurred hands.
    p_right: float
    #: The last measured result, and how many frames ago it was measured (the scheduler may skip a hand).
    last: PartResult | None = None
    age: int = 0
    #: ``roi`` sampled at THUMB_SIZE on the frame of the last measurement (int16), for the stillness check.
    thumb: np.ndarray | None = None


class HandTracker:
    """Finds and follows up to ``max_hands`` hands across consecutive frames of one camera."""

    part = "hand"

    def __init__(self, settings: VisionSettings, models_dir: Path):
        self.settings = settings
        self.palm = TfliteModel(PALM_SPECS[settings.palm_model], models_dir, settings.num_threads)
        self.landmarks = TfliteModel(HAND_SPECS[settings.hand_model], models_dir, settings.num_threads)
        self.anchors = ssd_anchors(PALM_ANCHORS)
        self._hands: list[TrackedHand] = []
        self._frames_since_palm = settings.palm_every_n  # search on the first frame
        self._max_age = max_hand_age(settings.hands_per_frame)
        #: Landmark runs made by the last :meth:`track` call (the scheduler times per run).
        self.last_updates = 0

    @property
    def models(self) -> tuple[TfliteModel, ...]:
        return (self.palm, self.landmarks)

    @property
    def tracked_count(self) -> int:
        return len(self._hands)

    def reset(self) -> None:
        """Forget tracked hands (after a gap in the frames, a camera change, or skipped frames)."""
        self._hands = []
        self._frames_since_palm = self.settings.palm_every_n

    @property
    def frames_since_search(self) -> int:
        return self._frames_since_palm

    def palm_search_due(self) -> bool:
        """Whether this frame should look for new hands: fewer than max tracked and the search interval passed."""
        return len(self._hands) < self.settings.max_hands and self._frames_since_palm >= self.settings.palm_every_n

    def process(self, view: FrameView, allow_palm_search: bool = True) -> list[PartResult]:
        """Track the known hands on ``view``, then (when due and allowed) search for new ones."""
        results = self.track(view)
        if allow_palm_search and self.palm_search_due():
            results += self.search(view)
        else:
            self.no_search()
        return self.finish(view, results)

    def no_search(self) -> None:
        """Note a frame on which no palm search ran (the search interval counts these)."""
        self._frames_since_palm += 1

    def track(self, view: FrameView, limit: int | None = None) -> list[PartResult]:
        """Run the landmark model on the tracked hands that need it; drop hands whose presence falls below threshold.

        A hand whose crop has barely changed since its last measurement (``hand_still_threshold``) is still and keeps
        its landmarks until ``hand_refresh_n`` frames have passed. Of the moving hands at most ``limit`` are measured
        (the scheduler's hands this frame and time left), the longest-waiting first; a moving hand left waiting
        :func:`max_hand_age` frames is measured regardless (and counts against ``limit``). Hands not measured repeat
        their last result with ``reused`` = 1 and ``age_frames``, and keep their crop.
        """
        s = self.settings
        motion = {id(hand): self._motion(view, hand) for hand in self._hands}

        def overdue(hand: TrackedHand) -> bool:
            still = motion[id(hand)] < s.hand_still_threshold
            return hand.last is None or hand.age >= (s.hand_refresh_n if still else self._max_age)

        update = {id(h) for h in self._hands if overdue(h)}
        moving = [h for h in self._hands if id(h) not in update and motion[id(h)] >= s.hand_still_threshold]
        moving.sort(key=lambda h: (-h.age, -motion[id(h)]))
        room = len(moving) if limit is None else max(0, limit - len(update))
        update |= {id(h) for h in moving[:room]}
        self.last_updates = len(update)
        results: list[PartResult] = []
        kept: list[TrackedHand] = []
        for hand in self._hands:
            if id(hand) not in update and hand.last is not None:
                hand.age += 1
                attrs = {**hand.last.attrs, "reused": 1.0, "age_frames": float(hand.age)}
                results.append(dataclasses.replace(hand.last, t=view.t, frame_index=view.index, attrs=attrs))
                kept.append(hand)
                continue
            result, next_roi = self._landmarks_on(view, hand.roi, hand.slot, tracked=True)
            if result is None or next_roi is None:
                continue
            # Two crops can converge on the same hand (hands crossing): keep the first, drop the duplicate.
            if any(iou(np.array(result.box), np.array([r.box]))[0] > SAME_HAND_IOU for r in results):
                continue
            p_right = hand.p_right + HANDEDNESS_SMOOTHING * (result.attrs["handedness_score"] - hand.p_right)
            result.attrs["handedness_score"] = p_right
            result.attrs["handedness"] = 1.0 if p_right >= 0.5 else 0.0
            results.append(result)
            kept.append(TrackedHand(hand.slot, next_roi, True, p_right, result, thumb=_thumbnail(view, next_roi)))
        self._hands = kept
        return results

    def _motion(self, view: FrameView, hand: TrackedHand) -> float:
        """Mean absolute change (0–255 levels) of the hand's crop since its last measurement; inf when unknown."""
        if hand.thumb is None or self.settings.hand_still_threshold <= 0:
            return math.inf
        return float(np.abs(_thumbnail(view, hand.roi) - hand.thumb).mean())

    def search(self, view: FrameView) -> list[PartResult]:
        """Palm detection on the whole frame; each new palm not already tracked gets landmarks and a slot."""
        self._frames_since_palm = 0
        letterbox = full_frame_rect(view.width, view.height)
        spec = self.palm.spec
        raw_boxes, raw_scores = self.palm.run_pixels(view.pixels(letterbox, spec))
        view.record(self.palm)
        scores, boxes, kps = decode_detections(
            raw_boxes, raw_scores, self.anchors, spec.input_size[0], PALM_KEYPOINTS, self.settings.palm_min_score
        )
        results: list[PartResult] = []
        for palm in weighted_nms(scores, boxes, kps, NMS_IOU):
            free = [s for s in range(self.settings.max_hands) if s not in {h.slot for h in self._hands}]
            if not free:
                break
            corners = letterbox.to_frame(palm.box.reshape(2, 2))
            keypoints = letterbox.to_frame(palm.keypoints)
            angle = rotation_from_points(*keypoints[0], *keypoints[2], 90.0)
            roi = RotatedRect(
                float(corners[:, 0].mean()), float(corners[:, 1].mean()),
                float(corners[1, 0] - corners[0, 0]), float(corners[1, 1] - corners[0, 1]), angle,
            ).transformed(PALM_ROI_SCALE, PALM_ROI_SCALE, 0.0, PALM_ROI_SHIFT_Y)
            result = self._start_track(view, roi, free[0])
            if result is not None:
                results.append(result)
        return results

    def seed_from_pose(self, view: FrameView, pose_landmarks: np.ndarray) -> list[PartResult]:
        """Try the body pose's hands as crops (mediapipe holistic's hand-from-pose ROI): small or blurred hands the
        palm detector misses at 640×480 are often placed well by the pose's wrist, index and little-finger points.

        ``pose_landmarks`` is the pose result's (33, 4) array (x, y normalised, z, visibility). Returns the results of
        the hands that start being tracked.
        """
        results: list[PartResult] = []
        size = np.array([view.width, view.height], np.float32)
        for wrist, pinky, index in POSE_HANDS:
            free = [s for s in range(self.settings.max_hands) if s not in {h.slot for h in self._hands}]
            if not free:
                break
            if min(pose_landmarks[wrist, 3], pose_landmarks[index, 3]) < POSE_HAND_MIN_VISIBILITY:
                continue
            w, p, i = (pose_landmarks[k, :2] * size for k in (wrist, pinky, index))
            middle = (2.0 * i + p) / 3.0  # the middle finger's base sits a third of the way from index to pinky
            side = 2.0 * float(np.linalg.norm(middle - w))
            if side < 4.0:
                continue
            angle = rotation_from_points(float(w[0]), float(w[1]), float(middle[0]), float(middle[1]), 90.0)
            roi = RotatedRect(float(middle[0]), float(middle[1]), side, side, angle).transformed(
                POSE_HAND_ROI_SCALE, POSE_HAND_ROI_SCALE, 0.0, POSE_HAND_ROI_SHIFT_Y
            )
            result = self._start_track(view, roi, free[0])
            if result is not None:
                results.append(result)
        return results

    def _start_track(self, view: FrameView, roi: RotatedRect, slot: int) -> PartResult | None:
        """Landmarks on a candidate crop; a hand that is present and not already tracked gets ``slot``."""
        if any(_rect_iou(roi, hand.roi) > SAME_HAND_IOU for hand in self._hands):
            return None  # already tracked
        result, next_roi = self._landmarks_on(view, roi, slot, tracked=False)
        if result is None or next_roi is None:
            return None
        if any(_rect_iou(next_roi, hand.roi) > SAME_HAND_IOU for hand in self._hands):
            return None  # the crop slid onto a hand we already follow
        p_right = result.attrs["handedness_score"]
        self._hands.append(TrackedHand(slot, next_roi, False, p_right, result, thumb=_thumbnail(view, next_roi)))
        return result

    def finish(self, view: FrameView, results: list[PartResult]) -> list[PartResult]:
        if not results:
            return [PartResult("hand", view.t, view.index, detected=False)]
        return sorted(results, key=lambda r: r.instance)

    def _landmarks_on(
        self, view: FrameView, roi: RotatedRect, slot: int, tracked: bool
    ) -> tuple[PartResult | None, RotatedRect | None]:
        spec = self.landmarks.spec
        raw, presence, handedness = self.landmarks.run_pixels(view.pixels(roi, spec))
        view.record(self.landmarks)
        score = float(presence.reshape(-1)[0])  # the model's output is already a probability
        if score < self.settings.hand_min_presence:
            return None, None
        local = raw.reshape(21, 3) / np.float32(spec.input_size[0])
        points = roi.to_frame(local[:, :2])
        z = local[:, 2] * roi.width
        landmarks = np.column_stack([points[:, 0] / view.width, points[:, 1] / view.height, z / view.width])
        # The model assumes a mirrored (selfie) image; on an unmirrored camera its "left" is the person's right.
        p_right = float(handedness.reshape(-1)[0])
        if self.settings.mirrored:
            p_right = 1.0 - p_right
        x0, y0 = np.clip(points.min(axis=0), 0, None)
        x1, y1 = points.max(axis=0)
        box = (
            float(x0 / view.width), float(y0 / view.height),
            float(min(x1, view.width) / view.width), float(min(y1, view.height) / view.height),
        )
        centre = points.mean(axis=0)
        attrs = {
            "reused": 0.0,
            "age_frames": 0.0,
            "handedness": 1.0 if p_right >= 0.5 else 0.0,
            "handedness_score": p_right,
            "tracked": 1.0 if tracked else 0.0,
            "score": score,
            "cx": float(centre[0] / view.width),
            "cy": float(centre[1] / view.height),
        }
        result = PartResult("hand", view.t, view.index, True, score, box, landmarks.astype(np.float32), attrs, slot)
        return result, roi_from_landmarks(points)


def max_hand_age(hands_per_frame: float) -> int:
    """Frames a moving hand may go unmeasured before it is measured regardless of the schedule and budget:
    ``MAX_HAND_AGE_FRAMES`` at one hand per frame or more, scaled by 1 / ``hands_per_frame`` below it, so that at
    0.5 two moving hands still take turns every other frame (each waits three frames) instead of being forced."""
    return math.ceil(MAX_HAND_AGE_FRAMES / min(1.0, hands_per_frame) - 1e-9)


def roi_from_landmarks(points: np.ndarray) -> RotatedRect:
    """The next frame's hand crop from this frame's landmarks (frame pixels, (21, 2)), after mediapipe's
    HandLandmarksToRectCalculator: rotation from the wrist to the knuckles' middle, the palm landmarks' extent
    measured along that rotation, then enlarged and shifted towards the fingers."""
    wrist = points[WRIST]
    knuckles = ((points[INDEX_MCP] + points[RING_MCP]) / 2.0 + points[MIDDLE_MCP]) / 2.0
    angle = rotation_from_points(float(wrist[0]), float(wrist[1]), float(knuckles[0]), float(knuckles[1]), 90.0)
    palm = points[PALM_LANDMARKS]
    centre = (palm.min(axis=0) + palm.max(axis=0)) / 2.0
    cos, sin = math.cos(angle), math.sin(angle)
    rel = palm - centre
    # Coordinates along the rect's own axes (rotate by -angle).
    u = rel[:, 0] * cos + rel[:, 1] * sin
    v = -rel[:, 0] * sin + rel[:, 1] * cos
    mid_u, mid_v = (u.min() + u.max()) / 2.0, (v.min() + v.max()) / 2.0
    cx = centre[0] + mid_u * cos - mid_v * sin
    cy = centre[1] + mid_u * sin + mid_v * cos
    rect = RotatedRect(float(cx), float(cy), float(u.max() - u.min()), float(v.max() - v.min()), angle)
    return rect.transformed(TRACK_ROI_SCALE, TRACK_ROI_SCALE, 0.0, TRACK_ROI_SHIFT_Y)


def _thumbnail(view: FrameView, roi: RotatedRect) -> np.ndarray:
    return crop_pixels(view.image, roi, THUMB_SIZE).astype(np.int16)


def _rect_iou(a: RotatedRect, b: RotatedRect) -> float:
    """IoU of the axis-aligned bounds of two crops: enough to tell the same hand from another."""
    return float(iou(np.array(a.bounds()), np.array([b.bounds()]))[0])

"""Body pose: BlazePose person detection, then the 33-point pose landmarks on a rotated crop, tracked between runs.

As in mediapipe's pose graph the detector runs only to (re)acquire the person; after that each run's crop comes from
the previous run's two alignment landmarks (hip centre and the body-size point), so a run normally costs one
landmark inference.

Result (one per run; ``detected=False`` when nobody is found):

- ``landmarks`` (33, 4): x, y normalised, z in units of frame width relative to the hip centre (negative = nearer
  the camera), visibility (probability the point is visible, not occluded), in mediapipe's pose order
  (0 nose, 11/12 left/right shoulder, 13/14 elbows, 15/16 wrists, 23/24 hips).
- ``box``: bounding box of the landmarks that are visible (visibility ≥ 0.5), normalised.
- ``attrs``:
  ``shoulder_width`` (distance between the shoulders / frame width), ``shoulder_cx``, ``shoulder_cy`` (their
  midpoint, normalised); ``lean``: ``shoulder_width / baseline - 1`` where the baseline is a running mean of the
  shoulder width with time constant ``VisionSettings.lean_baseline_s`` (starts at the first measurement): > 0 means
  the presenter is nearer the camera than usual (leaning in: +0.2 = shoulders 20 % wider), < 0 leaning back;
  ``visibility``: mean visibility of the upper-body points 0–16 (head, shoulders, elbows, wrists), which a desk
  camera should see; ``presence``: the landmark model's pose-presence probability; ``tracked`` (1 when the crop came
  from the previous run's landmarks).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from liverec_edge.types import PartResult
from liverec_edge.vision.geometry import (
    AnchorOptions,
    RotatedRect,
    decode_detections,
    full_frame_rect,
    rotation_from_points,
    ssd_anchors,
    weighted_nms,
)
from liverec_edge.vision.model import FrameView, ModelSpec, TfliteModel
from liverec_edge.vision.settings import VisionSettings

DETECTOR = ModelSpec("pose_detection.tflite", (224, 224), (-1.0, 1.0), ((1, 2254, 12), (1, 2254, 1)))
DETECTOR_ANCHORS = AnchorOptions(224, 224, strides=(8, 16, 32, 32, 32), num_layers=5)
LANDMARKS = ModelSpec("pose_landmark_full.tflite", (256, 256), (0.0, 1.0), ((1, 195), (1, 1)))
DETECTOR_KEYPOINTS = 4  # 0 hip centre, 1 full-body size/rotation point, 2 shoulder centre, 3 upper-body point
NMS_IOU = 0.3
#: Crop = square around the hip centre, side 2× the hip→size-point distance, enlarged 1.25 (mediapipe's pose ROI).
ROI_SCALE = 1.25
NUM_LANDMARKS, AUX_HIP, AUX_SIZE = 33, 33, 34  # the model emits 39 points; 33 and 34 are the alignment points
LEFT_SHOULDER, RIGHT_SHOULDER = 11, 12
UPPER_BODY = slice(0, 17)
VISIBLE = 0.5


def _alignment_roi(centre: np.ndarray, size_point: np.ndarray) -> RotatedRect:
    side = 2.0 * math.dist(centre, size_point)
    angle = rotation_from_points(float(centre[0]), float(centre[1]), float(size_point[0]), float(size_point[1]), 90.0)
    return RotatedRect(float(centre[0]), float(centre[1]), side, side, angle).transformed(ROI_SCALE, ROI_SCALE)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -100.0, 100.0)))


class PoseTracker:
    """Finds one person and follows them between runs."""

    part = "pose"

    def __init__(self, settings: VisionSettings, models_dir: Path):
        self.settings = settings
        self.detector = TfliteModel(DETECTOR, models_dir, settings.num_threads)
        self.landmarks = TfliteModel(LANDMARKS, models_dir, settings.num_threads)
        self.anchors = ssd_anchors(DETECTOR_ANCHORS)
        self._roi: RotatedRect | None = None
        self._baseline: float | None = None
        self._baseline_t: float = 0.0

    @property
    def models(self) -> tuple[TfliteModel, ...]:
        return (self.detector, self.landmarks)

    @property
    def tracking(self) -> bool:
        return self._roi is not None

    def reset(self) -> None:
        """Forget the tracked person and the lean baseline."""
        self._roi = None
        self._baseline = None

    def process(self, view: FrameView) -> list[PartResult]:
        tracked = self._roi is not None
        roi = self._roi if self._roi is not None else self._detect(view)
        if roi is None:
            return [PartResult("pose", view.t, view.index, detected=False)]
        result = self._landmarks_on(view, roi, tracked)
        if result is None and tracked:
            # Lost the person from the tracked crop: they may have moved a lot since the last run; look again now.
            roi = self._detect(view)
            result = self._landmarks_on(view, roi, False) if roi is not None else None
        if result is None:
            self._roi = None
            return [PartResult("pose", view.t, view.index, detected=False)]
        return [result]

    def _detect(self, view: FrameView) -> RotatedRect | None:
        letterbox = full_frame_rect(view.width, view.height)
        raw_boxes, raw_scores = self.detector.run_pixels(view.pixels(letterbox, DETECTOR)
        )
        view.record(self.detector)
        scores, boxes, kps = decode_detections(
            raw_boxes, raw_scores, self.anchors, DETECTOR.input_size[0], DETECTOR_KEYPOINTS,
            self.settings.pose_min_score,
        )
        people = weighted_nms(scores, boxes, kps, NMS_IOU, max_results=1)
        if not people:
            return None
        keypoints = letterbox.to_frame(people[0].keypoints)
        return _alignment_roi(keypoints[0], keypoints[1])

    def _landmarks_on(self, view: FrameView, roi: RotatedRect, tracked: bool) -> PartResult | None:
        raw, presence = self.landmarks.run_pixels(view.pixels(roi, LANDMARKS))
        view.record(self.landmarks)
        score = float(presence.reshape(-1)[0])  # already a probability
        if score < self.settings.pose_min_presence:
            self._roi = None
            return None
        values = raw.reshape(39, 5)
        local = values[:, :3] / np.float32(LANDMARKS.input_size[0])
        points = roi.to_frame(local[:, :2])
        z = local[:, 2] * roi.width
        visibility = _sigmoid(values[:NUM_LANDMARKS, 3])
        self._roi = _alignment_roi(points[AUX_HIP], points[AUX_SIZE])
        body = points[:NUM_LANDMARKS]
        landmarks = np.column_stack(
            [body[:, 0] / view.width, body[:, 1] / view.height, z[:NUM_LANDMARKS] / view.width, visibility]
        ).astype(np.float32)
        seen = body[visibility >= VISIBLE] if (visibility >= VISIBLE).any() else body
        x0, y0 = np.clip(seen.min(axis=0), 0, None)
        x1, y1 = seen.max(axis=0)
        box = (
            float(x0 / view.width), float(y0 / view.height),
            float(min(x1, view.width) / view.width), float(min(y1, view.height) / view.height),
        )
        shoulders = body[[LEFT_SHOULDER, RIGHT_SHOULDER]]
        shoulder_width = float(np.linalg.norm(shoulders[0] - shoulders[1]) / view.width)
        attrs = {
            "shoulder_width": shoulder_width,
            "shoulder_cx": float(shoulders[:, 0].mean() / view.width),
            "shoulder_cy": float(shoulders[:, 1].mean() / view.height),
            "lean": self._lean(shoulder_width, view.t),
            "visibility": float(visibility[UPPER_BODY].mean()),
            "presence": score,
            "tracked": 1.0 if tracked else 0.0,
        }
        return PartResult("pose", view.t, view.index, True, score, box, landmarks, attrs)

    def _lean(self, shoulder_width: float, t: float) -> float:
        """Shoulder width relative to its running mean (exponential, time constant ``lean_baseline_s``)."""
        if self._baseline is None or t < self._baseline_t:
            self._baseline, self._baseline_t = shoulder_width, t
            return 0.0
        lean = shoulder_width / self._baseline - 1.0 if self._baseline > 0 else 0.0
        alpha = 1.0 - math.exp(-(t - self._baseline_t) / self.settings.lean_baseline_s)
        self._baseline += alpha * (shoulder_width - self._baseline)
        self._baseline_t = t
        return lean

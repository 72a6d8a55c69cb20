"""Face: BlazeFace detection (short- or full-range) on the whole frame, then the 468-point face mesh on a rotated
crop around the chosen face, and the measurements the behaviour stage reads.

``attrs`` of a detected face:

- ``yaw_deg``: head turn, signed; **positive = the presenter turns towards the image's right** (their own left on
  an unmirrored camera). From the 3-D mesh: the angle out of the image plane of the line from the cheek on the
  image's left (point 234) to the cheek on the image's right (point 454). 0 when facing the camera.
- ``pitch_deg``: head tilt, positive = chin up: the forehead (10) → chin (152) line's angle out of the image plane.
  It is relative to the camera's line of sight, so its resting value depends on camera height: faces looking at the
  camera read −13…+13 on the shared media. Use changes from the presenter's own resting value, not its sign.
- ``roll_deg``: in-plane tilt of the eye line, positive clockwise on screen.
- ``size``: face box width / frame width (grows when the presenter leans towards the camera).
- ``mouth_open``: inner-lip gap (13–14) / mouth width (61–291); ~0 closed, ~0.3+ wide open.
- ``mouth_x``, ``mouth_y``: centre of the inner lips; ``nose_x``, ``nose_y``: nose tip (point 1); normalised.
- ``size`` is measured on the mesh's bounding box (forehead to chin, cheek to cheek), which is also ``box``.
- ``landmark_score``: the mesh model's face-presence probability. A face counts as detected only when the detector
  (or tracking) found it **and** this is ≥ ``face_min_presence``. ``confidence`` is the detector's score on frames
  where it ran, else this.
- ``tracked``: 1 when the crop came from the previous frame's mesh, 0 when from the detector.
- ``count``: how many faces the detector found when it last ran on this frame (1 on tracked frames).

``landmarks`` are (468, 3): x, y normalised to the frame, z in units of frame width (negative = nearer the camera
than the face's centre plane), in mediapipe's face-mesh order.
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
    sigmoid,
    ssd_anchors,
    weighted_nms,
)
from liverec_edge.vision.model import FrameView, ModelSpec, TfliteModel
from liverec_edge.vision.settings import VisionSettings

#: BlazeFace short range: faces within ~2 m, 128×128 input in [-1, 1].
SHORT_RANGE = ModelSpec("face_detection_short_range.tflite", (128, 128), (-1.0, 1.0), ((1, 896, 16), (1, 896, 1)))
SHORT_RANGE_ANCHORS = AnchorOptions(128, 128, strides=(8, 16, 16, 16), num_layers=4)
#: BlazeFace full range (sparse): faces up to ~5 m, 192×192 input, one anchor per 4-px cell.
FULL_RANGE = ModelSpec(
    "face_detection_full_range_sparse.tflite", (192, 192), (-1.0, 1.0), ((1, 2304, 16), (1, 2304, 1))
)
FULL_RANGE_ANCHORS = AnchorOptions(192, 192, strides=(4,), num_layers=1, interpolated_scale_aspect_ratio=0.0)
MESH = ModelSpec("face_landmark.tflite", (192, 192), (0.0, 1.0), ((1, 1, 1, 1404), (1, 1, 1, 1)))

NUM_KEYPOINTS = 6  # right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion
RIGHT_EYE, LEFT_EYE = 0, 1
NMS_IOU = 0.3
#: The face-mesh crop: the detection box squared and enlarged 1.5× (mediapipe's face_detection_front_detection_to_roi).
MESH_ROI_SCALE = 1.5
#: Most face candidates checked with the mesh per frame (each costs one mesh run, ~1 ms).
MAX_MESH_CANDIDATES = 3
#: Faces scoring within this of the best detection compete on size for being the presenter.
FACE_SCORE_MARGIN = 0.15

# Face-mesh point indices used for the measurements.
CHEEK_IMAGE_LEFT, CHEEK_IMAGE_RIGHT = 234, 454
FOREHEAD, CHIN = 10, 152
LIP_UPPER_INNER, LIP_LOWER_INNER = 13, 14
MOUTH_CORNER_A, MOUTH_CORNER_B = 61, 291
NOSE_TIP = 1
EYE_OUTER_IMAGE_LEFT, EYE_OUTER_IMAGE_RIGHT = 33, 263


class FaceDetector:
    """Finds the presenter's face and follows it from frame to frame.

    As mediapipe's face mesh does, the next frame's mesh crop comes from this frame's mesh (it keeps the face through
    motion blur and partial cover, where the detector's score dips below threshold); the detector runs when no face
    is tracked and every ``face_detect_every_n`` frames, to switch to a larger face that came into view.
    """

    part = "face"

    def __init__(self, settings: VisionSettings, models_dir: Path):
        self.settings = settings
        if settings.face_range == "full":
            self.detector, anchor_opts = TfliteModel(FULL_RANGE, models_dir, settings.num_threads), FULL_RANGE_ANCHORS
        else:
            self.detector, anchor_opts = TfliteModel(SHORT_RANGE, models_dir, settings.num_threads), SHORT_RANGE_ANCHORS
        self.mesh = TfliteModel(MESH, models_dir, settings.num_threads)
        self.anchors = ssd_anchors(anchor_opts)
        self._roi: RotatedRect | None = None
        self._frames_since_detect = 0

    @property
    def models(self) -> tuple[TfliteModel, ...]:
        return (self.detector, self.mesh)

    def reset(self) -> None:
        """Forget the tracked face: the next frame runs the detector."""
        self._roi = None

    def process(self, view: FrameView) -> list[PartResult]:
        self._frames_since_detect += 1
        result: PartResult | None = None
        detected_now = self._roi is None or self._frames_since_detect >= self.settings.face_detect_every_n
        if detected_now:
            self._frames_since_detect = 0
            result = self._detect(view)
        if (result is None or not self._confirmed(result)) and self._roi is not None:
            tracked = self._mesh_on(view, self._roi, None, tracked=True, count=0)
            if self._confirmed(tracked):
                result = tracked
        if (result is None or not self._confirmed(result)) and not detected_now:
            self._frames_since_detect = 0  # lost the tracked face: look for it (or another) on this same frame
            result = self._detect(view)
        if result is None or not self._confirmed(result):
            # Nothing the mesh accepts as a face: an empty seat must not read as present because of a face-like patch.
            self._roi = None
            attrs = {"count": 0.0} if result is None else {"count": result.attrs["count"],
                                                            "landmark_score": result.attrs["landmark_score"]}
            return [PartResult("face", view.t, view.index, detected=False, attrs=attrs)]
        self._roi = roi_from_mesh(result.landmarks, view.width, view.height)
        return [result]

    def _confirmed(self, result: PartResult) -> bool:
        return result.attrs.get("landmark_score", 0.0) >= self.settings.face_min_presence

    def _detect(self, view: FrameView) -> PartResult | None:
        letterbox = full_frame_rect(view.width, view.height)
        spec = self.detector.spec
        raw_boxes, raw_scores = self.detector.run_pixels(view.pixels(letterbox, spec))
        view.record(self.detector)
        scores, boxes, kps = decode_detections(
            raw_boxes, raw_scores, self.anchors, spec.input_size[0], NUM_KEYPOINTS, self.settings.face_min_score
        )
        faces = weighted_nms(scores, boxes, kps, NMS_IOU)
        if not faces:
            return None
        # The presenter is the largest face (nearest the camera) among the confident ones: BlazeFace short range
        # also fires, less confidently, on face-sized skin patches (knees, a bare chest) when people are far away.
        # Each candidate in that order must then be confirmed by the mesh's face-presence score; if none is, the most
        # confident one is returned (and reported as not detected).
        best = max(d.score for d in faces)
        confident = [d for d in faces if d.score >= best - FACE_SCORE_MARGIN]
        others = [d for d in faces if d.score < best - FACE_SCORE_MARGIN]
        order = sorted(confident, key=lambda d: -float((d.box[2] - d.box[0]) * (d.box[3] - d.box[1])))
        order += sorted(others, key=lambda d: -d.score)
        fallback: PartResult | None = None
        for face in order[:MAX_MESH_CANDIDATES]:
            corners = letterbox.to_frame(face.box.reshape(2, 2))
            keypoints = letterbox.to_frame(face.keypoints)
            angle = rotation_from_points(*keypoints[RIGHT_EYE], *keypoints[LEFT_EYE], 0.0)
            roi = RotatedRect(
                float(corners[:, 0].mean()), float(corners[:, 1].mean()),
                float(corners[1, 0] - corners[0, 0]), float(corners[1, 1] - corners[0, 1]), angle,
            ).transformed(MESH_ROI_SCALE, MESH_ROI_SCALE)
            candidate = self._mesh_on(view, roi, face.score, tracked=False, count=len(faces))
            if self._confirmed(candidate):
                return candidate
            if fallback is None or candidate.confidence > fallback.confidence:
                fallback = candidate
        return fallback

    def _mesh_on(
        self, view: FrameView, roi: RotatedRect, detection_score: float | None, tracked: bool, count: int
    ) -> PartResult:
        raw_mesh, raw_presence = self.mesh.run_pixels(view.pixels(roi, MESH))
        view.record(self.mesh)
        presence = sigmoid(float(raw_presence.reshape(-1)[0]))
        mesh = raw_mesh.reshape(468, 3) / np.float32(MESH.input_size[0])
        points = roi.to_frame(mesh[:, :2])  # frame pixels
        z = mesh[:, 2] * roi.width  # pixels, same scale as x
        landmarks = np.column_stack([points[:, 0] / view.width, points[:, 1] / view.height, z / view.width])
        x0, y0 = np.clip(points.min(axis=0), 0, None)
        x1, y1 = min(points[:, 0].max(), view.width), min(points[:, 1].max(), view.height)
        attrs = face_measurements(points, z, view.width, view.height)
        attrs["size"] = float((x1 - x0) / view.width)
        attrs["landmark_score"] = presence
        attrs["tracked"] = 1.0 if tracked else 0.0
        attrs["count"] = float(count if count else 1)
        box = (float(x0 / view.width), float(y0 / view.height), float(x1 / view.width), float(y1 / view.height))
        confidence = presence if detection_score is None else detection_score
        return PartResult("face", view.t, view.index, True, confidence, box, landmarks.astype(np.float32), attrs)


def roi_from_mesh(landmarks: np.ndarray, width: int, height: int) -> RotatedRect:
    """The next frame's mesh crop from this frame's mesh (mediapipe's face_landmarks_to_roi): the landmarks' box,
    rotated by the eye-corner line, squared and enlarged 1.5×."""
    points = landmarks[:, :2] * np.array([width, height], np.float32)
    angle = rotation_from_points(*points[EYE_OUTER_IMAGE_LEFT], *points[EYE_OUTER_IMAGE_RIGHT], 0.0)
    lo, hi = points.min(axis=0), points.max(axis=0)
    rect = RotatedRect(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2, float(hi[0] - lo[0]), float(hi[1] - lo[1]),
                       angle)
    return rect.transformed(MESH_ROI_SCALE, MESH_ROI_SCALE)


def face_measurements(points: np.ndarray, z: np.ndarray, width: int, height: int) -> dict[str, float]:
    """Head angles and mouth/nose positions from the mesh in frame pixels (``points`` (468, 2), ``z`` (468,))."""
    p3 = np.column_stack([points, z])
    across = p3[CHEEK_IMAGE_RIGHT] - p3[CHEEK_IMAGE_LEFT]
    down = p3[CHIN] - p3[FOREHEAD]
    # Out-of-plane angles: z grows away from the camera, so the image-right cheek going back = turning to the right.
    yaw = math.degrees(math.atan2(across[2], math.hypot(across[0], across[1])))
    pitch = math.degrees(math.atan2(-down[2], math.hypot(down[0], down[1])))
    eyes = points[EYE_OUTER_IMAGE_RIGHT] - points[EYE_OUTER_IMAGE_LEFT]
    roll = math.degrees(math.atan2(eyes[1], eyes[0]))
    mouth_width = float(np.linalg.norm(points[MOUTH_CORNER_B] - points[MOUTH_CORNER_A]))
    lip_gap = float(np.linalg.norm(points[LIP_LOWER_INNER] - points[LIP_UPPER_INNER]))
    mouth = (points[LIP_UPPER_INNER] + points[LIP_LOWER_INNER]) / 2.0
    return {
        "yaw_deg": yaw,
        "pitch_deg": pitch,
        "roll_deg": roll,
        "mouth_open": lip_gap / mouth_width if mouth_width > 0 else 0.0,
        "mouth_x": float(mouth[0] / width),
        "mouth_y": float(mouth[1] / height),
        "nose_x": float(points[NOSE_TIP, 0] / width),
        "nose_y": float(points[NOSE_TIP, 1] / height),
    }

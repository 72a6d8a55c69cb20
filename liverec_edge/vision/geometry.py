"""Geometry shared by the part detectors: rotated regions of interest, the crop into a model's input tensor, SSD
anchors, box/keypoint decoding and weighted non-maximum suppression, all following mediapipe's calculators
(``SsdAnchorsCalculator``, ``TensorsToDetectionsCalculator``, ``NonMaxSuppressionCalculator`` with the WEIGHTED
algorithm, ``RectTransformationCalculator``, ``ImageToTensorCalculator``) so that the mediapipe models see the
inputs they were trained on.

Coordinates here are in frame pixels (x right, y down, continuous: pixel ``i`` spans ``[i, i+1)``); angles are in
radians, positive clockwise on screen (mediapipe's ``rotation``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True, slots=True)
class RotatedRect:
    """A region of interest in frame pixels: centre, size along its own axes, rotation (radians, clockwise)."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float = 0.0

    def transformed(
        self, scale_x: float = 1.0, scale_y: float = 1.0, shift_x: float = 0.0, shift_y: float = 0.0,
        square_long: bool = True,
    ) -> RotatedRect:
        """mediapipe's RectTransformationCalculator: shift along the rect's own axes, square it, then scale."""
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        dx, dy = self.width * shift_x, self.height * shift_y
        cx = self.cx + dx * cos - dy * sin
        cy = self.cy + dx * sin + dy * cos
        w, h = self.width, self.height
        if square_long:
            w = h = max(w, h)
        return RotatedRect(cx, cy, w * scale_x, h * scale_y, self.angle)

    def to_frame(self, uv: np.ndarray) -> np.ndarray:
        """Map points given in the rect's unit square (u, v in [0, 1], top-left origin) to frame pixels."""
        cos, sin = math.cos(self.angle), math.sin(self.angle)
        du = (uv[..., 0] - 0.5) * self.width
        dv = (uv[..., 1] - 0.5) * self.height
        return np.stack([self.cx + du * cos - dv * sin, self.cy + du * sin + dv * cos], axis=-1)

    def corners(self) -> np.ndarray:
        return self.to_frame(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32))

    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned bounding box (x0, y0, x1, y1) in frame pixels."""
        c = self.corners()
        return float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max())


def normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def rotation_from_points(x0: float, y0: float, x1: float, y1: float, target_deg: float) -> float:
    """Rotation that turns the vector p0→p1 (frame pixels) to ``target_deg`` (mediapipe: 90 = pointing up)."""
    return normalize_radians(math.radians(target_deg) - math.atan2(-(y1 - y0), x1 - x0))


def full_frame_rect(width: int, height: int) -> RotatedRect:
    """The whole frame, squared on its long side: the letterbox a detector's square input expects."""
    side = float(max(width, height))
    return RotatedRect(width / 2.0, height / 2.0, side, side, 0.0)


def crop_pixels(image: Image.Image, rect: RotatedRect, size: tuple[int, int], bilinear: bool = False) -> np.ndarray:
    """Sample ``rect`` of ``image`` into an (H, W, 3) uint8 array of ``size`` (width, height).

    One affine warp (PIL, in C) does the rotation, the crop, the resize and the letterbox at once; parts of the rect
    outside the frame read as black, as mediapipe's BORDER_ZERO. Nearest-neighbour sampling by default: PIL's
    bilinear affine warp costs ~10× more (1.6 ms against 0.12 ms for 192×192 here, as much as a model), and the
    landmark outputs differ by well under a pixel on the shared clips (see models/vision/README.md).
    """
    out_w, out_h = size
    cos, sin = math.cos(rect.angle), math.sin(rect.angle)
    # PIL's AFFINE maps each output point (X, Y) to the input point (a X + b Y + c, d X + e Y + f).
    a, b = cos * rect.width / out_w, -sin * rect.height / out_h
    d, e = sin * rect.width / out_w, cos * rect.height / out_h
    c = rect.cx - (cos * rect.width - sin * rect.height) / 2.0
    f = rect.cy - (sin * rect.width + cos * rect.height) / 2.0
    resample = Image.Resampling.BILINEAR if bilinear else Image.Resampling.NEAREST
    warped = image.transform((out_w, out_h), Image.Transform.AFFINE, (a, b, c, d, e, f), resample)
    return np.asarray(warped)


def scale_pixels(pixels: np.ndarray, value_range: tuple[float, float], out: np.ndarray | None = None) -> np.ndarray:
    """uint8 pixels → float32 in ``value_range`` (into ``out`` when given, e.g. the interpreter's input tensor)."""
    lo, hi = value_range
    out = np.multiply(pixels, np.float32((hi - lo) / 255.0), out=out, dtype=np.float32, casting="unsafe")
    if lo:
        out += np.float32(lo)
    return out


def crop_to_tensor(
    image: Image.Image, rect: RotatedRect, size: tuple[int, int], value_range: tuple[float, float],
    bilinear: bool = False,
) -> np.ndarray:
    """:func:`crop_pixels` as a (1, H, W, 3) float32 tensor scaled to ``value_range``."""
    return scale_pixels(crop_pixels(image, rect, size, bilinear), value_range)[np.newaxis]


@dataclass(frozen=True, slots=True)
class AnchorOptions:
    """The subset of mediapipe's SsdAnchorsCalculatorOptions these models use (always fixed anchor size)."""

    input_width: int
    input_height: int
    strides: tuple[int, ...]
    num_layers: int
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    anchor_offset: float = 0.5


def ssd_anchors(opts: AnchorOptions) -> np.ndarray:
    """Anchor centres (n, 2) as x, y in [0, 1], in the order mediapipe's SsdAnchorsCalculator emits them.

    With ``fixed_anchor_size`` every anchor is 1×1, so only how many anchors sit at each grid cell matters: per
    layer one per aspect ratio plus one interpolated-scale anchor, and consecutive layers with the same stride share
    one grid.
    """
    centres: list[np.ndarray] = []
    layer = 0
    while layer < opts.num_layers:
        per_cell = 0
        last = layer
        while last < opts.num_layers and opts.strides[last] == opts.strides[layer]:
            per_cell += len(opts.aspect_ratios) + (1 if opts.interpolated_scale_aspect_ratio > 0 else 0)
            last += 1
        stride = opts.strides[layer]
        rows = math.ceil(opts.input_height / stride)
        cols = math.ceil(opts.input_width / stride)
        ys, xs = np.meshgrid(
            (np.arange(rows) + opts.anchor_offset) / rows, (np.arange(cols) + opts.anchor_offset) / cols, indexing="ij"
        )
        grid = np.stack([xs.ravel(), ys.ravel()], axis=-1)
        centres.append(np.repeat(grid, per_cell, axis=0))
        layer = last
    return np.concatenate(centres).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Detection:
    """One detector output in the detector's input square: ``box`` (x0, y0, x1, y1) and ``keypoints`` (k, 2) in
    [0, 1] of the input tensor; mapped to frame pixels with :meth:`RotatedRect.to_frame` of the input rect."""

    score: float
    box: np.ndarray
    keypoints: np.ndarray


def decode_detections(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, input_size: int, num_keypoints: int,
    min_score: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mediapipe's TensorsToDetections (reverse_output_order, fixed-size anchors, sigmoid scores clipped at ±100).

    Returns (scores (m,), boxes (m, 4) x0 y0 x1 y1, keypoints (m, k, 2)) for the candidates above ``min_score``.
    """
    logits = np.clip(raw_scores.reshape(-1), -100.0, 100.0)
    keep = logits > math.log(min_score / (1.0 - min_score))  # sigmoid(x) > t  ⇔  x > logit(t): no exp on all anchors
    if not keep.any():
        return np.zeros(0, np.float32), np.zeros((0, 4), np.float32), np.zeros((0, num_keypoints, 2), np.float32)
    raw = raw_boxes.reshape(raw_boxes.shape[-2], raw_boxes.shape[-1])[keep] / float(input_size)
    centre = anchors[keep]
    cx = raw[:, 0] + centre[:, 0]
    cy = raw[:, 1] + centre[:, 1]
    half_w, half_h = raw[:, 2] / 2.0, raw[:, 3] / 2.0
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1)
    kps = raw[:, 4 : 4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2) + centre[:, None, :]
    scores = 1.0 / (1.0 + np.exp(-logits[keep]))
    return scores.astype(np.float32), boxes.astype(np.float32), kps.astype(np.float32)


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (4,) with many (n, 4), all x0 y0 x1 y1."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, iou_threshold: float, max_results: int = 0
) -> list[Detection]:
    """mediapipe's WEIGHTED non-maximum suppression: each cluster of overlapping candidates becomes one detection
    whose box and keypoints are the score-weighted mean of the cluster, scored by its best member."""
    order = np.argsort(-scores, kind="stable")
    remaining = order
    out: list[Detection] = []
    while remaining.size and (max_results <= 0 or len(out) < max_results):
        top = remaining[0]
        overlap = iou(boxes[top], boxes[remaining])
        cluster = remaining[overlap > iou_threshold]
        if cluster.size == 0:  # a degenerate (zero-area) top box overlaps nothing, not even itself
            cluster = remaining[:1]
        weights = scores[cluster][:, None]
        total = float(weights.sum())
        box = (boxes[cluster] * weights).sum(axis=0) / total
        kps = (keypoints[cluster] * weights[:, :, None]).sum(axis=0) / total
        out.append(Detection(float(scores[top]), box.astype(np.float32), kps.astype(np.float32)))
        remaining = remaining[~np.isin(remaining, cluster)]
    return out


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-100.0, min(100.0, x))))

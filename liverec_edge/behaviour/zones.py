"""Studio zones: polygons normalised to the frame (x, y in [0, 1] from the top-left), with the geometry the
recognition needs: point-in-polygon for landmark sets, the share of a box inside a zone, and the distance from a
point to a zone (for predicting contact).

Distances are measured in *frame-width units* after stretching y by the frame's aspect ratio (height / width), so that
a circle stays a circle on a 4:3 or 16:9 frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liverec_edge.behaviour.settings import ZoneSettings

ZONE_NAMES: tuple[str, ...] = ("microphone", "keyboard", "seat")


class Polygon:
    """A simple polygon (convex or not) in normalised frame coordinates."""

    __slots__ = ("bbox", "points")

    def __init__(self, points: Sequence[Sequence[float]]):
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 3:
            raise ValueError(f"a polygon needs at least 3 (x, y) points, got shape {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValueError("polygon points must be finite numbers")
        self.points = pts
        self.bbox = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))

    def __repr__(self) -> str:
        return f"Polygon({self.points.round(3).tolist()})"

    @property
    def area(self) -> float:
        x, y = self.points[:, 0], self.points[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2)

    @property
    def centroid(self) -> tuple[float, float]:
        return float(self.points[:, 0].mean()), float(self.points[:, 1].mean())

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Boolean mask of which points (N×2, or N×3 with z ignored) lie inside (even-odd rule, vectorised)."""
        xy = np.asarray(xy, dtype=np.float64)
        if xy.ndim == 1:
            xy = xy[None, :]
        if xy.shape[0] == 0:
            return np.zeros(0, bool)
        px, py = xy[:, 0:1], xy[:, 1:2]
        x0, y0 = self.points[:, 0], self.points[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        crosses = (y0 > py) != (y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside = np.logical_and(crosses, px < x_at)
        return (np.count_nonzero(inside, axis=1) % 2 == 1) & np.all(np.isfinite(xy[:, :2]), axis=1)

    def contains_point(self, x: float, y: float) -> bool:
        return bool(self.contains(np.array([[x, y]]))[0])

    def fraction_inside(self, xy: np.ndarray) -> float:
        """Share of a landmark set inside the polygon (0 for an empty set)."""
        xy = np.asarray(xy)
        if xy.size == 0:
            return 0.0
        return float(np.mean(self.contains(xy)))

    def box_overlap(self, box: tuple[float, float, float, float]) -> float:
        """Share of a box's area inside the polygon (exact: the polygon is clipped to the box)."""
        bx0, by0, bx1, by1 = (float(v) for v in box)
        if bx1 <= bx0 or by1 <= by0:
            return 0.0
        clipped = _clip_to_box(self.points.tolist(), bx0, by0, bx1, by1)
        if len(clipped) < 3:
            return 0.0
        c = np.asarray(clipped)
        area = abs(np.dot(c[:, 0], np.roll(c[:, 1], -1)) - np.dot(np.roll(c[:, 0], -1), c[:, 1])) / 2
        return float(min(1.0, area / ((bx1 - bx0) * (by1 - by0))))

    def distance(self, xy: np.ndarray, aspect: float = 1.0) -> np.ndarray:
        """Distance of each point to the polygon (0 inside), in frame-width units; ``aspect`` is height / width."""
        xy = np.asarray(xy, dtype=np.float64)
        if xy.ndim == 1:
            xy = xy[None, :]
        if xy.shape[0] == 0:
            return np.zeros(0)
        scale = np.array([1.0, aspect])
        p = xy[:, None, :2] * scale
        a = self.points[None, :, :] * scale
        b = np.roll(self.points, -1, axis=0)[None, :, :] * scale
        ab = b - a
        denom = np.maximum(np.sum(ab * ab, axis=2), 1e-12)
        u = np.clip(np.sum((p - a) * ab, axis=2) / denom, 0.0, 1.0)
        nearest = a + u[..., None] * ab
        d = np.sqrt(np.min(np.sum((p - nearest) ** 2, axis=2), axis=1))
        d[self.contains(xy)] = 0.0
        return d


def _clip_to_box(poly: list[list[float]], x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    """Sutherland–Hodgman: the part of ``poly`` inside an axis-aligned box (the box is convex, so any polygon works)."""

    def clip(points: list, inside, cross) -> list:
        out: list = []
        for i, cur in enumerate(points):
            prev = points[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
        return out

    def at_x(x: float):
        return lambda p, q: (x, p[1] + (q[1] - p[1]) * (x - p[0]) / (q[0] - p[0]))

    def at_y(y: float):
        return lambda p, q: (p[0] + (q[0] - p[0]) * (y - p[1]) / (q[1] - p[1]), y)

    pts: list = [tuple(p) for p in poly]
    for inside, cross in (
        (lambda p: p[0] >= x0, at_x(x0)),
        (lambda p: p[0] <= x1, at_x(x1)),
        (lambda p: p[1] >= y0, at_y(y0)),
        (lambda p: p[1] <= y1, at_y(y1)),
    ):
        if not pts:
            break
        pts = clip(pts, inside, cross)
    return pts


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of N×2 points, counter-clockwise (Andrew's monotone chain); < 3 points come back as is."""
    pts = np.unique(np.asarray(points, dtype=np.float64)[:, :2], axis=0)
    if pts.shape[0] < 3:
        return pts

    def half(seq: np.ndarray) -> list[np.ndarray]:
        chain: list[np.ndarray] = []
        for p in seq:
            while len(chain) >= 2:
                a, b = chain[-2], chain[-1]
                if (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) > 0:
                    break
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1])


WHOLE_FRAME: tuple[tuple[float, float], ...] = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


@dataclass(frozen=True)
class Zones:
    """The studio's zones. ``microphone`` and ``keyboard`` may be missing; ``seat`` defaults to the whole frame."""

    microphone: Polygon | None
    keyboard: Polygon | None
    seat: Polygon
    seat_is_default: bool = False

    @classmethod
    def from_settings(cls, settings: ZoneSettings) -> Zones:
        return cls(
            microphone=Polygon(settings.microphone) if settings.microphone else None,
            keyboard=Polygon(settings.keyboard) if settings.keyboard else None,
            seat=Polygon(settings.seat or WHOLE_FRAME),
            seat_is_default=settings.seat is None,
        )

    def items(self) -> list[tuple[str, Polygon]]:
        """The configured zones in drawing order (seat first, as it is usually the largest)."""
        out: list[tuple[str, Polygon]] = [("seat", self.seat)]
        if self.keyboard is not None:
            out.append(("keyboard", self.keyboard))
        if self.microphone is not None:
            out.append(("microphone", self.microphone))
        return out

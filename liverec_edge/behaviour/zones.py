"""Studio zones: polygons normalised to the frame (x, y in [0, 1] from the top-left), with the geometry the
recognition needs: point-in-polygon for landmark sets, the share of a box inside a zone, and the distance from a
point to a zone (for predicting contact).

Distances are measured in *frame-width units* after stretching y by the frame's aspect ratio (height / width), so that
a circle stays a circle on a 4:3 or 16:9 frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liverec_edge.behaviour.settings import ZoneSettings

ZONE_NAMES: tuple[str, ...] = ("microphone", "keyboard", "seat")


class Polygon:
    """A simple polygon (convex or not) in normalised frame coordinates."""

    __slots__ = ("_dx", "_dy", "_x0", "_x1", "_y0", "_y1", "bbox", "points")

    def __init__(self, points: Sequence[Sequence[float]]):
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 3:
            raise ValueError(f"a polygon needs at least 3 (x, y) points, got shape {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValueError("polygon points must be finite numbers")
        self.points = pts
        self.bbox = (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
        # Edges (x0, y0) → (x1, y1), precomputed: these tests run per hand per frame.
        self._x0, self._y0 = pts[:, 0], pts[:, 1]
        self._x1, self._y1 = np.roll(self._x0, -1), np.roll(self._y0, -1)
        self._dx, self._dy = self._x1 - self._x0, self._y1 - self._y0

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
        crosses = (self._y0 > py) != (self._y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = self._x0 + (py - self._y0) * self._dx / self._dy
        inside = crosses & (px < x_at)
        # NaN coordinates compare False everywhere, so they are never inside.
        return np.count_nonzero(inside, axis=1) % 2 == 1

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
        # Point-to-segment distances, all points × all edges at once, with y stretched by the aspect.
        px, py = xy[:, 0:1], xy[:, 1:2] * aspect
        ax, ay = self._x0, self._y0 * aspect
        abx, aby = self._dx, self._dy * aspect
        denom = np.maximum(abx * abx + aby * aby, 1e-12)
        u = np.clip(((px - ax) * abx + (py - ay) * aby) / denom, 0.0, 1.0)
        ex, ey = px - (ax + u * abx), py - (ay + u * aby)
        d = np.sqrt(np.min(ex * ex + ey * ey, axis=1))
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
    pts = sorted(set(map(tuple, np.asarray(points, dtype=np.float64)[:, :2].tolist())))
    if len(pts) < 3:
        return np.array(pts, dtype=np.float64).reshape(-1, 2)

    def half(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        chain: list[tuple[float, float]] = []
        for px, py in seq:
            while len(chain) >= 2:
                (ax, ay), (bx, by) = chain[-2], chain[-1]
                if (bx - ax) * (py - ay) - (by - ay) * (px - ax) > 0:
                    break
                chain.pop()
            chain.append((px, py))
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def point_to_hull_distance(points: np.ndarray, x: float, y: float, aspect: float = 1.0) -> float:
    """Distance from (x, y) to the convex hull of ``points`` (0 inside it), in frame-width units.

    Plain Python over the hull's few edges: for one point this is several times faster than numpy's per-call cost.
    """
    hull = convex_hull(points).tolist()
    if not hull:
        return math.inf
    pts = [(hx, hy * aspect) for hx, hy in hull]
    py_ = y * aspect
    if len(pts) < 3:
        return min(math.hypot(hx - x, hy - py_) for hx, hy in pts)
    inside = True
    best = math.inf
    for i, (ax, ay) in enumerate(pts):
        bx, by = pts[(i + 1) % len(pts)]
        abx, aby = bx - ax, by - ay
        # Counter-clockwise hull: the point is inside when it is left of (or on) every edge.
        if abx * (py_ - ay) - aby * (x - ax) < 0:
            inside = False
        denom = abx * abx + aby * aby
        u = 0.0 if denom <= 0 else min(1.0, max(0.0, ((x - ax) * abx + (py_ - ay) * aby) / denom))
        best = min(best, math.hypot(x - (ax + u * abx), py_ - (ay + u * aby)))
    return 0.0 if inside else best


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

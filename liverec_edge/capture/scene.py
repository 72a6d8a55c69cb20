"""The demo studio camera: a still portrait of the presenter, animated by a deterministic script of keyframes.

The presenter sits at the desk (``normal``), leans in towards the camera and mic (``lean_in``: larger and lower in
the frame), leaves the frame sideways (``away``) and comes back. Because frame *k* is drawn from the script at media
time ``k / fps``, the demo and the tests know exactly when the presenter leans in or is absent.

Public API::

    script = SceneScript(keyframes, cycle_s=24.0, transition_s=0.5)    # keyframes: SceneKeyframe or (at_s, pose)
    script.pose_at(t) -> ScenePose        # interpolated placement at media time t
    script.label_at(t) -> str             # "normal" | "lean_in" | "away" | "moving" (during a transition)
    script.expected_behaviour(t) -> str | None   # "lean_in", "absent" or None: what the behaviour stage should tag
    script.expected_spans(until_s) -> [(behaviour, start, end)]   # the same as media-time spans
    SceneCamera(portrait: np.ndarray | Path, width, height, fps, script, paced=True)  # a CameraSource
    SceneCamera.from_settings(camera_settings)
    camera.render(media_t) -> np.ndarray
    camera.placement(media_t) -> (x0, y0, x1, y1)   # the portrait's rectangle in the frame
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverec_edge.capture.base import SourceContext, SourceError
from liverec_edge.capture.camera import _PacedClockSource
from liverec_edge.capture.settings import CameraSettings, SceneKeyframe
from liverec_edge.media import MediaError, load_image


@dataclass(frozen=True, slots=True)
class ScenePose:
    """Placement of the portrait: ``scale`` of its resting size, offset in frame widths/heights (right/down)."""

    scale: float
    dx: float
    dy: float


#: Where each named pose puts the presenter. Leaning in makes the portrait half as large again and moves it down,
#: so the face gets larger and comes down towards the desk mic (the chest leaves the frame at the bottom), as it
#: does when someone leans in to a mic.
POSES: dict[str, ScenePose] = {
    "normal": ScenePose(scale=1.0, dx=0.0, dy=0.0),
    "lean_in": ScenePose(scale=1.55, dx=0.0, dy=0.42),
    "away": ScenePose(scale=1.0, dx=1.25, dy=0.0),
}

_BEHAVIOUR_OF_POSE = {"lean_in": "lean_in", "away": "absent"}


def _ease(x: float) -> float:
    """Smoothstep: a move starts and ends gently."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


class SceneScript:
    """Keyframes ``(at_s, pose)``: from ``at_s`` the presenter moves to ``pose`` over ``transition_s`` seconds; the
    script repeats every ``cycle_s`` (moving from the last pose back to the first at the wrap)."""

    def __init__(
        self,
        keyframes: Sequence[SceneKeyframe] | Sequence[tuple[float, str]],
        cycle_s: float,
        transition_s: float = 0.5,
    ):
        keys = [(k.at_s, k.pose) if isinstance(k, SceneKeyframe) else (float(k[0]), str(k[1])) for k in keyframes]
        if not keys or keys[0][0] != 0:
            raise ValueError("a scene script must start with a keyframe at 0 s")
        for _, pose in keys:
            if pose not in POSES:
                raise ValueError(f"unknown scene pose {pose!r} (known: {', '.join(POSES)})")
        times = [t for t, _ in keys]
        if any(b <= a for a, b in itertools.pairwise(times)) or times[-1] >= cycle_s:
            raise ValueError(f"keyframe times must increase and stay below cycle_s={cycle_s}: {times}")
        self.keys = keys
        self.cycle_s = float(cycle_s)
        self.transition_s = float(transition_s)
        self._times = times

    def _segment(self, t: float) -> tuple[str, str, float]:
        """(pose moved from, pose moved to, seconds since the move started) at media time t."""
        local = t % self.cycle_s
        i = bisect.bisect_right(self._times, local) - 1
        target = self.keys[i][1]
        previous = self.keys[i - 1][1] if i > 0 else self.keys[-1][1]
        if i == 0 and t < self.cycle_s:  # the very first keyframe is where the presenter starts, not a move
            previous = target
        return previous, target, local - self._times[i]

    def pose_at(self, t: float) -> ScenePose:
        previous, target, since = self._segment(t)
        a, b = POSES[previous], POSES[target]
        x = _ease(since / self.transition_s) if self.transition_s > 0 else 1.0
        return ScenePose(
            scale=a.scale + (b.scale - a.scale) * x, dx=a.dx + (b.dx - a.dx) * x, dy=a.dy + (b.dy - a.dy) * x
        )

    def label_at(self, t: float) -> str:
        previous, target, since = self._segment(t)
        if previous != target and since < self.transition_s:
            return "moving"
        return target

    def expected_behaviour(self, t: float) -> str | None:
        """The behaviour the scene shows at media time t once a move is complete (None: normal or moving)."""
        return _BEHAVIOUR_OF_POSE.get(self.label_at(t))

    def expected_spans(self, until_s: float) -> list[tuple[str, float, float]]:
        """``(behaviour, start, end)`` in media time up to ``until_s``: from the end of the move into a lean-in or
        away pose until the next keyframe starts the move out (what a perfect behaviour stage would tag)."""
        spans: list[tuple[str, float, float]] = []
        cycle = 0
        while cycle * self.cycle_s < until_s:
            base = cycle * self.cycle_s
            for i, (at_s, pose) in enumerate(self.keys):
                behaviour = _BEHAVIOUR_OF_POSE.get(pose)
                if behaviour is None:
                    continue
                start = base + at_s + self.transition_s
                end = base + (self.keys[i + 1][0] if i + 1 < len(self.keys) else self.cycle_s)
                if start < min(end, until_s):
                    spans.append((behaviour, start, min(end, until_s)))
            cycle += 1
        return spans


class SceneCamera(_PacedClockSource):
    """Renders the portrait into a studio backdrop at its scripted placement, frame *k* at media time ``k / fps``.

    ``portrait`` is an image array, or a path read when the camera opens (so a missing file is a camera failure
    the runner reports while audio carries on, like an unplugged camera).
    """

    def __init__(
        self,
        portrait: np.ndarray | str | Path,
        width: int,
        height: int,
        fps: float,
        script: SceneScript,
        paced: bool = True,
    ):
        super().__init__(fps, paced)
        self.name = f"scene {width}x{height}@{fps:g}"
        self.width, self.height = int(width), int(height)
        self.script = script
        self._portrait_path = None if isinstance(portrait, np.ndarray) else Path(portrait)
        self._portrait = np.zeros((1, 1, 3), np.uint8)
        self._rest_h = self._rest_w = 1.0
        self._backdrop = self._make_backdrop()
        self._resized: dict[tuple[int, int], np.ndarray] = {}
        if isinstance(portrait, np.ndarray):
            self._set_portrait(portrait)

    def _set_portrait(self, portrait: np.ndarray) -> None:
        if portrait.ndim != 3 or portrait.shape[2] != 3 or portrait.dtype != np.uint8:
            raise SourceError(f"scene portrait must be H×W×3 uint8 RGB, got {portrait.shape} {portrait.dtype}")
        self._portrait = portrait
        # At rest the portrait fills 85 % of the frame height, standing on the bottom edge, centred.
        self._rest_h = 0.85 * self.height
        self._rest_w = self._rest_h * portrait.shape[1] / portrait.shape[0]
        self._resized.clear()

    @classmethod
    def from_settings(cls, settings: CameraSettings) -> SceneCamera:
        if settings.path is None:
            raise SourceError("capture.camera.path is required for kind 'scene' (the presenter's portrait)")
        script = SceneScript(settings.scene_script, settings.scene_cycle_s, settings.scene_transition_s)
        return cls(settings.path, settings.width, settings.height, settings.fps, script, paced=settings.paced)

    def _make_backdrop(self) -> np.ndarray:
        """A dim studio wall (vertical gradient) with a desk along the bottom."""
        h, w = self.height, self.width
        shade = np.linspace(70, 30, h, dtype=np.float32)[:, None, None]
        wall = np.broadcast_to(shade * np.array([0.55, 0.6, 1.0], np.float32), (h, w, 3))
        backdrop = wall.astype(np.uint8).copy()
        self._desk_y = int(h * 0.9)
        backdrop[self._desk_y :] = (92, 64, 40)
        return backdrop

    def _portrait_at(self, out_w: int, out_h: int) -> np.ndarray:
        key = (out_w, out_h)
        cached = self._resized.get(key)
        if cached is None:
            from PIL import Image

            cached = np.asarray(Image.fromarray(self._portrait).resize(key, Image.BILINEAR))
            # A move passes through a new size every frame; keep only the last few (the resting sizes come back
            # and are re-made once), at up to 1 MB each.
            while len(self._resized) >= 4:
                del self._resized[next(iter(self._resized))]
            self._resized[key] = cached
        return cached

    def placement(self, media_t: float) -> tuple[int, int, int, int]:
        """Where the whole portrait lies at media time ``media_t``: (x0, y0, x1, y1) in frame pixels, possibly
        beyond the frame's edges. Tests and the demo map portrait points (the face) through it."""
        pose = self.script.pose_at(media_t)
        out_w = max(1, round(self._rest_w * pose.scale))
        out_h = max(1, round(self._rest_h * pose.scale))
        # Scale about the bottom centre, then shift.
        cx = self.width / 2 + pose.dx * self.width
        bottom = self.height + pose.dy * self.height
        x0 = round(cx - out_w / 2)
        y0 = round(bottom - out_h)
        return x0, y0, x0 + out_w, y0 + out_h

    def render(self, media_t: float) -> np.ndarray:
        """The frame at media time ``media_t`` (deterministic)."""
        x0, y0, x1, y1 = self.placement(media_t)
        out_w, out_h = x1 - x0, y1 - y0
        image = self._backdrop.copy()
        fx0, fy0 = max(x0, 0), max(y0, 0)
        fx1, fy1 = min(x0 + out_w, self.width), min(y0 + out_h, self.height)
        if fx1 > fx0 and fy1 > fy0:
            portrait = self._portrait_at(out_w, out_h)
            image[fy0:fy1, fx0:fx1] = portrait[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        image[self._desk_y :] = self._backdrop[self._desk_y :]  # the desk stands in front of the presenter
        return image

    def open(self, ctx: SourceContext) -> None:
        if self._portrait_path is not None:
            try:
                self._set_portrait(load_image(self._portrait_path))
            except MediaError as exc:
                raise SourceError(f"capture.camera.path: {exc}") from None
        self._ctx = ctx
        self._k = 0

    def read(self) -> tuple[float, np.ndarray] | None:
        slot = self._next_slot()
        if slot is None:
            return None
        k, t = slot
        return t, self.render(k / self.fps)

    def close(self) -> None:
        self._ctx = None

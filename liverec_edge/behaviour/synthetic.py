"""Synthetic studio sequences built from a real photograph of a person, with known ground truth.

The frames are real pixels (the person is a real photo; nothing is drawn), moved the way a presenter moves: zoomed
about the face to lean in, moved out of the seat zone, or gone. Transitions are abrupt, so the ground-truth times are
exact frame times, and the part detectors see a real person in every frame in which there is one. Used by the tests
and ``tools/bench/bench_tags.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liverec_edge.types import Frame, PartResult

CANVAS = (640, 480)  # width, height of the synthetic camera


@dataclass(frozen=True)
class Scene:
    """Frames and the spans (start, end) in which each behaviour is truly going on."""

    name: str
    frames: list[Frame]
    truth: dict[str, list[tuple[float, float]]]
    fps: float
    zones: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    @property
    def period(self) -> float:
        return 1.0 / self.fps


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def empty_room(seed: int = 0) -> np.ndarray:
    """A wall with a little sensor noise: what the camera sees when nobody is there."""
    rng = np.random.default_rng(seed)
    w, h = CANVAS
    wall = np.linspace(150, 120, h, dtype=np.float32)[:, None, None] * np.array([1.0, 1.0, 0.95], np.float32)
    image = np.broadcast_to(wall, (h, w, 3)) + rng.normal(0, 2.0, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def place(person: np.ndarray, height_frac: float, centre_x: float, room: np.ndarray) -> np.ndarray:
    """The room with the person photo (scaled to ``height_frac`` of the frame height, bottom-aligned like someone
    seated at a desk) centred at ``centre_x`` (normalised); parts outside the frame are cut off."""
    w, h = CANVAS
    ph = max(8, round(h * height_frac))
    pw = max(8, round(person.shape[1] * ph / person.shape[0]))
    scaled = _resize(person, pw, ph)
    out = room.copy()
    x0 = round(centre_x * w - pw / 2)
    y0 = h - ph
    sx0, sx1 = max(0, -x0), min(pw, w - x0)
    if sx1 > sx0:
        out[y0:h, x0 + sx0 : x0 + sx1] = scaled[:, sx0:sx1]
    return out


def zoom(image: np.ndarray, factor: float, anchor: tuple[float, float]) -> np.ndarray:
    """The picture a camera sees when the subject at ``anchor`` (normalised) comes ``factor`` times closer."""
    h, w = image.shape[:2]
    cw, ch = w / factor, h / factor
    x0 = min(max(anchor[0] * w - cw / 2, 0), w - cw)
    y0 = min(max(anchor[1] * h - ch / 2, 0), h - ch)
    crop = image[round(y0) : round(y0 + ch), round(x0) : round(x0 + cw)]
    return _resize(crop, w, h)


def _frames(images: list[np.ndarray], fps: float) -> list[Frame]:
    return [Frame(t=i / fps, index=i, image=img) for i, img in enumerate(images)]


def lean_in_scene(
    person: np.ndarray, fps: float = 15.0, duration: float = 5.0, lean: tuple[float, float] = (2.0, 3.5),
    factor: float = 1.5,
) -> Scene:
    """Seated presenter who leans in (the face ``factor`` times larger) from ``lean[0]`` to ``lean[1]``."""
    seated = place(person, 0.95, 0.5, empty_room())
    closer = zoom(seated, factor, (0.5, 0.35))
    n = round(duration * fps)
    images = [closer if lean[0] <= i / fps < lean[1] else seated for i in range(n)]
    return Scene("lean_in", _frames(images, fps), {"lean_in": [lean]}, fps)


def absent_scene(
    person: np.ndarray, fps: float = 15.0, duration: float = 6.0, away: tuple[float, float] = (1.0, 5.0)
) -> Scene:
    """Presenter seated, then gone (empty room) from ``away[0]`` to ``away[1]``, then back."""
    room = empty_room()
    seated = place(person, 0.95, 0.5, room)
    n = round(duration * fps)
    images = [room if away[0] <= i / fps < away[1] else seated for i in range(n)]
    return Scene("absent", _frames(images, fps), {"absent": [away]}, fps)


def leave_seat_scene(
    person: np.ndarray, fps: float = 15.0, duration: float = 6.0, away: tuple[float, float] = (1.0, 5.0)
) -> Scene:
    """Presenter in the seat (left half), then standing to the right, out of the seat zone but still in the picture,
    from ``away[0]`` to ``away[1]``. The scene's zones hold the seat polygon to configure."""
    room = empty_room()
    seated = place(person, 0.7, 0.28, room)
    elsewhere = place(person, 0.7, 0.78, room)
    n = round(duration * fps)
    images = [elsewhere if away[0] <= i / fps < away[1] else seated for i in range(n)]
    seat = [(0.0, 0.0), (0.55, 0.0), (0.55, 1.0), (0.0, 1.0)]
    return Scene("leave_seat", _frames(images, fps), {"absent": [away]}, fps, zones={"seat": seat})


# -- part results of a scripted presenter (for recognition tests and the tag-latency benchmark) ---------------------
#
# Geometry follows the detectors' conventions (normalised x, y from the top-left; MediaPipe landmark order), so the
# encoder reads them exactly as it reads the vision stage's output.


def face_result(
    t: float, index: int, centre: tuple[float, float] = (0.5, 0.3), width: float = 0.16, yaw_deg: float = 0.0,
    confidence: float = 0.9, aspect: float = 0.75,
) -> PartResult:
    """A detected face: box ``width`` wide (frame widths) around ``centre``, mouth at 78 % of the box height."""
    cx, cy = centre
    height = width / aspect * 1.2
    box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    mouth = (cx, box[1] + 0.78 * height)
    attrs = {"yaw_deg": yaw_deg, "pitch_deg": 0.0, "size": width, "mouth_x": mouth[0], "mouth_y": mouth[1],
             "nose_x": cx, "nose_y": cy + 0.1 * height, "mouth_open": 0.1}
    return PartResult("face", t, index, True, confidence, box, np.zeros((0, 3), np.float32), attrs)


def no_face(t: float, index: int) -> PartResult:
    return PartResult("face", t, index, False)


def hand_landmarks(centre: tuple[float, float], length: float, aspect: float = 0.75, phase: float = 0.0) -> np.ndarray:
    """21 landmarks of an open hand pointing up, ``length`` (frame widths) from wrist to fingertips, centred at
    ``centre``. ``phase`` bends the fingertips (typing) without moving the wrist."""
    cx, cy = centre
    pts = np.zeros((21, 3), np.float32)
    tall = length / aspect  # normalised y spans ``aspect`` times fewer frame widths
    wrist_y = cy + tall / 2
    pts[0, :2] = (cx, wrist_y)
    joints = (0.45, 0.65, 0.82, 1.0)  # share of the hand length from the wrist: knuckle, two joints, tip
    for finger in range(5):
        dx = (finger - 2) * 0.12 * length
        for joint, reach in enumerate(joints):
            bend = 0.15 * np.sin(phase + 1.3 * finger) if joint == 3 else 0.0
            pts[1 + finger * 4 + joint, :2] = (cx + dx * reach, wrist_y - (reach - bend) * tall)
    return pts


def hand_result(
    t: float, index: int, centre: tuple[float, float], length: float = 0.08, instance: int = 0,
    confidence: float = 0.95, phase: float = 0.0, aspect: float = 0.75,
) -> PartResult:
    lm = hand_landmarks(centre, length, aspect, phase=phase)
    box = (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max()))
    return PartResult("hand", t, index, True, confidence, box, lm, {"score": confidence, "tracked": 1.0},
                      instance)


def no_hand(t: float, index: int) -> PartResult:
    return PartResult("hand", t, index, False)


def pose_result(
    t: float, index: int, centre_x: float = 0.5, shoulder_y: float = 0.55, shoulder_width: float = 0.3,
    head_yaw_deg: float = 0.0, confidence: float = 0.95, reused: bool = False,
) -> PartResult:
    """A detected upper body: 33 landmarks (x, y, z, visibility) with nose, eyes, ears, mouth and shoulders placed."""
    lm = np.zeros((33, 4), np.float32)
    lm[:, 3] = 0.0
    half = shoulder_width / 2
    head_y = shoulder_y - 0.25
    ear_half = 0.3 * half * np.cos(np.radians(head_yaw_deg))
    lm[7, :2] = (centre_x + ear_half, head_y)  # left ear (on the image's right for a frontal person)
    lm[8, :2] = (centre_x - ear_half, head_y)
    lm[0, :2] = (centre_x + 0.3 * half * np.sin(np.radians(head_yaw_deg)), head_y + 0.01)  # nose
    lm[9, :2] = (centre_x + 0.05 * half, head_y + 0.06)  # mouth left / right
    lm[10, :2] = (centre_x - 0.05 * half, head_y + 0.06)
    lm[11, :2] = (centre_x + half, shoulder_y)
    lm[12, :2] = (centre_x - half, shoulder_y)
    lm[[0, 7, 8, 9, 10, 11, 12], 3] = 0.99
    attrs = {"shoulder_width": shoulder_width, "shoulder_cx": centre_x, "shoulder_cy": shoulder_y,
             "visibility": 0.99, "reused": 1.0 if reused else 0.0}
    box = (centre_x - half * 1.2, head_y - 0.1, centre_x + half * 1.2, 1.0)
    return PartResult("pose", t, index, True, confidence, box, lm, attrs)


def no_pose(t: float, index: int) -> PartResult:
    return PartResult("pose", t, index, False)

"""Behaviour codes: each part's per-frame detector result, plus the zones, encoded to a compact state.

A part's code is a set of state flags (``HandState.IN_KEYBOARD_ZONE | HandState.MOVING``) and a confidence; the
codes of all parts for one frame form its :class:`BehaviourSet` (a few dozen bytes, cheap to keep thousands).

Encoding is stateful in a small, bounded way, because several states are relative: *moving* needs the previous
landmarks, *approaching* needs a closing speed, *close* needs the presenter's own baseline size (people differ in
size and distance from the camera), and a mouth hidden by a hand needs the last face seen. Threshold crossings use
value hysteresis (enter/exit thresholds) so that a code does not flicker on a borderline value; the temporal
hysteresis (minimum durations) is the recogniser's job.

Geometry: inputs are normalised to the frame. Distances are converted to frame-width units (y scaled by the frame's
height/width aspect) and then expressed in *body units*: hand lengths for hand motion and mic approach, face widths
around the mouth. That keeps thresholds valid for a presenter near or far from the camera.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liverec_edge.behaviour.settings import BehaviourSettings, LeanInSettings
from liverec_edge.behaviour.zones import Zones, point_to_hull_distance
from liverec_edge.types import PartResult

# MediaPipe landmark indices used here.
FACE_UPPER_LIP_INNER, FACE_LOWER_LIP_INNER, FACE_NOSE_TIP = 13, 14, 1
HAND_WRIST, HAND_MIDDLE_MCP = 0, 9
HAND_EXTREMES = [0, 4, 8, 12, 16, 20]  # wrist and fingertips
POSE_NOSE, POSE_MOUTH_LEFT, POSE_MOUTH_RIGHT = 0, 9, 10
POSE_EAR_LEFT, POSE_EAR_RIGHT = 7, 8
POSE_SHOULDER_LEFT, POSE_SHOULDER_RIGHT = 11, 12
POSE_SEAT_POINTS = (POSE_NOSE, POSE_SHOULDER_LEFT, POSE_SHOULDER_RIGHT)


class FaceState(enum.IntFlag):
    ABSENT = 0
    PRESENT = 1
    """Detected in this frame."""
    REMEMBERED = 2
    """Not detected in this frame; the last face (seen recently) stands in for it, e.g. behind a hand."""
    IN_SEAT = 4
    TURNED = 8
    """|yaw| beyond the turned-away threshold."""
    CLOSE = 16
    """Larger than the presenter's own baseline by the lean-in ratio."""
    MOUTH_COVERED = 32
    """A hand is at the mouth."""
    FRONTAL = 64
    """Detected and facing the camera (not turned)."""


class HandState(enum.IntFlag):
    NONE = 0
    PRESENT = 1
    MOVING = 2
    """Landmark motion energy above the typing threshold."""
    IN_KEYBOARD_ZONE = 4
    APPROACHING_MIC = 8
    """Closing on the microphone zone fast enough to reach it within the prediction horizon."""
    IN_MIC_ZONE = 16
    RISING_TO_MOUTH = 32
    """Closing on the mouth fast enough to reach it within the prediction horizon."""
    AT_MOUTH = 64


class PoseState(enum.IntFlag):
    ABSENT = 0
    PRESENT = 1
    IN_SEAT = 2
    OUT_OF_SEAT = 4
    UPRIGHT = 8
    """In the seat at the presenter's baseline scale."""
    LEANING_IN = 16
    """Shoulders wider than the presenter's baseline by the lean-in ratio."""
    HEAD_TURNED = 32
    """The head's yaw estimated from the body landmarks (nose against the ears) beyond the turned-away threshold."""
    STALE = 64
    """Repeated from an earlier frame by the vision schedule (the pose model runs every Nth frame)."""


@dataclass(frozen=True, slots=True)
class PartCode:
    """One part instance's code for one frame: state flags and the detector's confidence."""

    state: int
    confidence: float = 0.0

    def has(self, flag: int) -> bool:
        return bool(self.state & flag)


NO_CODE = PartCode(0, 0.0)


@dataclass(frozen=True, slots=True)
class BehaviourSet:
    """The codes of all parts for one frame. ``hands`` holds 0–2 hand codes."""

    t: float
    frame_index: int
    face: PartCode = NO_CODE
    hands: tuple[PartCode, ...] = ()
    pose: PartCode = NO_CODE
    lean_ratio: float = math.nan
    """Face (else shoulder) size over the presenter's baseline; NaN before the baseline is set."""

    @property
    def face_state(self) -> FaceState:
        return FaceState(self.face.state)

    @property
    def pose_state(self) -> PoseState:
        return PoseState(self.pose.state)

    @property
    def hand_state(self) -> HandState:
        """The union of all hands' states."""
        state = 0
        for hand in self.hands:
            state |= hand.state
        return HandState(state)

    def hand_confidence(self, flag: int) -> float:
        """The highest confidence among hands showing ``flag`` (0 if none does)."""
        return max((h.confidence for h in self.hands if h.state & flag), default=0.0)

    def describe(self) -> str:
        hands = ",".join(_flag_names(HandState(h.state)) for h in self.hands) or "NONE"
        return (
            f"t={self.t:.3f} #{self.frame_index} face={_flag_names(self.face_state)} hands=[{hands}] "
            f"pose={_flag_names(self.pose_state)}"
        )


def _flag_names(flag: enum.IntFlag) -> str:
    names = [m.name for m in type(flag) if m.value and (flag & m) == m and m.name]
    return "|".join(names) if names else str(type(flag)(0).name)


class _Schmitt:
    """A boolean with separate on/off thresholds on a value (``high_is_on``: on above ``on``, off below ``off``)."""

    __slots__ = ("high_is_on", "off", "on", "state")

    def __init__(self, on: float, off: float, high_is_on: bool = True):
        self.on, self.off, self.high_is_on, self.state = on, off, high_is_on, False

    def threshold(self) -> float:
        return self.off if self.state else self.on

    def update(self, value: float) -> bool:
        if not math.isfinite(value):
            return self.state
        if self.high_is_on:
            self.state = value > self.off if self.state else value >= self.on
        else:
            self.state = value < self.off if self.state else value <= self.on
        return self.state


class _ScaleBaseline:
    """A presenter's own size (face width or shoulder width) with lean-in hysteresis on the ratio to it.

    The median of the first ``warmup_s`` seconds sets the baseline; afterwards it follows slowly (log-domain EMA),
    more slowly still while the presenter is close, so a lean does not become the baseline but a chair moved for good
    eventually does.
    """

    def __init__(self, settings: LeanInSettings):
        self.settings = settings
        self.reset()

    def reset(self) -> None:
        self.warm: list[float] = []
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.log_base: float | None = None
        self.ratio = math.nan  # the latest ratio to the baseline
        self.close = _Schmitt(math.log(self.settings.ratio_on), math.log(self.settings.ratio_off))

    def update(self, t: float, size: float) -> float:
        """Feed one measurement; return the ratio to the baseline (NaN during warm-up)."""
        if not (math.isfinite(size) and size > 0):
            return math.nan
        log_size = math.log(size)
        if self.log_base is None:
            if self.t_first is None:
                self.t_first = t
            self.warm.append(log_size)
            self.t_last = t
            if t - self.t_first >= self.settings.warmup_s and len(self.warm) >= 3:
                self.log_base = float(np.median(self.warm))
                self.warm = []
            return math.nan
        dt = max(0.0, t - (self.t_last if self.t_last is not None else t))
        self.t_last = t
        log_ratio = log_size - self.log_base
        self.close.update(log_ratio)
        tau = self.settings.relax_tau_s if self.close.state else self.settings.baseline_tau_s
        self.log_base += (1.0 - math.exp(-dt / tau)) * log_ratio
        self.ratio = math.exp(log_ratio)
        return self.ratio


@dataclass(slots=True, eq=False)  # identity, not value, equality: tracks hold arrays
class _HandTrack:
    """What one hand looked like in the previous frames (matched by position across frames)."""

    centre: np.ndarray
    landmarks: np.ndarray
    t: float
    energy: float
    speeds: deque  # (t, RMS landmark speed) over the last ``typing.smoothing_s``
    moving: _Schmitt
    at_mic: _Schmitt
    at_mouth: _Schmitt
    mic_history: deque
    mouth_history: deque


@dataclass(frozen=True, slots=True)
class _Mouth:
    x: float
    y: float
    face_width: float
    t: float


def _valid_landmarks(result: PartResult, min_points: int) -> np.ndarray:
    """The result's landmarks as finite N×2 (normalised) or an empty array when missing or malformed."""
    lm = result.landmarks
    if not isinstance(lm, np.ndarray) or lm.ndim != 2 or lm.shape[0] < min_points or lm.shape[1] < 2:
        return np.zeros((0, 2))
    xy = np.asarray(lm[:, :2], dtype=np.float64)
    if not np.all(np.isfinite(xy)):
        return np.zeros((0, 2))
    return xy


def _valid_box(result: PartResult) -> tuple[float, float, float, float] | None:
    box = result.box
    if box is None or len(box) != 4:
        return None
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _attr(result: PartResult, name: str) -> float:
    value = result.attrs.get(name) if isinstance(result.attrs, dict) else None
    try:
        value = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
    return value


def _pose_head_yaw(lm: np.ndarray) -> float:
    """Head yaw in degrees from body landmarks: the nose's offset from the ears' midpoint over the ear distance.

    With the ears at ±r·cos(yaw) and the nose about r in front of the head's axis, offset / ear distance = tan(yaw)/2.
    Good to ±10° on frontal faces, which is plenty for a 40° threshold.
    """
    ear_gap = abs(float(lm[POSE_EAR_LEFT, 0] - lm[POSE_EAR_RIGHT, 0]))
    offset = float(lm[POSE_NOSE, 0] - (lm[POSE_EAR_LEFT, 0] + lm[POSE_EAR_RIGHT, 0]) / 2)
    return math.degrees(math.atan2(2.0 * offset, ear_gap)) if ear_gap > 0 or offset else math.nan


def _closing_speed(history: deque) -> float:
    """Least-squares rate at which a distance is shrinking (per second) over the recent samples; NaN if too few."""
    n = len(history)
    if n < 3:
        return math.nan
    mean_t = sum(h[0] for h in history) / n
    mean_d = sum(h[1] for h in history) / n
    var = sum((h[0] - mean_t) ** 2 for h in history)
    if var <= 0:
        return math.nan
    return -sum((h[0] - mean_t) * (h[1] - mean_d) for h in history) / var


class BehaviourEncoder:
    """Turns each frame's part results into a :class:`BehaviourSet`. One encoder per camera; call :meth:`encode`
    once per frame in time order (a gap longer than ``max_frame_gap_s`` or time going back resets motion state)."""

    #: Samples kept for closing-speed estimates (about 0.1 s at 30 fps).
    HISTORY = 4

    def __init__(self, settings: BehaviourSettings, zones: Zones | None = None):
        self.settings = settings
        self.zones = zones or Zones.from_settings(settings.zones)
        self.face_baseline = _ScaleBaseline(settings.lean_in)
        self.shoulder_baseline = _ScaleBaseline(settings.lean_in)
        self.reset()

    def reset(self) -> None:
        """Forget motion and the last face (after a camera stall); keep the presenter's size baseline."""
        self._tracks: list[_HandTrack] = []
        self._last_mouth: _Mouth | None = None
        self._last_t: float | None = None
        turned = self.settings.turned_away
        self._turned = _Schmitt(turned.yaw_on_deg, turned.yaw_off_deg)
        self._head_turned = _Schmitt(turned.yaw_on_deg, turned.yaw_off_deg)
        self._nobody_since: float | None = None

    # -- public -------------------------------------------------------------------------------------------------

    def encode(
        self, t: float, frame_index: int, results: Sequence[PartResult], aspect: float = 0.75
    ) -> BehaviourSet:
        """Encode one frame. ``aspect`` is the frame's height / width (0.75 for 640×480)."""
        if not math.isfinite(t):
            raise ValueError(f"frame time must be finite, got {t}")
        if not (math.isfinite(aspect) and aspect > 0):
            aspect = 0.75
        if self._last_t is not None and (t <= self._last_t or t - self._last_t > self.settings.max_frame_gap_s):
            self.reset()
        self._last_t = t
        min_conf = self.settings.min_part_confidence
        faces = [r for r in results if r.part == "face" and r.detected and r.confidence >= min_conf]
        hands = [r for r in results if r.part == "hand" and r.detected and r.confidence >= min_conf]
        poses = [r for r in results if r.part == "pose" and r.detected and r.confidence >= min_conf]

        face_result = max(faces, key=lambda r: r.confidence) if faces else None
        pose_result = max(poses, key=lambda r: r.confidence) if poses else None
        pose_lm = _valid_landmarks(pose_result, 13) if pose_result is not None else np.zeros((0, 2))

        face_state, face_conf, face_size = self._face(face_result)
        pose_state, pose_conf, shoulder = self._pose(pose_result, pose_lm, aspect)

        # A newly seated presenter (after a spell with nobody) gets a fresh size baseline.
        nobody = not (face_state & FaceState.PRESENT) and not (pose_state & PoseState.PRESENT)
        if nobody:
            self._nobody_since = t if self._nobody_since is None else self._nobody_since
            if t - self._nobody_since >= self.settings.absent.min_on_s:
                self.face_baseline.reset()
                self.shoulder_baseline.reset()
        else:
            self._nobody_since = None

        lean_ratio = math.nan
        if face_state & FaceState.PRESENT and face_size > 0:
            lean_ratio = self.face_baseline.update(t, face_size)
            if self.face_baseline.close.state and math.isfinite(lean_ratio):
                face_state |= FaceState.CLOSE
        if pose_state & PoseState.PRESENT and shoulder > 0:
            # A pose repeated by the schedule is not a new measurement: it keeps the last verdict.
            fresh = not pose_state & PoseState.STALE
            shoulder_ratio = self.shoulder_baseline.update(t, shoulder) if fresh else self.shoulder_baseline.ratio
            if math.isfinite(shoulder_ratio) and self.shoulder_baseline.close.state:
                pose_state |= PoseState.LEANING_IN
            if not math.isfinite(lean_ratio):
                lean_ratio = shoulder_ratio
        if pose_state & PoseState.IN_SEAT and not pose_state & PoseState.LEANING_IN:
            pose_state |= PoseState.UPRIGHT

        mouth = self._mouth(t, face_result, pose_lm, aspect)
        hand_codes = self._hands(t, hands, mouth, aspect)
        if any(h.state & HandState.AT_MOUTH for h in hand_codes):
            face_state |= FaceState.MOUTH_COVERED
            if not face_state & FaceState.PRESENT and mouth is not None:
                face_state |= FaceState.REMEMBERED

        return BehaviourSet(
            t=t,
            frame_index=int(frame_index),
            face=PartCode(int(face_state), face_conf),
            hands=tuple(hand_codes),
            pose=PartCode(int(pose_state), pose_conf),
            lean_ratio=lean_ratio,
        )

    # -- parts ----------------------------------------------------------------------------------------------------

    def _face(self, face: PartResult | None) -> tuple[FaceState, float, float]:
        if face is None:
            return FaceState.ABSENT, 0.0, 0.0
        state = FaceState.PRESENT
        box = _valid_box(face)
        lm = _valid_landmarks(face, 3)
        if box is None and lm.shape[0]:
            box = (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max()))
        if box is not None and self.zones.seat.contains_point((box[0] + box[2]) / 2, (box[1] + box[3]) / 2):
            state |= FaceState.IN_SEAT
        size = _attr(face, "size")
        if not (math.isfinite(size) and size > 0) and box is not None:
            size = box[2] - box[0]
        yaw = _attr(face, "yaw_deg")
        if not math.isfinite(yaw) and box is not None and lm.shape[0] > FACE_NOSE_TIP:
            # Without a yaw estimate: the nose tip's offset from the box centre, as a fraction of the half-width.
            half = (box[2] - box[0]) / 2
            offset = (lm[FACE_NOSE_TIP, 0] - (box[0] + box[2]) / 2) / max(half, 1e-6)
            yaw = math.degrees(math.asin(max(-1.0, min(1.0, offset))))
        turned = self.settings.turned_away
        if turned.enabled and self._turned.update(abs(yaw - turned.yaw_offset_deg)):
            state |= FaceState.TURNED
        else:
            state |= FaceState.FRONTAL
        return state, float(face.confidence), float(size if math.isfinite(size) else 0.0)

    def _pose(self, pose: PartResult | None, lm: np.ndarray, aspect: float) -> tuple[PoseState, float, float]:
        if pose is None:
            return PoseState.ABSENT, 0.0, 0.0
        state = PoseState.PRESENT
        if _attr(pose, "reused") > 0:
            state |= PoseState.STALE
        shoulder = _attr(pose, "shoulder_width")
        if lm.shape[0] > POSE_SHOULDER_RIGHT:
            seat_points = lm[list(POSE_SEAT_POINTS)]
            in_frame = np.all((seat_points >= 0) & (seat_points <= 1), axis=1)
            raw = pose.landmarks
            if raw.ndim == 2 and raw.shape[1] >= 4 and raw.shape[0] == lm.shape[0]:
                # A fourth column is the landmark's visibility: an occluded shoulder is no evidence of a seat.
                in_frame &= np.nan_to_num(raw[list(POSE_SEAT_POINTS), 3], nan=0.0) >= 0.5
            if np.any(in_frame):
                share = self.zones.seat.fraction_inside(seat_points[in_frame])
                state |= PoseState.IN_SEAT if share >= self.settings.absent.seat_fraction else PoseState.OUT_OF_SEAT
            else:
                state |= PoseState.OUT_OF_SEAT
            if not (math.isfinite(shoulder) and shoulder > 0):
                d = (lm[POSE_SHOULDER_LEFT] - lm[POSE_SHOULDER_RIGHT]) * np.array([1.0, aspect])
                shoulder = float(np.hypot(*d))
            turned = self.settings.turned_away
            if turned.enabled and self._head_turned.update(abs(_pose_head_yaw(lm) - turned.yaw_offset_deg)):
                state |= PoseState.HEAD_TURNED
        else:
            cx, cy = _attr(pose, "shoulder_cx"), _attr(pose, "shoulder_cy")
            if math.isfinite(cx) and math.isfinite(cy):
                inside = self.zones.seat.contains_point(cx, cy)
                state |= PoseState.IN_SEAT if inside else PoseState.OUT_OF_SEAT
        return state, float(pose.confidence), float(shoulder if math.isfinite(shoulder) else 0.0)

    def _mouth(self, t: float, face: PartResult | None, pose_lm: np.ndarray, aspect: float) -> _Mouth | None:
        """Where the mouth is: from the face, else from the body pose, else the last face seen recently."""
        if face is not None:
            box = _valid_box(face)
            lm = _valid_landmarks(face, 3)
            mx, my = _attr(face, "mouth_x"), _attr(face, "mouth_y")
            if not (math.isfinite(mx) and math.isfinite(my)):
                if lm.shape[0] > FACE_LOWER_LIP_INNER:
                    mx, my = (lm[FACE_UPPER_LIP_INNER] + lm[FACE_LOWER_LIP_INNER]) / 2
                elif box is not None:
                    mx, my = (box[0] + box[2]) / 2, box[1] + 0.78 * (box[3] - box[1])
            width = (box[2] - box[0]) if box is not None else (np.ptp(lm[:, 0]) if lm.shape[0] else math.nan)
            if math.isfinite(mx) and math.isfinite(my) and math.isfinite(width) and width > 0:
                self._last_mouth = _Mouth(float(mx), float(my), float(width), t)
                return self._last_mouth
        memory = self.settings.hand_at_mouth.face_memory_s
        last = self._last_mouth if self._last_mouth and t - self._last_mouth.t <= memory else None
        if pose_lm.shape[0] > POSE_MOUTH_RIGHT:
            mouth_xy = (pose_lm[POSE_MOUTH_LEFT] + pose_lm[POSE_MOUTH_RIGHT]) / 2
            ears = (pose_lm[POSE_EAR_LEFT] - pose_lm[POSE_EAR_RIGHT]) * np.array([1.0, aspect])
            width = last.face_width if last else float(np.hypot(*ears))
            if np.all((mouth_xy >= 0) & (mouth_xy <= 1)) and width > 0:
                # The pose tracks the head when the face detector cannot see it; keep the face's own width if known.
                return _Mouth(float(mouth_xy[0]), float(mouth_xy[1]), width, t)
        return last

    def _hands(self, t: float, hands: list[PartResult], mouth: _Mouth | None, aspect: float) -> list[PartCode]:
        s = self.settings
        scale = np.array([1.0, aspect])
        previous = self._tracks
        tracks: list[_HandTrack] = []
        codes: list[PartCode] = []
        for hand in hands[:2]:
            lm = _valid_landmarks(hand, 1)
            if lm.shape[0] == 0:
                box = _valid_box(hand)
                if box is None:
                    continue
                lm = np.array([[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]])
            pts = lm * scale  # frame-width units
            if lm.shape[0] > HAND_MIDDLE_MCP:
                hand_len = 2.0 * float(np.hypot(*(pts[HAND_MIDDLE_MCP] - pts[HAND_WRIST])))
            else:
                hand_len = float(np.hypot(*(pts.max(axis=0) - pts.min(axis=0))))
            hand_len = max(hand_len, 1e-3)
            centre = pts.mean(axis=0)
            # A hand the vision scheduler did not re-measure on this frame repeats its last landmarks: it carries no
            # new motion, so speeds and approach histories advance on measured frames only (over the true interval).
            fresh = not _attr(hand, "reused") > 0
            track = self._match(previous, centre, hand_len)
            if track is None:
                track = _HandTrack(
                    centre=centre, landmarks=pts, t=t, energy=0.0, speeds=deque(maxlen=64),
                    moving=_Schmitt(s.typing.energy_on, s.typing.energy_off),
                    at_mic=_Schmitt(s.hand_at_mic.enter_fraction, s.hand_at_mic.exit_fraction),
                    at_mouth=_Schmitt(s.hand_at_mouth.radius, s.hand_at_mouth.exit_radius, high_is_on=False),
                    mic_history=deque(maxlen=self.HISTORY), mouth_history=deque(maxlen=self.HISTORY),
                )
            else:
                previous.remove(track)
                dt = t - track.t
                if fresh and dt > 0 and track.landmarks.shape == pts.shape:
                    # RMS landmark speed in hand lengths per second; the energy is its median over a sliding
                    # window: a one-frame tracker jump (re-detection, hands swapping) does not count as motion,
                    # and typing stops counting about half a window after the fingers do.
                    speed = np.sqrt(np.mean(np.sum((pts - track.landmarks) ** 2, axis=1))) / hand_len / dt
                    track.speeds.append((t, float(speed)))
                    while track.speeds and track.speeds[0][0] <= t - s.typing.smoothing_s:
                        track.speeds.popleft()
                    track.energy = float(np.median([v for _, v in track.speeds]))
            if fresh:
                track.centre, track.landmarks, track.t = centre, pts, t
            tracks.append(track)

            state = HandState.PRESENT
            if track.moving.update(track.energy):
                state |= HandState.MOVING
            zones = self.zones
            keyboard = zones.keyboard
            if keyboard is not None and s.typing.enabled and keyboard.fraction_inside(lm) >= s.typing.zone_fraction:
                state |= HandState.IN_KEYBOARD_ZONE
            if zones.microphone is not None and s.hand_at_mic.enabled:
                if track.at_mic.update(zones.microphone.fraction_inside(lm)):
                    state |= HandState.IN_MIC_ZONE
                elif s.hand_at_mic.predict:
                    # The part of a hand nearest a zone is a fingertip or the wrist: measure those only.
                    tips = lm[HAND_EXTREMES] if lm.shape[0] == 21 else lm
                    distance = float(zones.microphone.distance(tips, aspect).min()) / hand_len
                    if fresh:
                        track.mic_history.append((t, distance))
                    if self._approaching(track.mic_history, s.hand_at_mic):
                        state |= HandState.APPROACHING_MIC
                if state & HandState.IN_MIC_ZONE:
                    track.mic_history.clear()
            if mouth is not None and s.hand_at_mouth.enabled:
                # Covering the mouth = the mouth lies under the hand: distance from the mouth to the hand's outline
                # (0 inside it), in face widths. Fingertips merely near the chin stay well above the threshold.
                distance = point_to_hull_distance(lm, mouth.x, mouth.y, aspect) / mouth.face_width
                if track.at_mouth.update(distance):
                    state |= HandState.AT_MOUTH
                    track.mouth_history.clear()
                elif s.hand_at_mouth.predict:
                    if fresh:
                        track.mouth_history.append((t, distance))
                    if self._approaching(track.mouth_history, s.hand_at_mouth):
                        state |= HandState.RISING_TO_MOUTH
            codes.append(PartCode(int(state), float(hand.confidence)))
        self._tracks = tracks
        return codes

    @staticmethod
    def _match(previous: list[_HandTrack], centre: np.ndarray, hand_len: float) -> _HandTrack | None:
        """The previous frame's hand nearest to this one, if it is within two hand lengths."""
        best, best_d = None, 2.0 * hand_len
        for track in previous:
            d = float(np.hypot(*(track.centre - centre)))
            if d < best_d:
                best, best_d = track, d
        return best

    @staticmethod
    def _approaching(history: deque, rule) -> bool:
        """Closing fast enough to make contact within the horizon, from close enough (distances in body units).
        False without a measurement yet: a hand first seen as a repeated (``reused``) result has an empty history."""
        if not history:
            return False
        distance = history[-1][1]
        speed = _closing_speed(history)
        if not math.isfinite(speed) or speed < rule.predict_min_speed or distance > rule.predict_max_distance:
            return False
        return distance / speed <= rule.predict_horizon_s

"""Abnormal-behaviour recognition: streaming over behaviour sets, with minimum durations (temporal hysteresis) per
behaviour, producing tags that are emitted *open* when the behaviour starts and *closed* when it ends, so the mixer
can act early and release at the end.

A tag's ``start`` is the first frame that showed the behaviour (not the moment it was confirmed, ``min_on_s``
later); while open its ``end`` is the latest frame showing it; once closed its ``end`` is the time the behaviour was
last seen plus that frame's duration (the time of the next frame), i.e. the span the frames that show it cover.

Predictions: a hand approaching the mic zone or rising towards the mouth opens a tag with ``predicted=True`` before
contact. If contact follows, the real tag opens *with the same id* (so an owner applied for the prediction carries
on); if not, the predicted tag is closed with ``predicted=True``, which means "did not happen".
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from liverec_edge.behaviour.codes import BehaviourEncoder, BehaviourSet, FaceState, HandState, PoseState
from liverec_edge.behaviour.settings import PREDICTABLE, BehaviourSettings
from liverec_edge.behaviour.zones import Zones
from liverec_edge.types import BEHAVIOURS, PartResult, Tag


@dataclass(frozen=True, slots=True)
class BehaviourTag(Tag):
    """A :class:`Tag` that may be a prediction (behaviour expected within the prediction horizon, not yet seen)."""

    predicted: bool = False


#: A condition's verdict for one frame: confidence in [0, 1] and the parts that show it, or None when absent.
Verdict = tuple[float, tuple[str, ...]] | None


def _hand_at_mic(s: BehaviourSet) -> Verdict:
    if s.hand_state & HandState.IN_MIC_ZONE:
        return s.hand_confidence(HandState.IN_MIC_ZONE), ("hand",)
    return None


def _hand_at_mouth(s: BehaviourSet) -> Verdict:
    if s.hand_state & HandState.AT_MOUTH:
        return s.hand_confidence(HandState.AT_MOUTH), ("hand", "face")
    return None


def _typing(s: BehaviourSet) -> Verdict:
    typing = HandState.IN_KEYBOARD_ZONE | HandState.MOVING
    confs = [h.confidence for h in s.hands if (h.state & typing) == typing]
    return (max(confs), ("hand",)) if confs else None


def _lean_in(s: BehaviourSet) -> Verdict:
    face, pose = s.face_state, s.pose_state
    if face & FaceState.CLOSE:
        parts = ("face", "pose") if pose & PoseState.LEANING_IN else ("face",)
        return s.face.confidence, parts
    if pose & PoseState.LEANING_IN and not face & FaceState.PRESENT:
        # The face can be lost when very close; the shoulders still say it.
        return s.pose.confidence, ("pose",)
    return None


def _turned_away(s: BehaviourSet, face_lost_counts: bool) -> Verdict:
    face, pose = s.face_state, s.pose_state
    if face & FaceState.PRESENT and face & FaceState.TURNED and face & FaceState.IN_SEAT:
        return s.face.confidence, ("face",)
    if face & FaceState.PRESENT or not pose & PoseState.IN_SEAT:
        return None
    if s.hand_state & (HandState.AT_MOUTH | HandState.RISING_TO_MOUTH) or face & FaceState.MOUTH_COVERED:
        return None  # the face is hidden behind a hand, not turned
    if pose & PoseState.HEAD_TURNED:
        # The face detector lost a turned face; the body landmarks (nose against the ears) still see the turn.
        return 0.8 * s.pose.confidence, ("face", "pose")
    if face_lost_counts:
        # Someone is in the seat but no face is seen and the pose cannot tell: often a turned head. Less certain.
        return 0.5 * s.pose.confidence, ("face", "pose")
    return None


def _absent(s: BehaviourSet) -> Verdict:
    face_here = s.face_state & FaceState.PRESENT and s.face_state & FaceState.IN_SEAT
    # A pose repeated from an earlier frame (the pose model runs every Nth frame) is no evidence that someone is
    # still here; the next fresh pose settles it, and absence needs seconds of agreement anyway.
    pose_here = s.pose_state & PoseState.IN_SEAT and not s.pose_state & PoseState.STALE
    if not face_here and not pose_here:
        # Confidence: how sure we are nobody is there; detectors rarely miss both face and body.
        return 0.9, ("face", "pose")
    return None


def _predict_mic(s: BehaviourSet) -> Verdict:
    if s.hand_state & HandState.APPROACHING_MIC:
        return s.hand_confidence(HandState.APPROACHING_MIC), ("hand",)
    return None


def _predict_mouth(s: BehaviourSet) -> Verdict:
    if s.hand_state & HandState.RISING_TO_MOUTH:
        return s.hand_confidence(HandState.RISING_TO_MOUTH), ("hand", "face")
    return None


@dataclass(slots=True)
class _Track:
    """One behaviour's recognition state."""

    behaviour: str
    min_on_s: float
    min_off_s: float
    max_onset_gap_s: float
    max_frames: int
    predicted: bool = False
    onset_t: float | None = None
    last_true_t: float = math.nan
    off_since: float | None = None
    frames: list[int] = field(default_factory=list)
    stride: int = 1
    seen: int = 0
    conf_sum: float = 0.0
    parts: set[str] = field(default_factory=set)
    tag_id: str | None = None  # set once the tag is open

    @property
    def is_open(self) -> bool:
        return self.tag_id is not None

    def clear(self) -> None:
        self.onset_t, self.off_since, self.tag_id = None, None, None
        self.frames, self.stride, self.seen, self.conf_sum, self.parts = [], 1, 0, 0.0, set()
        self.last_true_t = math.nan

    def add(self, t: float, frame_index: int, conf: float, parts: tuple[str, ...]) -> None:
        if self.onset_t is None:
            self.onset_t = t
        self.last_true_t, self.off_since = t, None
        # Keep an evenly spaced image series of bounded length: beyond max_frames, drop every other frame and
        # keep one in ``stride`` from then on.
        if self.seen % self.stride == 0:
            self.frames.append(frame_index)
            if len(self.frames) > self.max_frames:
                self.frames = self.frames[::2]
                self.stride *= 2
        self.seen += 1
        self.conf_sum += max(0.0, min(1.0, conf))
        self.parts.update(parts)

    def tag(self, end: float, is_open: bool) -> BehaviourTag:
        assert self.tag_id is not None and self.onset_t is not None
        order = {"face": 0, "hand": 1, "pose": 2}
        return BehaviourTag(
            id=self.tag_id,
            behaviour=self.behaviour,
            parts=tuple(sorted(self.parts, key=lambda p: order.get(p, 9))),
            start=self.onset_t,
            end=max(end, self.onset_t),
            confidence=round(self.conf_sum / max(self.seen, 1), 4),
            frame_indices=tuple(self.frames),
            open=is_open,
            predicted=self.predicted,
        )


class Recogniser:
    """Streaming recognition over behaviour sets (one per frame, in time order).

    :meth:`push` returns the tags that opened or closed with this frame; :meth:`tick` closes everything when the
    camera stops delivering frames; :meth:`finish` closes everything at the end of a file.
    """

    def __init__(self, settings: BehaviourSettings, id_prefix: str = ""):
        self.settings = settings
        self.id_prefix = id_prefix
        self._next_id = 1
        self._last_t: float | None = None
        self._period = math.nan  # running estimate of the frame period
        turned = settings.turned_away.face_lost_counts
        self._conditions: dict[str, Callable[[BehaviourSet], Verdict]] = {
            "hand_at_mic": _hand_at_mic,
            "hand_at_mouth": _hand_at_mouth,
            "typing": _typing,
            "lean_in": _lean_in,
            "turned_away": lambda s: _turned_away(s, turned),
            "absent": _absent,
        }
        self._tracks: dict[str, _Track] = {}
        for name in BEHAVIOURS:
            timing = settings.timing(name)
            if timing.enabled:
                self._tracks[name] = _Track(
                    name, timing.min_on_s, timing.min_off_s, timing.max_onset_gap_s, settings.max_tag_frames
                )
        self._predictions: dict[str, _Track] = {}
        self._predict_conditions = {"hand_at_mic": _predict_mic, "hand_at_mouth": _predict_mouth}
        for name in PREDICTABLE:
            rule = getattr(settings, name)
            if rule.enabled and rule.predict:
                # A prediction stays open for its horizon after the approach was last seen, waiting for contact.
                self._predictions[name] = _Track(name, 0.0, rule.predict_horizon_s, 0.0, settings.max_tag_frames, True)

    # -- public -------------------------------------------------------------------------------------------------

    @property
    def frame_period(self) -> float:
        """The running estimate of the frame period (NaN before two frames)."""
        return self._period

    def push(self, s: BehaviourSet) -> list[BehaviourTag]:
        """Feed one frame's behaviour set; return the tags opened or closed by it."""
        out: list[BehaviourTag] = []
        if self._last_t is not None:
            dt = s.t - self._last_t
            if dt <= 0 or dt > self.settings.max_frame_gap_s:
                # Camera stalled (or the clock jumped): nothing is known about the gap, so close at the last frame.
                out += self._close_all(self._last_t)
            else:
                self._period = dt if math.isnan(self._period) else self._period + 0.1 * (dt - self._period)
        self._last_t = s.t

        for name, track in self._tracks.items():
            verdict = self._conditions[name](s)
            prediction = self._predictions.get(name)
            if prediction is not None and not track.is_open and track.onset_t is None:
                out += self._step(prediction, s, self._predict_conditions[name](s))
            out += self._step(track, s, verdict, prediction)
        return out

    def tick(self, now: float) -> list[BehaviourTag]:
        """Call periodically with the capture clock: if no frame has come for ``max_frame_gap_s``, close open tags at
        the last frame seen (a stopped camera must not leave a strategy applied)."""
        if self._last_t is not None and now - self._last_t > self.settings.max_frame_gap_s:
            return self._close_all(self._last_t)
        return []

    def finish(self, end_t: float | None = None) -> list[BehaviourTag]:
        """Close all open tags (end of a file). ``end_t`` caps their end at the end of the media."""
        if self._last_t is None:
            return []
        return self._close_all(self._last_t, end_t)

    def open_tags(self) -> list[BehaviourTag]:
        """Snapshot of the tags open now."""
        tracks = [*self._tracks.values(), *self._predictions.values()]
        return [t.tag(t.last_true_t, True) for t in tracks if t.is_open]

    # -- internals ------------------------------------------------------------------------------------------------

    def _new_id(self, behaviour: str) -> str:
        tag_id = f"{self.id_prefix}{behaviour}-{self._next_id:05d}"
        self._next_id += 1
        return tag_id

    def _frame_end(self, last_true_t: float) -> float:
        period = self._period if math.isfinite(self._period) else 0.0
        return last_true_t + period

    def _step(
        self, track: _Track, s: BehaviourSet, verdict: Verdict, prediction: _Track | None = None
    ) -> list[BehaviourTag]:
        out: list[BehaviourTag] = []
        if verdict is not None:
            track.add(s.t, s.frame_index, verdict[0], verdict[1])
            if not track.is_open and s.t - track.onset_t >= track.min_on_s - 1e-9:
                if prediction is not None and prediction.is_open:
                    # Contact after a prediction: the real tag takes over the prediction's id (and its owner).
                    track.tag_id = prediction.tag_id
                    prediction.clear()
                else:
                    track.tag_id = self._new_id(track.behaviour)
                out.append(track.tag(s.t, True))
            return out
        if track.onset_t is None:
            return out
        if track.off_since is None:
            track.off_since = s.t
        if not track.is_open:
            # Building up to min_on_s: bridge a missed detection or two, restart on anything longer.
            if s.t - track.off_since >= track.max_onset_gap_s - 1e-9:
                track.clear()
            return out
        if s.t - track.off_since >= track.min_off_s - 1e-9:
            if track.is_open:
                # Ended when the next frame after the last one showing it arrived.
                out.append(track.tag(track.off_since, False))
            track.clear()
        return out

    def _close_all(self, last_t: float, cap: float | None = None) -> list[BehaviourTag]:
        out: list[BehaviourTag] = []
        for track in [*self._predictions.values(), *self._tracks.values()]:
            if track.is_open:
                end = track.off_since if track.off_since is not None else self._frame_end(track.last_true_t)
                if cap is not None:
                    end = min(end, cap)
                out.append(track.tag(end, False))
            track.clear()
        return out


class BehaviourAnalyser:
    """Encoder + recogniser for one camera: part results in, tags out. Keeps the recent behaviour sets."""

    def __init__(self, settings: BehaviourSettings, id_prefix: str = "", history: int = 3000):
        self.settings = settings
        self.zones = Zones.from_settings(settings.zones)
        self.encoder = BehaviourEncoder(settings, self.zones)
        self.recogniser = Recogniser(settings, id_prefix)
        self.history: deque[BehaviourSet] = deque(maxlen=history)

    def push(
        self, t: float, frame_index: int, results: Sequence[PartResult], aspect: float = 0.75
    ) -> list[BehaviourTag]:
        """Encode one frame's part results and recognise; returns the tags opened or closed by this frame."""
        bset = self.encoder.encode(t, frame_index, results, aspect)
        self.history.append(bset)
        return self.recogniser.push(bset)

    def tick(self, now: float) -> list[BehaviourTag]:
        return self.recogniser.tick(now)

    def finish(self, end_t: float | None = None) -> list[BehaviourTag]:
        return self.recogniser.finish(end_t)


def closed_tags(events: Sequence[BehaviourTag], include_predicted: bool = False) -> list[BehaviourTag]:
    """The final (closed) version of each tag from a stream of open/close events, in start order."""
    final = [t for t in events if not t.open and (include_predicted or not t.predicted)]
    return sorted(final, key=lambda t: (t.start, t.behaviour))


def as_tag(tag: BehaviourTag) -> Tag:
    """The plain shared :class:`Tag` (drops ``predicted``) for consumers that compare types exactly."""
    fields = {f: getattr(tag, f) for f in Tag.__dataclass_fields__}
    return Tag(**fields)


__all__ = ["BehaviourAnalyser", "BehaviourTag", "Recogniser", "as_tag", "closed_tags"]

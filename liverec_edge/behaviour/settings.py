"""The ``behaviour`` section of the config file: zones, per-behaviour thresholds and timing, matching roll and the
pre-emptive strategy map.

Example::

    behaviour:
      zones:                       # normalised to the frame, x and y in [0, 1] from the top-left corner
        microphone: [[0.40, 0.55], [0.60, 0.55], [0.60, 0.80], [0.40, 0.80]]
        keyboard: "0.1,0.85,0.9,0.85,0.9,1.0,0.1,1.0"     # Frigate-style string works too
      lean_in: {ratio_on: 1.3}
      absent: {min_on_s: 5}
      preempt:
        hand_at_mic.predicted: {strategy: mic_handling, confirm_timeout_s: 1.5}
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from liverec_edge.settings_base import Section
from liverec_edge.types import BEHAVIOURS, FAULT_TYPES

#: Behaviours that have a predictive (before-contact) signal; their pre-emptive map key is ``<name>.predicted``.
PREDICTABLE: tuple[str, ...] = ("hand_at_mic", "hand_at_mouth")

Point = tuple[float, float]


def parse_polygon(value: Any) -> list[Point] | None:
    """Accept ``[[x, y], ...]``, ``[x, y, x, y, ...]`` or Frigate's ``"x,y,x,y,..."``; check it is a usable polygon."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.replace(" ", "").split(",") if v != ""]
        except ValueError:
            raise ValueError("polygon string must be comma-separated numbers like '0.1,0.2,0.5,0.2,0.5,0.6'") from None
    if not isinstance(value, list | tuple):
        raise ValueError("polygon must be a list of [x, y] points or a 'x,y,x,y,...' string")
    if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        if len(value) % 2:
            raise ValueError(f"polygon has an odd number of coordinates ({len(value)}): give x,y pairs")
        value = [(value[i], value[i + 1]) for i in range(0, len(value), 2)]
    points: list[Point] = []
    for i, p in enumerate(value):
        if not isinstance(p, list | tuple) or len(p) != 2:
            raise ValueError(f"point {i} must be [x, y], got {p!r}")
        try:
            x, y = float(p[0]), float(p[1])
        except (TypeError, ValueError):
            raise ValueError(f"point {i} must be two numbers, got {p!r}") from None
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"point {i} ({x}, {y}) is outside the frame: coordinates are normalised to [0, 1]")
        points.append((x, y))
    if len(points) < 3:
        raise ValueError(f"a zone polygon needs at least 3 points, got {len(points)}")
    # Zero area (all points on a line) would make the zone silently match nothing.
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    area2 = sum(xs[i] * ys[(i + 1) % len(xs)] - xs[(i + 1) % len(xs)] * ys[i] for i in range(len(xs)))
    if abs(area2) < 1e-9:
        raise ValueError("zone polygon has zero area (its points are on one line)")
    return points


class ZoneSettings(Section):
    """Studio zones as polygons normalised to the camera frame (calibrate once; check with ``liverec-edge zones``)."""

    microphone: list[Point] | None = None
    """Where the microphone (and its arm) is in the picture. Without it ``hand_at_mic`` cannot be recognised."""
    keyboard: list[Point] | None = None
    """The desk area with keyboard and mouse. Without it ``typing`` cannot be recognised."""
    seat: list[Point] | None = None
    """Where the presenter sits. Unset means the whole frame (anyone in the picture counts as present)."""

    @field_validator("microphone", "keyboard", "seat", mode="before")
    @classmethod
    def _polygon(cls, value: Any) -> list[Point] | None:
        return parse_polygon(value)


class Timing(Section):
    """Fields every behaviour shares: an enable switch and the temporal hysteresis."""

    enabled: bool = True
    """Recognise this behaviour at all."""
    min_on_s: float = Field(default=0.1, ge=0)
    """The behaviour must be seen this long before its tag opens (the tag's start is still the first frame)."""
    min_off_s: float = Field(default=0.3, ge=0)
    """The behaviour must be gone this long before its tag closes; shorter gaps (detector dropouts) are bridged."""
    max_onset_gap_s: float = Field(default=0.1, ge=0)
    """While the behaviour builds up to ``min_on_s``, a gap this short (a missed detection or two) does not restart
    it; a longer one does, so sparse flickers never add up to a tag."""


class HandAtMicSettings(Timing):
    enter_fraction: float = Field(default=0.2, gt=0, le=1)
    """Share of the hand's landmarks inside the microphone zone for the hand to count as at the mic."""
    exit_fraction: float = Field(default=0.05, ge=0, le=1)
    """The hand counts as still at the mic until its share inside drops below this (value hysteresis)."""
    predict: bool = True
    """Emit a predicted tag when a hand approaches the mic zone, before contact."""
    predict_horizon_s: float = Field(default=0.5, gt=0)
    """Predict contact when the hand, at its current closing speed, would reach the zone within this time."""
    predict_min_speed: float = Field(default=1.0, gt=0)
    """Minimum closing speed towards the zone, in hand lengths per second (so near and far presenters match)."""
    predict_max_distance: float = Field(default=3.0, gt=0)
    """Ignore hands further than this from the zone, in hand lengths."""

    @model_validator(mode="after")
    def _hysteresis(self) -> HandAtMicSettings:
        if self.exit_fraction > self.enter_fraction:
            raise ValueError("exit_fraction must not exceed enter_fraction")
        return self


class HandAtMouthSettings(Timing):
    min_on_s: float = Field(default=0.15, ge=0)
    """The hand must cover the mouth this long before the tag opens (fingers brushing the chin are shorter)."""
    radius: float = Field(default=0.2, gt=0)
    """The hand is at the mouth when the mouth centre is inside the hand's outline (convex hull of its landmarks) or
    within this distance of it, in face widths."""
    exit_radius: float = Field(default=0.3, gt=0)
    """Once at the mouth, the hand counts as still there until the mouth is this far from it (face widths)."""
    face_memory_s: float = Field(default=1.5, gt=0)
    """When the face is lost (a hand over the mouth often hides it), use the last face seen this recently."""
    predict: bool = True
    """Emit a predicted tag when a hand rises towards the mouth, before contact."""
    predict_horizon_s: float = Field(default=0.4, gt=0)
    """Predict contact when the hand would reach the mouth within this time at its current closing speed."""
    predict_min_speed: float = Field(default=1.5, gt=0)
    """Minimum closing speed towards the mouth, in face widths per second."""
    predict_max_distance: float = Field(default=2.5, gt=0)
    """Ignore hands further than this from the mouth, in face widths."""

    @model_validator(mode="after")
    def _hysteresis(self) -> HandAtMouthSettings:
        if self.exit_radius < self.radius:
            raise ValueError("exit_radius must be at least radius")
        return self


class TypingSettings(Timing):
    min_on_s: float = Field(default=0.3, ge=0)
    """Hands must be moving in the keyboard zone this long before the tag opens."""
    min_off_s: float = Field(default=0.6, ge=0)
    """Typing pauses shorter than this are bridged."""
    zone_fraction: float = Field(default=0.5, gt=0, le=1)
    """Share of a hand's landmarks inside the keyboard zone for it to count as at the keyboard."""
    energy_on: float = Field(default=1.0, gt=0)
    """Landmark motion energy (RMS landmark speed in hand lengths per second, median over ``smoothing_s``) above
    which the hand counts as moving. A resting hand's landmarks jitter at 0.2–0.7 (measured on the real clips)."""
    energy_off: float = Field(default=0.6, gt=0)
    """Motion energy below which typing stops (value hysteresis; must not exceed ``energy_on``)."""
    smoothing_s: float = Field(default=0.25, gt=0)
    """Length of the sliding window over which the median motion energy is taken."""

    @model_validator(mode="after")
    def _hysteresis(self) -> TypingSettings:
        if self.energy_off > self.energy_on:
            raise ValueError("energy_off must not exceed energy_on")
        return self


class LeanInSettings(Timing):
    min_on_s: float = Field(default=0.2, ge=0)
    """The presenter must be close this long before the tag opens."""
    ratio_on: float = Field(default=1.25, gt=1)
    """Face size (or shoulder width) over the presenter's own baseline above which they lean in."""
    ratio_off: float = Field(default=1.12, gt=1)
    """Ratio below which the lean is over (value hysteresis; must not exceed ``ratio_on``)."""
    warmup_s: float = Field(default=1.0, gt=0)
    """Seconds of a newly seen presenter used to set their baseline size (no lean_in decisions before)."""
    baseline_tau_s: float = Field(default=30.0, gt=0)
    """Time constant with which the baseline follows the presenter while they are not leaning in."""
    relax_tau_s: float = Field(default=120.0, gt=0)
    """Slower time constant while leaning in, so a chair moved closer for good becomes the new normal eventually."""

    @model_validator(mode="after")
    def _hysteresis(self) -> LeanInSettings:
        if self.ratio_off > self.ratio_on:
            raise ValueError("ratio_off must not exceed ratio_on")
        return self


class TurnedAwaySettings(Timing):
    min_on_s: float = Field(default=0.4, ge=0)
    """The face must be turned away this long before the tag opens."""
    yaw_on_deg: float = Field(default=40.0, gt=0, lt=90)
    """|yaw| beyond which the face is turned away from the camera/mic axis."""
    yaw_off_deg: float = Field(default=30.0, gt=0, lt=90)
    """|yaw| below which the face is back (value hysteresis; must not exceed ``yaw_on_deg``)."""
    yaw_offset_deg: float = Field(default=0.0, ge=-60, le=60)
    """The face's yaw (as the vision stage reports it) when the presenter faces the microphone. Set it when the
    camera sees the presenter from the side, so that their normal position does not count as turned away."""
    face_lost_counts: bool = False
    """Also count a lost face as turned away when the pose shows the presenter in the seat but cannot tell the head's
    yaw. Off by default: face detectors also lose frontal faces (poor light, low camera), and a lost face whose head
    the pose sees turned counts anyway."""

    @model_validator(mode="after")
    def _hysteresis(self) -> TurnedAwaySettings:
        if self.yaw_off_deg > self.yaw_on_deg:
            raise ValueError("yaw_off_deg must not exceed yaw_on_deg")
        return self


class AbsentSettings(Timing):
    min_on_s: float = Field(default=3.0, ge=0)
    """Seconds with no face and no body in the seat zone before the presenter counts as absent."""
    min_off_s: float = Field(default=0.5, ge=0)
    """Seconds the presenter must be back before the absent tag closes."""
    seat_fraction: float = Field(default=0.5, gt=0, le=1)
    """Share of the visible head and shoulder landmarks inside the seat zone for the body to count as seated."""


class PreemptRule(Section):
    """What to do early when a behaviour that predicts a fault is seen."""

    strategy: str
    """The fault type whose strategy (from the strategy table) to apply early, e.g. ``mic_handling``."""
    confirm_timeout_s: float = Field(default=1.0, gt=0)
    """Release the strategy if the audio analysis has not confirmed the fault within this time."""
    confirm_faults: tuple[str, ...] = ()
    """Fault types that confirm it; empty means just ``strategy``."""
    max_hold_s: float = Field(default=30.0, gt=0)
    """Safety cap: release even a confirmed strategy after this long if its tag has not closed."""

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in FAULT_TYPES or value == "clean":
            allowed = ", ".join(f for f in FAULT_TYPES if f != "clean")
            raise ValueError(f"unknown strategy {value!r}; the strategy table is keyed by fault type: {allowed}")
        return value

    @field_validator("confirm_faults")
    @classmethod
    def _known_faults(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for fault in value:
            if fault not in FAULT_TYPES:
                raise ValueError(f"unknown fault type {fault!r}; known: {', '.join(FAULT_TYPES)}")
        return value

    @property
    def confirming(self) -> tuple[str, ...]:
        return self.confirm_faults or (self.strategy,)


def preempt_keys() -> tuple[str, ...]:
    """Keys allowed in the ``preempt`` map: each behaviour, and ``<behaviour>.predicted`` for predictable ones."""
    return BEHAVIOURS + tuple(f"{b}.predicted" for b in PREDICTABLE)


def _default_preempt() -> dict[str, PreemptRule]:
    # Only strategies that are harmless when vision is wrong are pre-empted by default: a high-pass/expander for
    # mic handling, a high-pass for plosives when leaning in, an expander while typing. Muting for a cough when a
    # hand goes to the mouth is left to the audio analysis (people touch their faces all the time).
    return {
        "hand_at_mic.predicted": PreemptRule(strategy="mic_handling", confirm_timeout_s=1.0),
        "hand_at_mic": PreemptRule(strategy="mic_handling", confirm_timeout_s=1.0),
        "lean_in": PreemptRule(strategy="plosive", confirm_timeout_s=2.0),
        "typing": PreemptRule(strategy="keyboard", confirm_timeout_s=1.5),
    }


class BehaviourSettings(Section):
    """Settings of the behaviour stage: zones, when each behaviour counts, the audio window around a tag, and which
    behaviours trigger a strategy before the audio analysis has confirmed the fault."""

    zones: ZoneSettings = ZoneSettings()
    hand_at_mic: HandAtMicSettings = HandAtMicSettings()
    hand_at_mouth: HandAtMouthSettings = HandAtMouthSettings()
    typing: TypingSettings = TypingSettings()
    lean_in: LeanInSettings = LeanInSettings()
    turned_away: TurnedAwaySettings = TurnedAwaySettings()
    absent: AbsentSettings = AbsentSettings()
    min_part_confidence: float = Field(default=0.0, ge=0, le=1)
    """Detections below this confidence are treated as not detected. 0 trusts the vision stage's own score
    thresholds (``vision.face_min_score`` etc.); raise it to ignore weak detections here only."""
    max_frame_gap_s: float = Field(default=1.0, gt=0)
    """A gap between analysed frames longer than this (camera stall, detectors stuck) resets motion tracking and
    closes open tags at the last frame seen; nothing is inferred about the time without pictures. Keep it above the
    frame period of the slowest analysis rate you run (the vision stage drops frames when behind)."""
    pre_roll_s: float = Field(default=0.3, ge=0)
    """Audio before a tag's start included in its analysis window."""
    post_roll_s: float = Field(default=0.2, ge=0)
    """Audio after a tag's end included in its analysis window."""
    max_tag_frames: int = Field(default=240, ge=2)
    """At most this many frame indices are kept per tag (evenly thinned beyond), so long tags stay small."""
    preempt: dict[str, PreemptRule] = Field(default_factory=_default_preempt)
    """Behaviour (or ``<behaviour>.predicted``) → pre-emptive strategy; an empty map disables pre-emption."""

    @field_validator("preempt")
    @classmethod
    def _known_behaviours(cls, value: dict[str, PreemptRule]) -> dict[str, PreemptRule]:
        for key in value:
            if key not in preempt_keys():
                raise ValueError(f"unknown behaviour {key!r} in preempt; allowed: {', '.join(preempt_keys())}")
        return value

    def timing(self, behaviour: str) -> Timing:
        """The settings block of one behaviour (``KeyError`` for an unknown name)."""
        if behaviour not in BEHAVIOURS:
            raise KeyError(behaviour)
        return getattr(self, behaviour)

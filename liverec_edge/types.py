"""Plain data that crosses stage boundaries.

Every timestamp is in seconds on the daemon's one monotonic capture clock (see ``capture/clock.py``); offline runs
use seconds from the start of the file. Stages exchange only these types and numpy arrays, never each other's
objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

PartName = Literal["face", "hand", "pose"]
PART_NAMES: tuple[str, ...] = ("face", "hand", "pose")

#: Abnormal behaviours the behaviour stage can tag. Names are part of the public interface (config, OSC, JSON).
BEHAVIOURS: tuple[str, ...] = (
    "hand_at_mic",
    "hand_at_mouth",
    "typing",
    "lean_in",
    "turned_away",
    "absent",
)

#: Background-audio fault types the fault analysis can name. ``clean`` means no fault.
FAULT_TYPES: tuple[str, ...] = (
    "clean",
    "mic_handling",
    "keyboard",
    "hum",
    "plosive",
    "clipping",
    "cough",
    "feedback",
    "background_music",
    "hiss",
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured video frame: ``image`` is H×W×3 uint8 RGB, ``t`` its capture time."""

    t: float
    index: int
    image: np.ndarray


@dataclass(frozen=True, slots=True)
class AudioBlock:
    """Consecutive audio samples: ``samples`` is (n, channels) float32 in [-1, 1]; ``t0`` is the first sample's time."""

    t0: float
    samples: np.ndarray
    rate: int

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def t1(self) -> float:
        """Time just after the last sample."""
        return self.t0 + self.frames / self.rate


@dataclass(frozen=True, slots=True)
class PartResult:
    """One part detector's result for one frame (one instance: hands come as instance 0 and 1).

    Geometry is normalised to the frame: x and y in [0, 1] from the top-left corner. ``attrs`` holds the part's
    measurements (for example the face's ``yaw_deg``, ``mouth_open``; the pose's ``lean``), documented by the
    detector that fills them.
    """

    part: str
    t: float
    frame_index: int
    detected: bool
    confidence: float = 0.0
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
    landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    attrs: dict[str, float] = field(default_factory=dict)
    instance: int = 0


@dataclass(frozen=True, slots=True)
class Tag:
    """A time span of abnormal behaviour with the frames and parts that show it."""

    id: str
    behaviour: str
    parts: tuple[str, ...]
    start: float
    end: float
    confidence: float
    frame_indices: tuple[int, ...] = ()
    #: True while the behaviour is still going on (``end`` is the latest frame seen so far).
    open: bool = False


@dataclass(frozen=True, slots=True)
class AudioWindow:
    """The audio of a span (a tag's span plus pre/post roll): mono float32 ``samples`` starting at ``start``."""

    start: float
    end: float
    samples: np.ndarray
    rate: int
    tag: Tag | None = None


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A background-audio fault found in a window; ``freq`` is the measured frequency for hum and feedback."""

    type: str
    score: float
    start: float
    end: float
    freq: float | None = None


#: ``set`` jumps to the value; ``relative`` adds it to the engineer's value; ``ramp`` slews to it over ``ramp_ms``;
#: ``at_least`` / ``at_most`` move only if the engineer's value is below / above it (never undo their setting).
ActionMode = Literal["set", "relative", "ramp", "at_least", "at_most"]


@dataclass(frozen=True, slots=True)
class Action:
    """One console parameter change in engineering units (``param`` like ``ch01.hpf.freq``).

    ``hold_s`` None means held until released by its owner; ``restore`` False makes the change sticky.
    ``min_value``/``max_value`` bound the value the action produces; for a ``relative`` move that is the console's
    value plus ``value``, which only the mixer knows, so the mixer applies them.
    """

    param: str
    value: float | str
    mode: ActionMode = "set"
    ramp_ms: float = 0.0
    hold_s: float | None = None
    restore: bool = True
    owner: str = ""
    reason: str = ""
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True, slots=True)
class FrameParts:
    """All part results of one analysed frame, with the frame's size (geometry in the results is normalised)."""

    t: float
    frame_index: int
    width: int
    height: int
    parts: tuple[PartResult, ...]


@dataclass(frozen=True, slots=True)
class MixerCommand:
    """What the analysis asks of the mixer: ``apply`` the actions for ``owner``, or ``release`` everything it holds
    (restoring what is not sticky). ``release`` with owner ``*`` releases every owner (the tablet's release)."""

    kind: Literal["apply", "release"]
    owner: str
    actions: tuple[Action, ...] = ()
    reason: str = ""

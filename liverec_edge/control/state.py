"""The daemon's operator-facing state: armed, bypass, live threshold overrides and release requests.

The daemon owns one :class:`ControlState` and hands it to every stage through the context. The tablet server only
ever changes daemon state through it, never by reaching into stages; stages read it (``may_act``,
``threshold_for``) or react to its changes, which are also published on the bus topic ``control``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from liverec_edge.types import FAULT_TYPES

#: Fault types a threshold can be set for (``clean`` is the absence of a fault).
THRESHOLD_FAULT_TYPES: tuple[str, ...] = tuple(t for t in FAULT_TYPES if t != "clean")

ChangeKind = Literal["armed", "bypass", "threshold", "release"]


@dataclass(frozen=True, slots=True)
class ControlChange:
    """One operator decision, as published on the bus topic ``control``."""

    kind: ChangeKind
    value: bool | float | None = None
    #: The fault type of a threshold change.
    fault: str | None = None
    #: Who asked: ``"osc 192.168.1.50:9000"``, ``"config"``.
    source: str = ""


@dataclass(frozen=True)
class DaemonStatus:
    """What the tablet and STATUS= show; the daemon assembles it from the stages' health."""

    armed: bool
    bypass: bool
    fps: float = 0.0
    #: Frames captured since start (capture's counter): keeps growing across reloads, resets on a capture restart.
    frames: int = 0
    audio_rate: int = 0
    #: Capture data lost (camera frames skipped, audio overruns), as the stages report it.
    drops: int = 0
    #: Items analysis skipped because it was behind (bounded bus queues dropping their oldest): by design, not loss.
    skipped: int = 0
    desk: str = "none"
    tags: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()
    #: "ok", or what is wrong ("stalled: capture", "disabled: vision").
    health: str = "starting"
    thresholds: Mapping[str, float] = field(default_factory=dict)


class ControlState:
    """Armed/bypass/threshold state. Not thread-safe: use it from the event loop only."""

    def __init__(self, *, armed: bool, on_change: Callable[[ControlChange], None] | None = None):
        self._armed = armed
        self._bypass = False
        self._thresholds: dict[str, float] = {}
        self._on_change = on_change
        #: Incremented by every release request, so a stage that polls can tell a new request from an old one.
        self.release_generation = 0

    @property
    def armed(self) -> bool:
        """The daemon may change the desk (the operator has not disarmed it)."""
        return self._armed

    @property
    def bypass(self) -> bool:
        """Analysis keeps running but nothing is sent to the desk."""
        return self._bypass

    @property
    def may_act(self) -> bool:
        """Whether the mixer stage may send new changes to the desk right now."""
        return self._armed and not self._bypass

    @property
    def thresholds(self) -> Mapping[str, float]:
        """Live threshold overrides from the tablet, by fault type (the config's values apply to the rest)."""
        return dict(self._thresholds)

    def threshold_for(self, fault: str, default: float) -> float:
        return self._thresholds.get(fault, default)

    def set_armed(self, armed: bool, source: str = "") -> ControlChange:
        self._armed = bool(armed)
        return self._emit(ControlChange("armed", self._armed, source=source))

    def set_bypass(self, bypass: bool, source: str = "") -> ControlChange:
        self._bypass = bool(bypass)
        return self._emit(ControlChange("bypass", self._bypass, source=source))

    def set_threshold(self, fault: str, value: float | None, source: str = "") -> ControlChange:
        """Override one fault type's detection threshold (in (0, 1)); ``None`` returns it to the config's value.

        Raises ValueError for an unknown fault type or a value outside (0, 1), leaving the state unchanged.
        """
        if fault not in THRESHOLD_FAULT_TYPES:
            raise ValueError(f"unknown fault type {fault!r} (one of {', '.join(THRESHOLD_FAULT_TYPES)})")
        if value is None:
            self._thresholds.pop(fault, None)
        else:
            value = float(value)
            if not math.isfinite(value) or not 0.0 < value < 1.0:
                raise ValueError(f"threshold for {fault} must be between 0 and 1 exclusive (got {value})")
            self._thresholds[fault] = value
        return self._emit(ControlChange("threshold", value, fault=fault, source=source))

    def request_release(self, source: str = "") -> ControlChange:
        """Ask the mixer stage to undo every desk change the daemon owns."""
        self.release_generation += 1
        return self._emit(ControlChange("release", None, source=source))

    def _emit(self, change: ControlChange) -> ControlChange:
        if self._on_change is not None:
            self._on_change(change)
        return change

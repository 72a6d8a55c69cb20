"""The two small protocols every capture source implements, and what they share.

A source only produces timed data; the runner owns threads, rings, counters and recovery. Like picamera2's split of
encoders and outputs, a source knows nothing of where its frames go.

Public API::

    class CameraSource(Protocol):
        name: str
        dropped: int                                  # frames the source itself skipped (fell behind)
        def open(self, ctx: SourceContext) -> None
        def read(self) -> tuple[float, np.ndarray] | None   # (capture time, H×W×3 uint8 RGB); None = ended
        def close(self) -> None

    class AudioSource(Protocol):
        name: str; rate: int; channels: int
        overruns: int                                 # device overruns (samples lost) seen so far
        def open(self, ctx: SourceContext) -> None
        def read(self) -> AudioRead | None           # one block (about period_frames); None = ended
        def close(self) -> None

    SourceContext(clock, t_origin, stop)              # given to open(); see below
    AudioRead(samples, t0=None, arrived_at=None, discontinuity=False)
    SourceError                                       # a source that cannot open or read: names what failed

``read`` blocks for at most about one frame or one period, so a stop request is seen within that.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from liverec_edge.capture.clock import CaptureClock


class SourceError(Exception):
    """A capture source that cannot be opened or read (device missing, file unreadable, driver error)."""


@dataclass(frozen=True)
class SourceContext:
    """What a source gets when it opens.

    ``t_origin`` is the capture-clock time that media time 0 of file, synthetic and scene sources maps to; the
    runner gives the same origin to the camera and the audio source, so their media times line up on the clock.
    ``stop`` is set when the runner stops; paced sources wait on it instead of sleeping.
    """

    clock: CaptureClock
    t_origin: float
    stop: threading.Event = field(default_factory=threading.Event)

    def wait_until(self, t: float) -> bool:
        """Sleep until capture time ``t``; False if a stop was requested first."""
        while True:
            remaining = t - self.clock.now()
            if remaining <= 0:
                return not self.stop.is_set()
            if self.stop.wait(remaining):
                return False


@dataclass(frozen=True, slots=True)
class AudioRead:
    """One block from an audio source.

    ``samples`` is (n, channels) float32 in [-1, 1]. Sources that know the exact time of their samples (files,
    synthetic) give ``t0``; hardware gives ``arrived_at``, the capture-clock time the read returned, and the runner
    turns that into sample-counted timestamps (``AudioTimestamper``). ``discontinuity`` says samples were lost just
    before this block (an overrun).
    """

    samples: np.ndarray
    t0: float | None = None
    arrived_at: float | None = None
    discontinuity: bool = False


@runtime_checkable
class CameraSource(Protocol):
    name: str
    dropped: int

    def open(self, ctx: SourceContext) -> None: ...

    def read(self) -> tuple[float, np.ndarray] | None: ...

    def close(self) -> None: ...


@runtime_checkable
class AudioSource(Protocol):
    name: str
    rate: int
    channels: int
    overruns: int

    def open(self, ctx: SourceContext) -> None: ...

    def read(self) -> AudioRead | None: ...

    def close(self) -> None: ...

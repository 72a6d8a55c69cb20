"""The one capture clock, and the timestamping of audio blocks on it.

Every frame and every audio sample carries a capture time in seconds on one monotonic clock, so that a span of
video and the audio of the same span can be cut out of the rings by time alone.

Public API::

    clock = CaptureClock()                    # seconds of time.monotonic_ns(): shared with the kernel's
                                              # CLOCK_MONOTONIC (V4L2 buffer stamps, asyncio's loop.time())
    clock = CaptureClock.starting_now()       # 0.0 now: offline file runs and tests
    clock.now() -> float
    clock.from_monotonic_ns(ns) -> float      # a driver's CLOCK_MONOTONIC stamp on this clock

    stamper = AudioTimestamper(rate=48000)
    t0 = stamper.stamp(frames, arrived_at, discontinuity=False)   # capture time of a block's first sample
    stamper.reanchors, stamper.anchors

A/V offset: ``CaptureSettings.av_offset_ms`` is added to audio timestamps by the runner, not here, so that a clock
is just a clock.
"""

from __future__ import annotations

import time


class CaptureClock:
    """Monotonic seconds from ``origin_ns`` (0 = the raw ``time.monotonic_ns`` epoch, the default).

    The default origin keeps the clock identical to ``time.monotonic()`` and to asyncio's ``loop.time()`` on Linux,
    so the daemon can compare capture times with its own timers directly.
    """

    __slots__ = ("origin_ns",)

    def __init__(self, origin_ns: int = 0):
        self.origin_ns = int(origin_ns)

    @classmethod
    def starting_now(cls) -> CaptureClock:
        """A clock reading 0.0 now (offline file runs and tests)."""
        return cls(time.monotonic_ns())

    def now(self) -> float:
        return (time.monotonic_ns() - self.origin_ns) * 1e-9

    def from_monotonic_ns(self, monotonic_ns: int) -> float:
        """A CLOCK_MONOTONIC stamp given by a driver (V4L2 buffer, libcamera sensor time) on this clock."""
        return (int(monotonic_ns) - self.origin_ns) * 1e-9

    def __repr__(self) -> str:
        return f"CaptureClock(origin_ns={self.origin_ns})"


class AudioTimestamper:
    """Capture times of audio blocks from a device clock, counted in samples and anchored to the capture clock.

    A sound card delivers a block when its last sample is in; the time the read returns (``arrived_at``) is that
    moment plus a scheduling delay that is never negative and varies from block to block. Stamping every block
    with ``arrived_at - frames/rate`` would carry that jitter into every timestamp, so instead block *k* is stamped
    ``anchor + samples_before_k / rate``: timestamps advance at exactly the sample rate, sample-accurate within
    the stream.

    The anchor is corrected once per ``window_s`` by the smallest error seen in that window (the block that was
    least delayed), when that error exceeds ``tolerance_s``. That removes a late first anchor (start-up delay)
    and follows the slow drift between the card's crystal and the monotonic clock (±100 ppm is 0.36 s an hour),
    while jitter that is only ever positive does not move it. After a discontinuity (an overrun lost samples)
    the stream is re-anchored from the block's own arrival. Both are counted: ``anchors`` (discontinuities,
    including the first block) and ``reanchors`` (drift and start-up corrections).
    """

    def __init__(self, rate: int, tolerance_s: float = 0.002, window_s: float = 1.0):
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        self.rate = int(rate)
        self.tolerance_s = float(tolerance_s)
        self.window_s = float(window_s)
        self.anchors = 0
        self.reanchors = 0
        self._anchor_t: float | None = None
        self._samples = 0  # samples since the anchor
        self._window_min = float("inf")
        self._window_start_samples = 0

    def stamp(self, frames: int, arrived_at: float, discontinuity: bool = False) -> float:
        """Capture time of the first of ``frames`` samples that arrived (were fully read) at ``arrived_at``."""
        measured = arrived_at - frames / self.rate
        if self._anchor_t is None or discontinuity:
            self._anchor_t = measured
            self._samples = 0
            self._window_min = float("inf")
            self._window_start_samples = 0
            self.anchors += 1
        else:
            predicted = self._anchor_t + self._samples / self.rate
            self._window_min = min(self._window_min, measured - predicted)
            if (self._samples - self._window_start_samples) >= self.window_s * self.rate:
                if abs(self._window_min) > self.tolerance_s:
                    self._anchor_t += self._window_min
                    self.reanchors += 1
                self._window_min = float("inf")
                self._window_start_samples = self._samples
        t0 = self._anchor_t + self._samples / self.rate
        self._samples += frames
        return t0

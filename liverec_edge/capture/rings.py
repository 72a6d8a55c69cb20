"""Time-indexed ring buffers of captured video frames and audio samples, bounded in memory.

Producers are capture threads, consumers are asyncio tasks (or other threads): every method takes a short lock
and copies out what it returns, so a consumer never sees a half-written block and never holds the lock.

Public API::

    video = VideoRing(max_seconds=3.0, max_bytes=64 * 2**20)
    video.put(t, image) -> Frame | None     # None: refused (time not after the newest frame)
    video.slice(t0, t1) -> list[Frame]      # exactly the frames with t0 <= t < t1, oldest first
    video.latest() -> Frame | None
    video.span() -> (oldest_t, newest_t) | None
    video.stats() -> VideoRingStats        # frames, bytes, put, evicted, refused

    audio = AudioRing(rate=48000, channels=1, seconds=30.0)
    audio.write(samples, t0=None, discontinuity=False)   # (n, channels) or (n,) float32; t0 None continues
    audio.slice(t0, t1) -> AudioBlock       # exactly the samples with t0 <= t < t1 still in the ring
    audio.read_from(t) -> AudioBlock        # from t to the newest sample
    block, cursor = audio.read_since(cursor)   # streaming consumer: every sample once (cursor None at first)
    audio.latest(seconds) -> AudioBlock
    audio.span() -> (oldest_t, end_t) | None   # end_t is just after the newest sample
    audio.stats() -> AudioRingStats        # samples, written, gaps, gap_samples, reanchors

Frames in the ring are read-only numpy arrays (a consumer that wants to draw on one copies it).
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass

import numpy as np

from liverec_edge.types import AudioBlock, Frame


@dataclass(frozen=True, slots=True)
class VideoRingStats:
    frames: int
    bytes: int
    put: int
    evicted: int
    refused: int


class VideoRing:
    """The newest frames, bounded by age (``max_seconds`` behind the newest frame) and by total image bytes."""

    def __init__(self, max_seconds: float, max_bytes: int):
        if not max_seconds > 0:
            raise ValueError(f"video ring max_seconds must be positive, got {max_seconds}")
        if not max_bytes > 0:
            raise ValueError(f"video ring max_bytes must be positive, got {max_bytes}")
        self.max_seconds = float(max_seconds)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._frames: list[Frame] = []
        self._times: list[float] = []  # parallel to _frames, for bisect
        self._bytes = 0
        self._next_index = 0
        self._put = 0
        self._evicted = 0
        self._refused = 0

    def put(self, t: float, image: np.ndarray, index: int | None = None) -> Frame | None:
        """Store a frame captured at ``t``; returns it, or None when ``t`` is not after the newest frame's time.

        ``index`` defaults to a running count of frames stored. The image is kept (not copied) and made read-only.
        """
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"a frame must be H×W×3 uint8 RGB, got {image.shape} {image.dtype}")
        if not math.isfinite(t):
            raise ValueError(f"frame time must be finite, got {t}")
        image.flags.writeable = False
        with self._lock:
            if self._times and t <= self._times[-1]:
                self._refused += 1
                return None
            frame = Frame(t=float(t), index=self._next_index if index is None else int(index), image=image)
            self._next_index = frame.index + 1
            self._frames.append(frame)
            self._times.append(frame.t)
            self._bytes += image.nbytes
            self._put += 1
            self._evict_locked()
            return frame

    def _evict_locked(self) -> None:
        oldest_kept = self._times[-1] - self.max_seconds
        drop = bisect.bisect_left(self._times, oldest_kept)
        nbytes = self._bytes - sum(f.image.nbytes for f in self._frames[:drop])
        # Never evict the newest frame, even if it alone is larger than max_bytes.
        while nbytes > self.max_bytes and drop < len(self._frames) - 1:
            nbytes -= self._frames[drop].image.nbytes
            drop += 1
        if drop:
            del self._frames[:drop]
            del self._times[:drop]
            self._bytes = nbytes
            self._evicted += drop

    def slice(self, t0: float, t1: float) -> list[Frame]:
        """The frames with ``t0 <= t < t1`` still in the ring, oldest first."""
        with self._lock:
            i0 = bisect.bisect_left(self._times, t0)
            i1 = bisect.bisect_left(self._times, t1)
            return self._frames[i0:i1]

    def latest(self) -> Frame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def span(self) -> tuple[float, float] | None:
        """(oldest, newest) frame time, or None while empty."""
        with self._lock:
            return (self._times[0], self._times[-1]) if self._times else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def stats(self) -> VideoRingStats:
        with self._lock:
            return VideoRingStats(len(self._frames), self._bytes, self._put, self._evicted, self._refused)


@dataclass(frozen=True, slots=True)
class AudioRingStats:
    samples: int  # held now
    written: int  # since creation, including zero-filled gaps
    gaps: int
    gap_samples: int
    reanchors: int


class AudioRing:
    """The newest ``seconds`` of audio in a preallocated (capacity, channels) float32 buffer.

    Sample *i* of the stream (counted from the first write, gaps included) was captured at
    ``t_base + i / rate``. A write with a ``t0`` that does not continue the stream moves that mapping:

    - later by more than ``gap_threshold_s``: samples were lost (overrun, a stalled source); the gap is filled with
      silence so the mapping stays valid for the samples already stored (counted in ``gaps``/``gap_samples``);
    - otherwise, off by more than half a sample: the timestamper corrected its anchor (start-up delay, drift); the
      mapping is re-anchored, which moves the stored samples' times by that (small) correction (``reanchors``).
    """

    def __init__(self, rate: int, channels: int, seconds: float, gap_threshold_s: float = 0.02):
        if rate <= 0 or channels <= 0 or not seconds > 0:
            raise ValueError(f"audio ring needs positive rate, channels and seconds, got {rate}, {channels}, {seconds}")
        self.rate = int(rate)
        self.channels = int(channels)
        self.capacity = max(1, round(seconds * rate))
        self.gap_threshold_s = float(gap_threshold_s)
        self._buf = np.zeros((self.capacity, self.channels), np.float32)
        self._lock = threading.Lock()
        self._written = 0  # samples written since creation (absolute index of the next sample)
        self._t_base: float | None = None  # capture time of absolute sample 0
        self._gaps = 0
        self._gap_samples = 0
        self._reanchors = 0

    # -- writing (producer thread) -------------------------------------------------------------------------------
    def write(self, samples: np.ndarray, t0: float | None = None, discontinuity: bool = False) -> None:
        """Append samples captured from ``t0`` on (None: straight after the previous write).

        ``discontinuity`` says samples were lost before these (an overrun): any forward jump is then a gap to fill
        with silence, however short, rather than a timing correction.
        """
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[1] != self.channels:
            raise ValueError(f"audio ring holds {self.channels} channel(s); got samples of shape {samples.shape}")
        if t0 is not None and not math.isfinite(t0):
            raise ValueError(f"audio block time must be finite, got {t0}")
        with self._lock:
            if self._t_base is None:
                self._t_base = float(t0) if t0 is not None else 0.0
            elif t0 is not None:
                expected = self._t_base + self._written / self.rate
                error = float(t0) - expected
                if error > self.gap_threshold_s or (discontinuity and error * self.rate > 0.5):
                    missing = round(error * self.rate)
                    self._fill_locked(None, missing)
                    self._gaps += 1
                    self._gap_samples += missing
                    # whatever remains under half a sample re-anchors below
                    expected = self._t_base + self._written / self.rate
                    error = float(t0) - expected
                if abs(error) * self.rate > 0.5:
                    self._t_base += error
                    self._reanchors += 1
            self._fill_locked(data, data.shape[0])

    def _fill_locked(self, data: np.ndarray | None, n: int) -> None:
        """Write ``n`` samples of ``data`` (None: silence) at the write position, keeping only the last capacity."""
        if n <= 0:
            return
        skip = max(0, n - self.capacity)  # only the newest `capacity` samples can be kept
        self._written += skip
        n -= skip
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        if data is None:
            self._buf[start : start + first] = 0
            self._buf[: n - first] = 0
        else:
            src = data[skip:]
            self._buf[start : start + first] = src[:first]
            self._buf[: n - first] = src[first:n]
        self._written += n

    # -- reading (any thread) ------------------------------------------------------------------------------------
    def _index_locked(self, t: float) -> int:
        assert self._t_base is not None
        return round((t - self._t_base) * self.rate)

    def _copy_locked(self, i0: int, i1: int) -> np.ndarray:
        n = i1 - i0
        out = np.empty((max(n, 0), self.channels), np.float32)
        if n <= 0:
            return out
        start = i0 % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._buf[start : start + first]
        out[first:] = self._buf[: n - first]
        return out

    def _block_locked(self, i0: int, i1: int) -> AudioBlock:
        oldest = max(0, self._written - self.capacity)
        i0 = min(max(i0, oldest), self._written)
        i1 = min(max(i1, i0), self._written)
        assert self._t_base is not None
        return AudioBlock(t0=self._t_base + i0 / self.rate, samples=self._copy_locked(i0, i1), rate=self.rate)

    def slice(self, t0: float, t1: float) -> AudioBlock:
        """The samples of ``[t0, t1)`` (sample index ``round((t - t_base) * rate)``), clipped to what the ring holds.

        The block's ``t0`` is the time of its first sample; it is empty (zero frames) when nothing of the span is
        held, or while the ring is empty.
        """
        with self._lock:
            if self._t_base is None:
                return AudioBlock(t0=t0, samples=np.zeros((0, self.channels), np.float32), rate=self.rate)
            return self._block_locked(self._index_locked(t0), self._index_locked(t1))

    def read_from(self, t: float) -> AudioBlock:
        """From ``t`` (clipped to the oldest sample held) to the newest sample."""
        with self._lock:
            if self._t_base is None:
                return AudioBlock(t0=t, samples=np.zeros((0, self.channels), np.float32), rate=self.rate)
            return self._block_locked(self._index_locked(t), self._written)

    def read_since(self, cursor: int | None) -> tuple[AudioBlock, int]:
        """Stream reading by sample count: the samples from ``cursor`` (a count returned by the previous call;
        None: the oldest held) to the newest, and the cursor for the next call.

        Unlike reading by time, this never skips or repeats a sample when the ring re-anchors its times. Samples
        that left the ring before they were read are skipped (the block then starts later than the cursor).
        """
        with self._lock:
            if self._t_base is None:
                return AudioBlock(t0=0.0, samples=np.zeros((0, self.channels), np.float32), rate=self.rate), 0
            start = max(0, self._written - self.capacity) if cursor is None else cursor
            return self._block_locked(start, self._written), self._written

    def latest(self, seconds: float) -> AudioBlock:
        """The newest ``seconds`` of audio (less while the ring holds less)."""
        with self._lock:
            if self._t_base is None:
                return AudioBlock(t0=0.0, samples=np.zeros((0, self.channels), np.float32), rate=self.rate)
            n = round(seconds * self.rate)
            return self._block_locked(self._written - n, self._written)

    def span(self) -> tuple[float, float] | None:
        """(time of the oldest sample held, time just after the newest), or None while empty."""
        with self._lock:
            if self._t_base is None or self._written == 0:
                return None
            oldest = max(0, self._written - self.capacity)
            return self._t_base + oldest / self.rate, self._t_base + self._written / self.rate

    def stats(self) -> AudioRingStats:
        with self._lock:
            return AudioRingStats(
                samples=min(self._written, self.capacity),
                written=self._written,
                gaps=self._gaps,
                gap_samples=self._gap_samples,
                reanchors=self._reanchors,
            )

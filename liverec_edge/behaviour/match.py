"""Matching: a tag selects its frames and the audio of the same span (plus pre/post roll) from the ring buffers.

Written against two tiny protocols that the capture stage's ``VideoRing`` and ``AudioRing`` satisfy, so tests and
offline tools can hand in anything with the same ``slice`` method.

Sample accuracy: sample *i* of a block covers ``[t0 + i/rate, t0 + (i+1)/rate)``. The window holds exactly the samples
whose interval meets the requested span, so ``window.start <= span start < window.start + 1/rate`` and
``window.end - 1/rate < span end <= window.end``: the audio covers the span, and no more than one sample either side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from liverec_edge.types import AudioBlock, AudioWindow, Frame, Tag

#: Tolerance, in samples, for float rounding of times that sit on a sample boundary.
_EPS_SAMPLES = 1e-6
_MARGIN_S = 0.005


class FrameSource(Protocol):
    def slice(self, t0: float, t1: float) -> list[Frame]:
        """Frames with ``t0 <= t < t1``, oldest first."""
        ...


class AudioSource(Protocol):
    def slice(self, t0: float, t1: float) -> AudioBlock:
        """The samples of ``[t0, t1)`` that are held (possibly fewer, when the span is not, or no longer, held)."""
        ...


class MatchError(ValueError):
    """A tag or span that cannot be matched (non-finite times, end before start)."""


@dataclass(frozen=True, slots=True)
class MatchedTag:
    """A tag with its analysis audio window and the frames (the image series) of its span."""

    tag: Tag
    window: AudioWindow
    frames: list[Frame]
    complete: bool
    """True when the audio covers the whole requested span (False: part was not yet captured, or already evicted)."""


def to_mono(samples: np.ndarray, channel: int | None = None) -> np.ndarray:
    """(n,) or (n, channels) → (n,) float32: one ``channel``, or the mean of all channels when None."""
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        return data
    if data.ndim != 2:
        raise MatchError(f"audio samples must be (n,) or (n, channels), got shape {data.shape}")
    if channel is not None:
        if not 0 <= channel < data.shape[1]:
            raise MatchError(f"audio channel {channel} does not exist (block has {data.shape[1]})")
        return np.ascontiguousarray(data[:, channel])
    return data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else np.ascontiguousarray(data[:, 0])


def audio_window(
    audio: AudioSource, t0: float, t1: float, tag: Tag | None = None, channel: int | None = None
) -> tuple[AudioWindow, bool]:
    """The mono audio covering ``[t0, t1)`` sample-accurately, and whether all of it was available."""
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise MatchError(f"span times must be finite, got {t0}, {t1}")
    if t1 < t0:
        raise MatchError(f"span ends before it starts: {t0} .. {t1}")
    # Ask for a little more than the span (rings may round sample indices either way) and trim here; the margin is
    # at least two samples at any rate above 400 Hz.
    block = audio.slice(t0 - _MARGIN_S, t1 + _MARGIN_S)
    rate = int(block.rate)
    if rate <= 0:
        raise MatchError(f"audio source reports a non-positive sample rate {rate}")
    samples = to_mono(block.samples, channel)
    n = samples.shape[0]
    first = math.floor((t0 - block.t0) * rate + _EPS_SAMPLES)  # the sample containing t0
    last = math.ceil((t1 - block.t0) * rate - _EPS_SAMPLES)  # one past the sample containing t1's instant before
    if last <= first:
        last = first + 1  # an instant (a one-frame tag just opened) is covered by the sample containing it
    i0, i1 = max(0, first), min(n, max(last, first))
    i1 = max(i1, i0)
    complete = first >= 0 and last <= n
    window = AudioWindow(
        start=block.t0 + i0 / rate,
        end=block.t0 + i1 / rate,
        samples=np.ascontiguousarray(samples[i0:i1], dtype=np.float32),
        rate=rate,
        tag=tag,
    )
    return window, complete


def match_tag(
    tag: Tag,
    video: FrameSource | None,
    audio: AudioSource,
    pre_roll_s: float = 0.0,
    post_roll_s: float = 0.0,
    channel: int | None = None,
) -> MatchedTag:
    """The tag's frames (its span, from ``video``) and the audio of its span plus pre/post roll (from ``audio``).

    The frames are those with ``tag.start <= t <= tag.end`` (an open tag's ``end`` is its latest frame); the audio
    covers ``[tag.start - pre_roll_s, tag.end + post_roll_s)``.
    """
    if pre_roll_s < 0 or post_roll_s < 0:
        raise MatchError(f"pre/post roll must not be negative, got {pre_roll_s}, {post_roll_s}")
    if not (math.isfinite(tag.start) and math.isfinite(tag.end)) or tag.end < tag.start:
        raise MatchError(f"tag {tag.id} has an unusable span {tag.start} .. {tag.end}")
    window, complete = audio_window(audio, tag.start - pre_roll_s, tag.end + post_roll_s, tag, channel)
    frames: list[Frame] = []
    if video is not None:
        # Include a frame stamped exactly at the end (an open tag's end is its latest frame's time).
        frames = video.slice(tag.start, math.nextafter(tag.end, math.inf))
    return MatchedTag(tag=tag, window=window, frames=frames, complete=complete)

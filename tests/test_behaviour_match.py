"""Matching a tag to its frames and audio: the window covers the tag span (plus roll) sample-accurately, from tiny
fake rings and from the capture stage's real rings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liverec_edge.behaviour.match import MatchError, audio_window, match_tag, to_mono
from liverec_edge.capture.rings import AudioRing, VideoRing
from liverec_edge.media import decode_audio
from liverec_edge.types import AudioBlock, Frame, Tag

RATE = 48000


class FakeAudio:
    """A whole recording in memory; ``slice`` returns the samples whose time is in [t0, t1) (floor/ceil rounding,
    unlike the real ring's round(), so the matcher is tested against both conventions)."""

    def __init__(self, samples: np.ndarray, rate: int, t0: float):
        self.samples, self.rate, self.t0 = samples, rate, t0

    def slice(self, t0: float, t1: float) -> AudioBlock:
        n = self.samples.shape[0]
        i0 = min(max(math.ceil((t0 - self.t0) * self.rate), 0), n)
        i1 = min(max(math.ceil((t1 - self.t0) * self.rate), i0), n)
        return AudioBlock(self.t0 + i0 / self.rate, self.samples[i0:i1], self.rate)


class FakeVideo:
    def __init__(self, frames: list[Frame]):
        self.frames = frames

    def slice(self, t0: float, t1: float) -> list[Frame]:
        return [f for f in self.frames if t0 <= f.t < t1]


def _tag(start: float, end: float, open_: bool = False) -> Tag:
    return Tag("hand_at_mic-00001", "hand_at_mic", ("hand",), start, end, 0.9, (), open_)


def _ramp(n: int, channels: int = 1) -> np.ndarray:
    """Sample value = its index (exact in float32 up to 2**24), so a window's first value says which sample it is."""
    ramp = np.arange(n, dtype=np.float32)
    return np.repeat(ramp[:, None], channels, axis=1)


RAMP_12S = _ramp(12 * RATE)[:, 0]


def _check_covers(window, t0: float, t1: float, base_t: float, rate: int) -> None:
    eps = 1e-9
    assert window.start <= t0 + eps and t0 < window.start + 1 / rate + eps  # the sample containing t0 is first
    assert window.end >= t1 - eps and t1 > window.end - 1 / rate - eps  # the sample containing t1's instant is last
    n = window.samples.shape[0]
    assert n == round((window.end - window.start) * rate)
    first_index = round((window.start - base_t) * rate)
    # The samples are exactly the stream's samples at those times (the ramp value is the sample index).
    assert np.array_equal(window.samples, np.arange(first_index, first_index + n, dtype=np.float32))


@settings(max_examples=200, deadline=None)
@given(
    start=st.floats(0.05, 8.0),
    length=st.floats(0.0, 1.5),
    pre=st.floats(0.0, 0.5),
    post=st.floats(0.0, 0.5),
    base=st.floats(-3.0, 1000.0),
)
def test_window_covers_the_span_sample_accurately(start, length, pre, post, base):
    audio = FakeAudio(RAMP_12S, RATE, base)
    tag = _tag(base + start + pre, base + start + pre + length)
    matched = match_tag(tag, None, audio, pre, post)
    assert matched.complete
    _check_covers(matched.window, tag.start - pre, tag.end + post, base, RATE)
    assert matched.window.tag is tag and matched.window.rate == RATE
    assert matched.window.samples.dtype == np.float32 and matched.window.samples.ndim == 1


def test_window_on_sample_boundaries_has_no_extra_sample():
    audio = FakeAudio(_ramp(RATE)[:, 0], RATE, 0.0)
    window, complete = audio_window(audio, 0.25, 0.5)
    assert complete and window.start == 0.25 and window.end == 0.5
    assert window.samples.shape == (RATE // 4,) and window.samples[0] == RATE // 4


def test_real_rings_and_real_audio(shared_media):
    """Real speech through the capture stage's AudioRing (written in ALSA-sized periods) and real frames in its
    VideoRing: the window is the exact run of recorded samples over the tag span plus roll."""
    speech, _ = decode_audio(shared_media / "speech" / "jfk.wav", rate=RATE)
    ring = AudioRing(rate=RATE, channels=1, seconds=30.0)
    t_base = 100.0  # the daemon's monotonic clock does not start at zero
    for k in range(0, speech.shape[0], 1024):
        ring.write(speech[k : k + 1024], t0=t_base + k / RATE)
    video = VideoRing(max_seconds=20.0, max_bytes=64 * 2**20)
    image = np.zeros((48, 64, 3), np.uint8)
    for i in range(300):
        video.put(t_base + i / 30, image)
    tag = _tag(t_base + 2.0 + 1 / 3, t_base + 3.7)
    matched = match_tag(tag, video, ring, pre_roll_s=0.3, post_roll_s=0.2)
    assert matched.complete
    w = matched.window
    assert w.start <= tag.start - 0.3 < w.start + 1 / RATE + 1e-9
    assert w.end >= tag.end + 0.2 > w.end - 1 / RATE - 1e-9
    i0 = round((w.start - t_base) * RATE)
    np.testing.assert_array_equal(w.samples, speech[i0 : i0 + w.samples.shape[0]])
    assert np.abs(w.samples).max() > 0.05  # real speech, not a zero-filled gap
    # Frames: every frame in [start, end], both ends included.
    times = [f.t for f in matched.frames]
    assert times[0] >= tag.start and times[-1] <= tag.end
    assert len(times) == len([i for i in range(300) if tag.start <= t_base + i / 30 <= tag.end])


def test_open_tag_includes_its_latest_frame_and_flags_audio_not_yet_captured():
    frames = [Frame(i / 30, i, np.zeros((4, 4, 3), np.uint8)) for i in range(60)]
    audio = FakeAudio(_ramp(RATE)[:, 0], RATE, 0.0)  # one second captured so far
    tag = _tag(0.5, 59 / 30, open_=True)  # open: end is the latest frame's time
    matched = match_tag(tag, FakeVideo(frames), audio, 0.1, 0.2)
    assert matched.frames[-1].index == 59 and matched.frames[0].index == 15
    assert not matched.complete  # the post-roll has not been recorded yet
    assert matched.window.start == pytest.approx(0.4) and matched.window.end == pytest.approx(1.0)


def test_audio_already_evicted_is_flagged():
    ring = AudioRing(rate=16000, channels=1, seconds=1.0)
    ring.write(np.ones(16000 * 3, np.float32), t0=0.0)  # holds only 2.0 .. 3.0
    matched = match_tag(_tag(1.5, 2.5), None, ring)
    assert not matched.complete
    assert matched.window.start == pytest.approx(2.0) and matched.window.end == pytest.approx(2.5)


def test_multichannel_audio_to_mono():
    stereo = np.stack([np.ones(1000, np.float32), -np.ones(1000, np.float32) * 0.5], axis=1)
    assert np.allclose(to_mono(stereo), 0.25)
    assert np.allclose(to_mono(stereo, channel=1), -0.5)
    with pytest.raises(MatchError, match="channel 2"):
        to_mono(stereo, channel=2)
    audio = FakeAudio(stereo, 1000, 0.0)
    window, complete = audio_window(audio, 0.1, 0.2, channel=0)
    assert complete and window.samples.shape == (100,) and np.all(window.samples == 1.0)


def test_empty_ring_gives_an_empty_incomplete_window():
    ring = AudioRing(rate=16000, channels=1, seconds=1.0)
    matched = match_tag(_tag(1.0, 2.0), VideoRing(1.0, 2**20), ring)
    assert not matched.complete and matched.window.samples.shape == (0,) and matched.frames == []


@pytest.mark.parametrize(
    ("start", "end", "pre", "post", "needle"),
    [
        (2.0, 1.0, 0.0, 0.0, "unusable span"),
        (math.nan, 1.0, 0.0, 0.0, "unusable span"),
        (1.0, math.inf, 0.0, 0.0, "unusable span"),
        (1.0, 2.0, -0.1, 0.0, "must not be negative"),
    ],
)
def test_bad_spans_raise_clear_errors(start, end, pre, post, needle):
    audio = FakeAudio(_ramp(RATE)[:, 0], RATE, 0.0)
    with pytest.raises(MatchError, match=needle):
        match_tag(_tag(start, end), None, audio, pre, post)

"""Rings, the audio timestamper and the latest-frame slot: exact slicing, bounds, gaps, threads."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liverec_edge.capture.clock import AudioTimestamper, CaptureClock
from liverec_edge.capture.rings import AudioRing, VideoRing
from liverec_edge.capture.slot import LatestSlot, SlotClosed


def _image(value: int, h: int = 4, w: int = 6) -> np.ndarray:
    return np.full((h, w, 3), value % 256, np.uint8)


# -- VideoRing -----------------------------------------------------------------------------------------------------
def test_video_slice_is_exactly_the_half_open_span() -> None:
    ring = VideoRing(max_seconds=100, max_bytes=10**9)
    times = [i / 30 for i in range(60)]
    for i, t in enumerate(times):
        ring.put(t, _image(i))
    t0, t1 = times[10], times[20]
    frames = ring.slice(t0, t1)
    assert [f.t for f in frames] == times[10:20]  # t0 included, t1 excluded
    assert [f.index for f in frames] == list(range(10, 20))
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(10, 20))
    # between frame times
    assert [f.index for f in ring.slice(times[10] + 1e-6, times[12] + 1e-6)] == [11, 12]
    assert ring.slice(5.0, 6.0) == []
    assert ring.span() == (times[0], times[-1])
    assert ring.latest() is not None and ring.latest().index == 59


def test_video_ring_bounded_by_seconds_and_bytes() -> None:
    frame_bytes = _image(0).nbytes
    by_time = VideoRing(max_seconds=1.0, max_bytes=10**9)
    by_bytes = VideoRing(max_seconds=100.0, max_bytes=frame_bytes * 10)
    for i in range(100):
        by_time.put(i * 0.1, _image(i))
        by_bytes.put(i * 0.1, _image(i))
    oldest, newest = by_time.span()  # type: ignore[misc]
    assert newest == pytest.approx(9.9) and oldest >= newest - 1.0 - 1e-9
    assert len(by_time) == 11  # 8.9 .. 9.9
    assert len(by_bytes) == 10 and by_bytes.stats().bytes == frame_bytes * 10
    assert by_bytes.stats().evicted == 90 and by_bytes.stats().put == 100


def test_video_ring_refuses_time_going_backwards_and_frames_are_read_only() -> None:
    ring = VideoRing(max_seconds=10, max_bytes=10**9)
    assert ring.put(1.0, _image(1)) is not None
    assert ring.put(1.0, _image(2)) is None
    assert ring.put(0.5, _image(3)) is None
    assert ring.stats().refused == 2 and len(ring) == 1
    frame = ring.latest()
    assert frame is not None
    with pytest.raises(ValueError):
        frame.image[0, 0, 0] = 7
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        ring.put(2.0, np.zeros((4, 4), np.uint8))


# -- AudioRing -----------------------------------------------------------------------------------------------------
def test_audio_slice_is_sample_exact_across_the_wrap() -> None:
    rate = 1000
    ring = AudioRing(rate, channels=2, seconds=1.0)  # capacity 1000 samples
    stream = np.stack([np.arange(2500), -np.arange(2500)], axis=1).astype(np.float32)
    t_start = 10.0
    for i in range(0, 2500, 96):  # blocks that do not divide the capacity: writes wrap mid-block
        ring.write(stream[i : i + 96], t_start + i / rate if i == 0 else None)
    span = ring.span()
    assert span == pytest.approx((t_start + 1.5, t_start + 2.5))
    block = ring.slice(t_start + 1.7, t_start + 2.2)
    assert block.t0 == pytest.approx(t_start + 1.7)
    np.testing.assert_array_equal(block.samples, stream[1700:2200])
    # clipped to what is still held
    old = ring.slice(t_start + 1.0, t_start + 1.6)
    assert old.t0 == pytest.approx(t_start + 1.5)
    np.testing.assert_array_equal(old.samples, stream[1500:1600])
    assert ring.slice(t_start + 3.0, t_start + 4.0).frames == 0
    np.testing.assert_array_equal(ring.latest(0.1).samples, stream[2400:2500])
    np.testing.assert_array_equal(ring.read_from(t_start + 2.45).samples, stream[2450:2500])


@settings(max_examples=60, deadline=None)
@given(
    block=st.integers(1, 700),
    t0=st.floats(0, 1000),
    a=st.integers(0, 3000),
    length=st.integers(0, 3000),
)
def test_audio_slice_matches_index_formula(block: int, t0: float, a: int, length: int) -> None:
    rate = 8000
    ring = AudioRing(rate, 1, seconds=0.25)  # 2000 samples
    stream = np.arange(3000, dtype=np.float32)
    for i in range(0, 3000, block):
        ring.write(stream[i : i + block], t0 if i == 0 else None)
    start, end = t0 + a / rate, t0 + (a + length) / rate
    got = ring.slice(start, end)
    i0 = max(round((start - t0) * rate), 1000)
    i1 = min(round((end - t0) * rate), 3000)
    expected = stream[i0:i1] if i1 > i0 else stream[:0]
    np.testing.assert_array_equal(got.samples[:, 0], expected)
    if got.frames:
        assert got.t0 == pytest.approx(t0 + i0 / rate)


def test_audio_gap_is_filled_with_silence_and_counted() -> None:
    rate = 1000
    ring = AudioRing(rate, 1, seconds=10)
    ring.write(np.ones(100, np.float32), 5.0)
    ring.write(np.ones(100, np.float32) * 2, 5.3)  # 200 samples lost (an overrun)
    stats = ring.stats()
    assert stats.gaps == 1 and stats.gap_samples == 200 and stats.written == 400
    block = ring.slice(5.0, 5.4)
    expected = np.concatenate([np.ones(100), np.zeros(200), np.ones(100) * 2])
    np.testing.assert_array_equal(block.samples[:, 0], expected)
    # the old samples keep their times
    assert ring.slice(5.05, 5.06).samples[0, 0] == 1.0
    assert ring.slice(5.35, 5.36).samples[0, 0] == 2.0


def test_audio_short_loss_after_an_overrun_is_a_gap_not_a_correction() -> None:
    rate = 1000
    ring = AudioRing(rate, 1, seconds=10)
    ring.write(np.ones(100, np.float32), 2.0)
    ring.write(np.ones(100, np.float32), 2.105, discontinuity=True)  # 5 ms lost: below the 20 ms threshold
    stats = ring.stats()
    assert stats.gaps == 1 and stats.gap_samples == 5 and stats.reanchors == 0
    assert ring.span() == pytest.approx((2.0, 2.205))  # the samples before the loss kept their times


def test_audio_small_correction_reanchors_without_inserting_samples() -> None:
    rate = 1000
    ring = AudioRing(rate, 1, seconds=10)
    ring.write(np.arange(100, dtype=np.float32), 1.0)
    ring.write(np.arange(100, 200, dtype=np.float32), 1.095)  # 5 ms earlier than the stream's own count
    stats = ring.stats()
    assert stats.gaps == 0 and stats.reanchors == 1 and stats.written == 200
    span = ring.span()
    assert span == pytest.approx((0.995, 1.195))
    np.testing.assert_array_equal(ring.slice(1.095, 1.195).samples[:, 0], np.arange(100, 200))


def test_audio_ring_rejects_wrong_channel_count() -> None:
    ring = AudioRing(48000, 2, seconds=1)
    with pytest.raises(ValueError, match="2 channel"):
        ring.write(np.zeros((10, 1), np.float32), 0.0)


def test_audio_ring_concurrent_writer_and_readers_see_consistent_blocks() -> None:
    """Readers slicing while a thread writes always get blocks whose samples match their times."""
    rate = 48000
    ring = AudioRing(rate, 1, seconds=0.5)
    total = rate * 3
    stop = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        for i in range(0, total, 480):
            ring.write(np.arange(i, i + 480, dtype=np.float32), 0.0 if i == 0 else None)
        stop.set()

    def reader() -> None:
        while not stop.is_set():
            span = ring.span()
            if span is None:
                continue
            block = ring.slice(span[1] - 0.1, span[1])
            if block.frames:
                first = round(block.t0 * rate)
                if not np.array_equal(block.samples[:, 0], np.arange(first, first + block.frames, dtype=np.float32)):
                    errors.append(f"block at {block.t0} does not hold its own samples")

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert ring.stats().written == total


# -- clock and timestamper -----------------------------------------------------------------------------------------
def test_clock_starting_now_reads_zero_and_maps_monotonic_stamps() -> None:
    clock = CaptureClock.starting_now()
    assert 0 <= clock.now() < 0.5
    assert clock.from_monotonic_ns(clock.origin_ns + 1_500_000_000) == pytest.approx(1.5)
    assert CaptureClock().from_monotonic_ns(2_000_000_000) == pytest.approx(2.0)


def test_timestamper_ignores_jitter_removes_startup_delay_and_follows_drift() -> None:
    rate, period = 48000, 480
    rng = np.random.default_rng(3)
    stamper = AudioTimestamper(rate)
    true_start = 100.0
    drift = 1 + 200e-6  # the card's clock runs 200 ppm slow against the monotonic clock
    stamps, truth = [], []
    for k in range(3000):  # 30 s
        first_sample_true = true_start + k * period / rate * drift
        delay = 0.05 if k == 0 else rng.exponential(0.002)  # a late start, then scheduling jitter
        arrived = first_sample_true + period / rate * drift + delay
        stamps.append(stamper.stamp(period, arrived))
        truth.append(first_sample_true)
    errors = np.array(stamps) - np.array(truth)
    diffs = np.diff(stamps)
    # within the stream, timestamps advance by exactly a period except at the (rare) anchor corrections
    assert np.mean(np.isclose(diffs, period / rate, atol=1e-9)) > 0.98
    assert stamper.reanchors >= 1 and stamper.anchors == 1
    # after the first correction windows, timestamps are within a few ms of the true capture times
    assert np.abs(errors[500:]).max() < 0.004
    # a discontinuity starts a fresh anchor from the block's arrival
    t = stamper.stamp(period, 500.0, discontinuity=True)
    assert t == pytest.approx(500.0 - period / rate) and stamper.anchors == 2


# -- LatestSlot ----------------------------------------------------------------------------------------------------
def test_slot_hands_over_the_newest_and_counts_drops() -> None:
    async def scenario() -> tuple[list[int], int, int]:
        slot: LatestSlot[int] = LatestSlot()
        produced = threading.Event()

        def producer() -> None:
            for i in range(5):
                slot.put(i)
            produced.set()

        threading.Thread(target=producer).start()
        await asyncio.get_running_loop().run_in_executor(None, produced.wait)
        first = await slot.next(timeout=1)

        def later() -> None:
            slot.put(10)

        threading.Timer(0.05, later).start()
        second = await slot.next(timeout=2)  # waits for a value put from another thread
        slot.close()
        with pytest.raises(SlotClosed):
            await slot.next(timeout=1)
        return [first, second], slot.dropped, slot.delivered

    got, dropped, delivered = asyncio.run(scenario())
    assert got == [4, 10]
    assert dropped == 4 and delivered == 2


def test_read_since_streams_every_sample_once_even_across_reanchors_and_gaps() -> None:
    rate = 1000
    ring = AudioRing(rate, 1, seconds=1.0)
    stream = np.arange(5000, dtype=np.float32) + 1
    got: list[np.ndarray] = []
    cursor: int | None = None
    position, t = 0, 10.0
    for step, size in enumerate([100, 37, 250, 400, 13, 200] * 6):
        if position + size > stream.size:
            break
        if step == 7:
            t -= 0.004  # the timestamper corrects its anchor: times move, samples must not repeat
        t0 = t + position / rate if step in (0, 7) else None
        ring.write(stream[position : position + size], t0)
        position += size
        if step % 2:
            block, cursor = ring.read_since(cursor)
            got.append(block.samples[:, 0])
    block, cursor = ring.read_since(cursor)
    got.append(block.samples[:, 0])
    np.testing.assert_array_equal(np.concatenate(got), stream[:position])
    assert ring.stats().reanchors == 1 and cursor == position
    # a reader that falls further behind than the ring holds gets the newest second, and its block starts later
    ring.write(np.ones(2500, np.float32))
    late, cursor2 = ring.read_since(cursor)
    assert late.frames == 1000 and cursor2 == position + 2500

"""The capture runner with real media flowing: a video file into the video ring, A/V alignment on one clock, a camera
that dies while audio carries on, and frames handed to an asyncio consumer."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from liverec_edge.capture.base import SourceContext, SourceError
from liverec_edge.capture.camera import FileCamera, SyntheticCamera, decode_frame_counter
from liverec_edge.capture.clock import CaptureClock
from liverec_edge.capture.runner import CaptureRunner
from liverec_edge.capture.settings import CaptureSettings
from liverec_edge.media import decode_audio, iter_video_frames

ASL_CLIP = "video/asl/eat.mkv"


def _settings(**capture: object) -> CaptureSettings:
    return CaptureSettings.model_validate(capture)


def _ffprobe_frame_count(path: Path) -> int:
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe (Debian ffmpeg) is needed for an independent frame count")
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    )
    return int(json.loads(out.stdout)["streams"][0]["nb_read_frames"])


def test_video_file_source_fills_the_ring_with_every_frame(shared_media: Path) -> None:
    path = shared_media / ASL_CLIP
    settings = _settings(
        camera={"kind": "file", "path": str(path), "loop": False, "paced": False},
        audio={"kind": "synthetic", "paced": True},
        video_ring_seconds=60, video_ring_max_mb=512,
    )
    runner = CaptureRunner(settings, CaptureClock.starting_now())
    runner.start(t_origin=0.0)  # an offline run: frame times are the file's own
    deadline = threading.Event()
    for _ in range(200):  # the file ends on its own; the synthetic audio never does
        if runner.status().video.state == "ended":
            break
        deadline.wait(0.05)
    status = runner.status()
    runner.stop()
    assert status.video.state == "ended" and status.video.errors == 0

    expected = list(iter_video_frames(path))
    span = runner.video_ring.span()
    assert span is not None
    frames = runner.video_ring.slice(span[0], span[1] + 1)
    assert len(frames) == _ffprobe_frame_count(path) == len(expected) == status.video.items
    times = np.array([f.t for f in frames])
    assert (np.diff(times) > 0).all()
    np.testing.assert_array_equal(times, [t for t, _ in expected])
    assert [f.index for f in frames] == list(range(len(frames)))
    # the decoded pictures are the file's pictures, in order
    for frame, (_, image) in zip(frames[::10], expected[::10], strict=True):
        np.testing.assert_array_equal(frame.image, image)
    # slicing picks exactly the frames of a span
    t0, t1 = frames[10].t, frames[20].t
    assert [f.index for f in runner.video_ring.slice(t0, t1)] == list(range(10, 20))
    assert [f.index for f in runner.video_ring.slice(t0 + 0.001, t1 + 0.001)] == list(range(11, 21))


def test_audio_and_video_slices_of_a_span_cover_the_same_time(shared_media: Path) -> None:
    """File video and file audio, as fast as possible, on one clock: a span cut from both rings lines up."""
    video_path = shared_media / ASL_CLIP
    audio_path = shared_media / "speech" / "jfk.wav"
    settings = _settings(
        camera={"kind": "file", "path": str(video_path), "loop": False, "paced": False},
        audio={"kind": "file", "path": str(audio_path), "loop": False, "paced": False},
        video_ring_seconds=30, video_ring_max_mb=256, audio_ring_seconds=30,
    )
    runner = CaptureRunner(settings, CaptureClock.starting_now())
    runner.start()
    assert runner.wait_ended(timeout=60)
    period = 1 / 30
    reference, _ = decode_audio(audio_path, rate=48000)
    audio_span, video_span = runner.audio_ring.span(), runner.video_ring.span()
    assert audio_span is not None and video_span is not None
    assert audio_span[0] == video_span[0]  # both media start at the runner's origin
    for t0, t1 in [(audio_span[0] + 0.2, audio_span[0] + 0.9), (audio_span[0] + 0.5123, audio_span[0] + 1.45)]:
        frames = runner.video_ring.slice(t0, t1)
        block = runner.audio_ring.slice(t0, t1)
        assert frames and block.frames
        assert abs(block.t0 - frames[0].t) <= period and abs(block.t1 - (frames[-1].t + period)) <= period
        # and the audio is the file's audio at that media time
        first = round((block.t0 - audio_span[0]) * 48000)
        np.testing.assert_array_equal(block.samples[:, 0], reference[first : first + block.frames])


def test_a_looping_video_file_keeps_time_running(shared_media: Path) -> None:
    path = shared_media / ASL_CLIP
    pts = [t for t, _ in iter_video_frames(path)]
    camera = FileCamera(path, loop=True, paced=False)
    camera.open(SourceContext(CaptureClock.starting_now(), t_origin=3.0))
    times = [camera.read()[0] for _ in range(2 * len(pts) + 5)]  # type: ignore[index]
    camera.close()
    assert (np.diff(times) > 0).all()
    np.testing.assert_allclose(times[: len(pts)], np.array(pts) + 3.0)
    # the second pass follows the last frame by one frame period
    assert times[len(pts)] - times[len(pts) - 1] == pytest.approx(1 / 30, abs=1e-6)
    np.testing.assert_allclose(np.diff(times[len(pts) : 2 * len(pts)]), np.diff(pts), atol=1e-9)


class _DyingCamera:
    """Delivers a few synthetic frames, then fails like an unplugged camera (and refuses to reopen)."""

    name = "dying test camera"
    dropped = 0

    def __init__(self, frames_before_failure: int):
        self.frames_before_failure = frames_before_failure
        self.opens = 0
        self._k = 0
        self._ctx: SourceContext | None = None

    def open(self, ctx: SourceContext) -> None:
        self.opens += 1
        if self.opens > 1:
            raise SourceError("camera /dev/video9 does not exist (is the camera plugged in?)")
        self._ctx = ctx

    def read(self) -> tuple[float, np.ndarray] | None:
        assert self._ctx is not None
        if self._k >= self.frames_before_failure:
            raise SourceError("camera /dev/video9 failed: No such device")
        if not self._ctx.wait_until(self._ctx.t_origin + self._k / 30):
            return None
        self._k += 1
        return self._ctx.t_origin + (self._k - 1) / 30, np.zeros((48, 64, 3), np.uint8)

    def close(self) -> None:
        self._ctx = None


def test_a_dying_camera_is_reported_and_audio_keeps_running() -> None:
    camera = _DyingCamera(frames_before_failure=5)
    settings = _settings(audio={"kind": "synthetic", "paced": True}, retry_s=0.1)
    runner = CaptureRunner(settings, CaptureClock.starting_now(), camera=camera)
    runner.start()
    threading.Event().wait(0.8)
    status_a = runner.status()
    threading.Event().wait(0.4)
    status_b = runner.status()
    joined = runner.stop()
    assert joined
    assert status_a.video.items == 5
    assert status_a.video.state in ("failed", "retrying") and status_a.video.errors >= 1
    assert "does not exist" in status_b.video.last_error or "No such device" in status_b.video.last_error
    assert status_b.video.restarts >= 1 and status_b.video.errors >= 2  # it tried again
    assert status_a.audio_only
    # audio kept flowing, in real time, after the camera died
    assert status_b.audio.state == "running"
    assert status_b.audio.items > status_a.audio.items
    assert status_b.audio.last_t - status_a.audio.last_t == pytest.approx(0.4, abs=0.2)  # type: ignore[operator]
    assert runner.progress() == pytest.approx(status_b.audio.last_at, abs=0.5)
    assert runner.status().video.state == "stopped" and runner.status().audio.state == "stopped"


def test_camera_comes_back_after_a_failure() -> None:
    class FlakyCamera(_DyingCamera):
        def open(self, ctx: SourceContext) -> None:  # reopening works
            self.opens += 1
            self._k = 0 if self.opens == 1 else 1000
            self.frames_before_failure = 3 if self.opens == 1 else 10**9
            self._ctx = ctx

        def read(self) -> tuple[float, np.ndarray] | None:
            assert self._ctx is not None
            if self.opens == 1 and self._k >= 3:
                raise SourceError("USB reset")
            self._k += 1
            if not self._ctx.wait_until(self._ctx.t_origin + (self._k % 1000) / 30):
                return None
            return self._ctx.t_origin + (self._k % 1000) / 30, np.zeros((48, 64, 3), np.uint8)

    camera = FlakyCamera(3)
    runner = CaptureRunner(_settings(retry_s=0.05), CaptureClock.starting_now(), camera=camera)
    runner.start()
    threading.Event().wait(0.6)
    status = runner.status()
    runner.stop()
    assert status.video.state == "running" and status.video.restarts == 1 and status.video.errors == 1
    assert status.video.items > 5 and not status.audio_only
    frames = runner.video_ring.slice(-1e9, 1e9)
    assert (np.diff([f.t for f in frames]) > 0).all()


def test_an_asyncio_consumer_gets_the_newest_frames_and_slow_analysis_skips() -> None:
    settings = _settings()  # defaults: synthetic camera 30 fps and synthetic audio, paced in real time

    async def consume() -> tuple[list[int], int, int]:
        runner = CaptureRunner(settings, CaptureClock.starting_now())
        slot = runner.subscribe_frames()
        runner.start()
        seen: list[int] = []
        try:
            for _ in range(6):
                frame = await slot.next(timeout=2)
                seen.append(decode_frame_counter(frame.image))
                assert frame.index == seen[-1]
                await asyncio.sleep(0.1)  # analysis slower than the camera: 2 of 3 frames are skipped
        finally:
            runner.stop()
        return seen, slot.dropped, runner.status().slot_drops

    seen, dropped, slot_drops = asyncio.run(consume())
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert seen[-1] - seen[0] >= 10  # it kept up with time, not with every frame
    assert dropped >= 8 and slot_drops == dropped


def _wait_for_items(runners: tuple[CaptureRunner, ...], items: int, timeout: float = 10.0) -> None:
    """Until every runner has stored ``items`` frames and audio blocks: a loaded box starts threads late, so a
    fixed sleep can leave a ring empty."""
    stopwatch = CaptureClock.starting_now()
    while True:
        statuses = [runner.status() for runner in runners]
        if all(min(s.video.items, s.audio.items) >= items for s in statuses):
            return
        if stopwatch.now() > timeout:
            raise AssertionError(f"capture stored too little in {timeout} s: {statuses}")
        threading.Event().wait(0.02)


def test_av_offset_moves_audio_timestamps() -> None:
    clock = CaptureClock.starting_now()
    plain = CaptureRunner(_settings(), clock)
    shifted = CaptureRunner(_settings(av_offset_ms=40), clock)
    origin = clock.now()
    for runner in (plain, shifted):
        runner.start(t_origin=origin)
    threading.Event().wait(0.3)
    _wait_for_items((plain, shifted), items=5)
    for runner in (plain, shifted):
        runner.stop()
    plain_audio, shifted_audio = plain.audio_ring.span(), shifted.audio_ring.span()
    assert plain_audio and shifted_audio
    # The synthetic sources start at media time 0 = t_origin; only the audio moves, by 40 ms. Audio blocks that
    # come late still come, with their own times, so each audio ring starts exactly there.
    assert plain_audio[0] == origin
    assert shifted_audio[0] == pytest.approx(origin + 0.040, abs=1e-9)
    # Video: every frame of both runners is stamped exactly origin + k / fps, k being the number drawn into its
    # picture, so media time 0 is the origin and the offset leaves video alone. The first picture is 0 unless the
    # camera thread first ran more than its 4 queued frames after the origin (a loaded box): a paced camera then
    # skips to the current frame, like a real one, and counts what it skipped.
    for runner in (plain, shifted):
        frames = runner.video_ring.slice(-1e9, 1e9)
        pictures = [decode_frame_counter(frame.image) for frame in frames]
        assert frames and [frame.t for frame in frames] == [origin + k / 30 for k in pictures]
        status = runner.status()
        assert status.video.first_at is not None
        late = status.video.first_at - origin  # the first frame was read no later than it was stored
        assert pictures[0] == 0 or (late > 4 / 30 and pictures[0] <= late * 30), (pictures[:3], late)
        assert runner.video_ring.stats().put + status.video.dropped >= pictures[-1] + 1, (pictures, status)


def test_an_unpaced_camera_reopened_continues_after_the_stored_frames() -> None:
    """A file or generated camera restarts its media time at 0 on reopen; unpaced, it runs ahead of the clock, so
    its first new frame must go one frame interval after the last stored frame, not onto it (the ring refuses a
    frame whose time is not after the newest one)."""

    class FailsOnceCamera(SyntheticCamera):
        def __init__(self) -> None:
            super().__init__(64, 48, 30.0, paced=False)
            self.opens = 0
            self.reads = 0

        def open(self, ctx: SourceContext) -> None:
            self.opens += 1
            self.reads = 0
            super().open(ctx)

        def read(self) -> tuple[float, np.ndarray] | None:
            self.reads += 1
            if self.opens == 1 and self.reads > 40:
                raise SourceError("USB reset")
            if self.opens > 1 and self.reads > 40:
                return None  # the second pass ends: the stream stops
            return super().read()

    camera = FailsOnceCamera()
    runner = CaptureRunner(_settings(retry_s=0.01), CaptureClock.starting_now(), camera=camera)
    runner.start()
    threading.Event().wait(0.5)
    status = runner.status()
    runner.stop()
    assert camera.opens == 2 and status.video.restarts == 1
    frames = runner.video_ring.slice(-1e9, 1e9)
    assert status.video.items == 80 == len(frames)  # no frame refused on the reopen
    times = np.array([f.t for f in frames])
    np.testing.assert_allclose(np.diff(times[:40]), 1 / 30, atol=1e-9)
    assert times[40] - times[39] >= 1 / 30 - 1e-9
    np.testing.assert_allclose(np.diff(times[40:]), 1 / 30, atol=1e-9)

"""The record stage of the daemon: frames and (processed) audio → GOP-aligned segments of the target recording.

With the software console (``mixer.url: soft://``) the captured audio is processed here through the same console
the mixer stage drives, so the recording carries exactly what the strategy did; with a hardware desk the capture
input is already the desk's processed output. Encoding runs in a worker thread; the queues in front of it are
bounded, and what they drop is counted.

The recording starts at the first audio (or the first frame, if that comes first). The stage keeps the audio that
arrives while it waits for the camera; with no frame after ``record.video_wait_s`` of audio (no camera, or a broken
one: the daemon then runs audio-only) it starts an audio-only recording from that first audio, and a camera that comes
later is carried from the next segment boundary (see :mod:`liverec_edge.record.segments`). On stop, what is still in
the queues is written before the segments are closed.

Each start of the stage (a daemon restart, a config reload, a stop/start from the tablet) is a new recording: its
segment files are named after the wall-clock time of its first audio or frame, next to the earlier recordings in the
directory, never over them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from liverec_edge.logs import kv
from liverec_edge.pipeline import TOPIC_AUDIO, TOPIC_FRAMES, DropOldestQueue, HealthValue, StageBase, StageContext
from liverec_edge.types import AudioBlock, Frame

log = logging.getLogger("liverec_edge.record")

#: A recording opens at most ``record.video_wait_s`` (≤ 30 s) after its first audio, plus the queue: an origin older
#: than this on the capture clock is not on the clock the stage reads (a test's made-up times), so it is not used to
#: date the recording.
MAX_ORIGIN_AGE_S = 120.0


class RecordStage(StageBase):
    name = "record"

    def __init__(self, soft_console: Any = None) -> None:
        super().__init__()
        self.soft_console = soft_console
        self.recorder: Any = None
        self.segments_written = 0
        self._frames: DropOldestQueue[Frame] | None = None
        self._audio: DropOldestQueue[AudioBlock] | None = None
        self._presenter_strip = 0
        self._stopped = False
        self._ctx: StageContext | None = None
        #: Processed audio that arrived before the recorder opened (at most ``video_wait_s`` of it).
        self._waiting: list[AudioBlock] = []
        #: Steps in order: stop() writes the last data after the step run() may be in the middle of.
        self._step_lock = asyncio.Lock()
        #: One writer at a time: stop() closes the recorder while a cancelled run() may still be writing.
        self._lock = threading.Lock()

    async def start(self, ctx: StageContext) -> None:
        self._stopped = False
        self._ctx = ctx
        self._waiting = []
        self._presenter_strip = ctx.config.mixer.channels.get("presenter", 1) - 1
        self._frames = ctx.bus.subscribe(TOPIC_FRAMES, owner=self.name, maxsize=64)
        self._audio = ctx.bus.subscribe(TOPIC_AUDIO, owner=self.name, maxsize=1024)

    def _open(self, ctx: StageContext, frame: Frame | None) -> None:
        """Open the recorder at the earliest of the first waiting audio and ``frame``; audio-only without a frame
        (or with one that cannot be encoded)."""
        from liverec_edge.record.segments import SegmentRecorder, encodable_size

        config = ctx.config
        starts = [b.t0 for b in self._waiting[:1]] + ([frame.t] if frame is not None else [])
        size = encodable_size(frame.image) if frame is not None else None
        if frame is not None and size is None:
            log.error("frames cannot be encoded: recording audio-only",
                      extra=kv(shape=frame.image.shape, dtype=frame.image.dtype))
        width, height = size if size is not None else (None, None)
        origin = min(starts)
        age = ctx.clock() - origin  # the recording is named after the wall-clock time of its origin
        self.recorder = SegmentRecorder(
            config.record, config.record.directory, origin=origin, width=width, height=height,
            fps=config.capture.camera.fps, audio_rate=config.capture.audio.rate, audio_channels=1,
            origin_wall_time=time.time() - age if 0 <= age <= MAX_ORIGIN_AGE_S else None,
        )
        recording = self.recorder.recording_id
        if size is None:
            log.warning("no video: recording audio-only; a camera that comes later is recorded from the next segment",
                        extra=kv(directory=str(config.record.directory), recording=recording,
                                 waited_s=config.record.video_wait_s))
        else:
            log.info("recording", extra=kv(directory=str(config.record.directory), recording=recording,
                                           size=f"{width}x{height}"))

    def _waited_enough(self, ctx: StageContext) -> bool:
        if not self._waiting:
            return False
        rate = self._waiting[0].rate
        samples = sum(b.frames for b in self._waiting) / rate
        span = self._waiting[-1].t1 - self._waiting[0].t0
        return max(samples, span) >= ctx.config.record.video_wait_s

    async def run(self, ctx: StageContext) -> None:
        assert self._frames is not None and self._audio is not None, "run() before start()"
        while True:
            await asyncio.sleep(0.1)
            self.meter.beat()
            await self.step(ctx)

    async def step(self, ctx: StageContext, *, final: bool = False) -> None:
        """Take what the bus holds and write it: one turn of :meth:`run`. ``final`` (from :meth:`stop`) opens an
        audio-only recording for audio still waiting for the camera rather than lose it."""
        async with self._step_lock:
            await self._step(ctx, final)

    async def _step(self, ctx: StageContext, final: bool) -> None:
        if self._frames is None or self._audio is None:
            return
        frames = self._frames.drain()
        blocks = [self._processed(b) for b in self._audio.drain()]
        if self.recorder is None:
            if self._stopped and not final:
                return
            self._waiting.extend(blocks)
            if frames:
                self._open(ctx, frames[0])
            elif self._waited_enough(ctx) or (final and self._waiting):
                self._open(ctx, None)
            else:
                return
            blocks, self._waiting = self._waiting, []
        recorder = self.recorder
        before = len(recorder.finished)
        await asyncio.to_thread(self._write, recorder, frames, blocks)
        self.segments_written += len(recorder.finished) - before
        self.meter.beat(len(frames))

    def _processed(self, block: AudioBlock) -> AudioBlock:
        mono = block.samples.mean(axis=1) if block.samples.ndim == 2 else block.samples
        mono = mono.astype(np.float32, copy=False)
        if self.soft_console is not None:
            # The captured signal is the presenter's channel; the other strips of the console are silent here.
            strips = np.zeros((mono.shape[0], self.soft_console.channels), np.float32)
            strips[:, self._presenter_strip] = mono
            mono = self.soft_console.process(strips, block.t0)
        return AudioBlock(block.t0, mono.reshape(-1, 1), block.rate)

    def _write(self, recorder: Any, frames: list[Frame], blocks: list[AudioBlock]) -> None:
        with self._lock:
            if recorder.closed:  # stop() closed it while this write waited: nothing more can go in
                return
            for block in blocks:
                recorder.add_audio(block)
            for frame in frames:
                recorder.add_frame(frame)

    def _close(self, recorder: Any) -> list:
        with self._lock:
            return recorder.close()

    async def stop(self) -> None:
        if not self._stopped and self._ctx is not None:
            try:  # the last frames and samples on the bus (capture stops first), and audio still waiting
                await self.step(self._ctx, final=True)
            except Exception as exc:  # stop must release the files whatever happened
                log.error("writing the last data failed", extra=kv(error=f"{type(exc).__name__}: {exc}"))
        self._stopped = True
        self._waiting = []
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            before = len(recorder.finished)
            segments = await asyncio.to_thread(self._close, recorder)
            self.segments_written += len(segments) - before
            log.info("recording closed", extra=kv(segments=len(segments)))

    def health(self) -> Mapping[str, HealthValue]:
        return {
            "segments": self.segments_written,
            "dropped": (self._frames.dropped if self._frames else 0) + (self._audio.dropped if self._audio else 0),
            "audio_only": self.recorder is not None and self.recorder.size is None,
        }

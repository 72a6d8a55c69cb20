"""The record stage of the daemon: frames and (processed) audio → GOP-aligned segments of the target recording.

With the software console (``mixer.url: soft://``) the captured audio is processed here through the same console
the mixer stage drives, so the recording carries exactly what the strategy did; with a hardware desk the capture
input is already the desk's processed output. Encoding runs in a worker thread; the queues in front of it are
bounded, and what they drop is counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from liverec_edge.logs import kv
from liverec_edge.pipeline import TOPIC_AUDIO, TOPIC_FRAMES, DropOldestQueue, HealthValue, StageBase, StageContext
from liverec_edge.types import AudioBlock, Frame

log = logging.getLogger("liverec_edge.record")


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

    async def start(self, ctx: StageContext) -> None:
        self._stopped = False
        self._presenter_strip = ctx.config.mixer.channels.get("presenter", 1) - 1
        self._frames = ctx.bus.subscribe(TOPIC_FRAMES, owner=self.name, maxsize=64)
        self._audio = ctx.bus.subscribe(TOPIC_AUDIO, owner=self.name, maxsize=1024)

    def _open(self, ctx: StageContext, frame: Frame) -> None:
        from liverec_edge.record.segments import SegmentRecorder

        config = ctx.config
        height, width = frame.image.shape[:2]
        self.recorder = SegmentRecorder(
            config.record, config.record.directory, origin=frame.t, width=width, height=height,
            fps=config.capture.camera.fps, audio_rate=config.capture.audio.rate, audio_channels=1,
        )
        log.info("recording", extra=kv(directory=str(config.record.directory), size=f"{width}x{height}"))

    async def run(self, ctx: StageContext) -> None:
        assert self._frames is not None and self._audio is not None, "run() before start()"
        while True:
            await asyncio.sleep(0.1)
            self.meter.beat()
            frames = self._frames.drain()
            blocks = [self._processed(b) for b in self._audio.drain()]
            if self.recorder is None:
                if not frames or self._stopped:
                    continue
                self._open(ctx, frames[0])
            before = len(self.recorder.finished)
            await asyncio.to_thread(self._write, frames, blocks)
            self.segments_written += len(self.recorder.finished) - before
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

    def _write(self, frames: list[Frame], blocks: list[AudioBlock]) -> None:
        for block in blocks:
            self.recorder.add_audio(block)
        for frame in frames:
            self.recorder.add_frame(frame)

    async def stop(self) -> None:
        self._stopped = True
        if self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            segments = await asyncio.to_thread(recorder.close)
            log.info("recording closed", extra=kv(segments=len(segments)))

    def health(self) -> Mapping[str, HealthValue]:
        return {
            "segments": self.segments_written,
            "dropped": (self._frames.dropped if self._frames else 0) + (self._audio.dropped if self._audio else 0),
        }

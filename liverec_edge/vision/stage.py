"""The vision stage of the daemon: the newest frame off the bus → part detectors → :class:`FrameParts` on the bus.

Its queue holds one frame: when the detectors fall behind the camera, older frames are dropped (and counted), so
analysis always works on the present. Missing or corrupt models are reported once and the stage idles: the daemon
then runs audio-only, with capture, fault analysis and the mixer unaffected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from liverec_edge.logs import kv
from liverec_edge.pipeline import TOPIC_FRAMES, TOPIC_PARTS, DropOldestQueue, HealthValue, StageBase, StageContext
from liverec_edge.tflite import ModelError
from liverec_edge.types import FrameParts

log = logging.getLogger("liverec_edge.vision")


class VisionStage(StageBase):
    name = "vision"

    def __init__(self) -> None:
        super().__init__()
        self.analyser: Any = None
        self.problem = ""
        self.frames_analysed = 0
        self.bad_frames = 0
        self._frames: DropOldestQueue[Any] | None = None

    async def start(self, ctx: StageContext) -> None:
        from liverec_edge.vision.pipeline import PartAnalyser

        self._frames = ctx.bus.subscribe(TOPIC_FRAMES, owner=self.name, maxsize=1)
        try:
            self.analyser = await asyncio.to_thread(PartAnalyser, ctx.config.vision)
            self.problem = ""
        except (ModelError, OSError, ValueError) as exc:
            self.analyser = None
            self.problem = f"part detectors unavailable, running audio-only: {exc}"
            log.error("part detectors unavailable; running audio-only", extra=kv(error=str(exc)))

    async def run(self, ctx: StageContext) -> None:
        assert self._frames is not None, "run() before start()"
        while True:
            frame = await self._frames.get(timeout=1.0)
            self.meter.beat()
            if frame is None or self.analyser is None:
                continue
            try:
                results = await asyncio.to_thread(self.analyser.analyse, frame)
            except (ValueError, ModelError) as exc:  # a frame or an inference the detectors refuse: skip, go on
                self.bad_frames += 1
                if self.bad_frames <= 3 or self.bad_frames % 100 == 0:
                    log.warning("frame skipped by the part detectors", extra=kv(error=str(exc), count=self.bad_frames))
                continue
            self.frames_analysed += 1
            self.meter.beat(1)
            height, width = frame.image.shape[:2]
            ctx.bus.publish(TOPIC_PARTS, FrameParts(frame.t, frame.index, width, height, tuple(results)))

    def health(self) -> Mapping[str, HealthValue]:
        figures: dict[str, HealthValue] = {
            "analysed": self.frames_analysed,
            "analysis_fps": round(self.meter.rate(), 1),
            "dropped": self._frames.dropped if self._frames else 0,
        }
        if self.analyser is not None:
            for part, counts in self.analyser.stats().items():
                figures[f"{part}_detected"] = counts["detected"]
        if self.problem:
            figures["problem"] = self.problem
        return figures

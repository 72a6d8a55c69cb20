"""The capture runner: one producer thread per source feeding the rings, with counters, progress and recovery.

Public API (what the daemon wires)::

    runner = CaptureRunner(settings.capture, clock=CaptureClock())   # sources built from the settings
    runner = CaptureRunner(settings.capture, clock, camera=my_camera, audio_source=my_audio)   # or given
    runner.start(t_origin=None)             # opens nothing on the caller's thread; returns at once. Offline
                                            # runs pass t_origin=0.0: frame t == the file's pts
    runner.video_ring: VideoRing            # frames, t on the clock
    runner.audio_ring: AudioRing            # samples, av_offset_ms applied
    slot = runner.subscribe_frames()        # LatestSlot[Frame]: `await slot.next()` in an asyncio task
    runner.unsubscribe(slot)
    runner.t_origin -> float | None         # clock time of media time 0 (file, synthetic, scene sources)
    runner.progress() -> float | None       # clock time the newest frame or block was stored (watchdog)
    runner.status() -> CaptureStatus        # states and counters, a snapshot
    runner.wait_ended(timeout) -> bool      # both sources ended by themselves (file runs without loop)
    runner.stop(timeout=0.5) -> bool        # True when both threads joined in time

A source that fails (raises ``SourceError`` or anything else) never takes the process or the other stream down: it
is logged, counted, its state becomes ``failed``, and after ``settings.retry_s`` it is opened again (state
``retrying`` while waiting). Audio keeps running when the camera dies (``status().audio_only``).

Stream states: ``idle`` → ``running`` → ``ended`` (a file reached its end) | ``failed`` ⇄ ``retrying`` |
``stopped``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from liverec_edge.capture.audio_input import make_audio_source
from liverec_edge.capture.base import AudioRead, AudioSource, CameraSource, SourceContext
from liverec_edge.capture.camera import make_camera
from liverec_edge.capture.clock import AudioTimestamper, CaptureClock
from liverec_edge.capture.rings import AudioRing, AudioRingStats, VideoRing, VideoRingStats
from liverec_edge.capture.settings import CaptureSettings
from liverec_edge.capture.slot import LatestSlot
from liverec_edge.logs import kv
from liverec_edge.types import Frame

log = logging.getLogger("liverec_edge.capture")


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """One stream (video or audio) as of the snapshot."""

    source: str
    state: str
    #: frames or blocks stored in the ring
    items: int
    #: capture time just after the newest frame (its t) or block (its t1)
    last_t: float | None
    #: clock time the newest item was stored: the watchdog's progress
    last_at: float | None
    #: clock time the first item was stored
    first_at: float | None
    errors: int
    restarts: int
    last_error: str
    #: video: frames the source skipped because it fell behind plus frames the ring refused (time not increasing);
    #: audio: device overruns
    dropped: int


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    video: StreamStatus
    audio: StreamStatus
    video_ring: VideoRingStats
    audio_ring: AudioRingStats
    #: frames replaced in subscriber slots before they were taken (analysis fell behind)
    slot_drops: int
    #: audio timestamp anchor corrections (start-up delay, clock drift) and fresh anchors after overruns
    audio_reanchors: int
    audio_anchors: int

    @property
    def audio_only(self) -> bool:
        return self.video.state in ("failed", "retrying", "ended") and self.audio.state == "running"


class _Stream:
    """Thread, state and counters of one source."""

    def __init__(self, kind: str, source: CameraSource | AudioSource):
        self.kind = kind
        self.source = source
        self.state = "idle"
        self.items = 0
        self.last_t: float | None = None
        #: the shortest time seen between two stored frames, i.e. the camera's frame interval (a step that spans a
        #: skipped frame or a reopen is longer): where a reopened video source's first frame goes after the last one
        self.frame_step: float | None = None
        self.last_at: float | None = None
        self.first_at: float | None = None
        self.errors = 0
        self.restarts = 0
        self.last_error = ""
        self.refused = 0
        self.thread: threading.Thread | None = None

    def snapshot(self, dropped: int) -> StreamStatus:
        return StreamStatus(
            source=self.source.name, state=self.state, items=self.items, last_t=self.last_t, last_at=self.last_at,
            first_at=self.first_at,
            errors=self.errors, restarts=self.restarts, last_error=self.last_error, dropped=dropped,
        )


class CaptureRunner:
    def __init__(
        self,
        settings: CaptureSettings,
        clock: CaptureClock | None = None,
        *,
        camera: CameraSource | None = None,
        audio_source: AudioSource | None = None,
    ):
        self.settings = settings
        self.clock = clock or CaptureClock()
        camera = camera or make_camera(settings.camera)
        audio_source = audio_source or make_audio_source(settings.audio)
        self.video_ring = VideoRing(settings.video_ring_seconds, int(settings.video_ring_max_mb * 2**20))
        self.audio_ring = AudioRing(audio_source.rate, audio_source.channels, settings.audio_ring_seconds)
        self._av_offset_s = settings.av_offset_ms / 1000.0
        self._video = _Stream("video", camera)
        self._audio = _Stream("audio", audio_source)
        self._stamper = AudioTimestamper(audio_source.rate)
        self._stop = threading.Event()
        self._slots: list[LatestSlot[Frame]] = []
        self._slots_lock = threading.Lock()
        self._closed_slot_drops = 0
        self._t_origin: float | None = None
        self._audio_discontinuity = True  # the first block (and the first after a reopen) anchors audio time

    # -- consumers ------------------------------------------------------------------------------------------------
    def subscribe_frames(self) -> LatestSlot[Frame]:
        """A slot that always holds the newest frame not yet taken by its (one) consumer."""
        slot: LatestSlot[Frame] = LatestSlot()
        with self._slots_lock:
            self._slots.append(slot)
        return slot

    def unsubscribe(self, slot: LatestSlot[Frame]) -> None:
        with self._slots_lock:
            if slot in self._slots:
                self._slots.remove(slot)
                self._closed_slot_drops += slot.dropped
        slot.close()

    @property
    def t_origin(self) -> float | None:
        """Clock time of media time 0 of file, synthetic and scene sources (None before ``start``): the scene
        camera shows ``script.label_at(t - t_origin)`` at capture time t."""
        return self._t_origin

    # -- life cycle -----------------------------------------------------------------------------------------------
    def start(self, t_origin: float | None = None) -> None:
        """Start both producer threads. ``t_origin`` is the clock time media time 0 of file, synthetic and scene
        sources maps to (default: now); offline runs pass 0.0 so that frame times equal the file's pts."""
        if self._t_origin is not None:
            raise RuntimeError("a CaptureRunner starts once")
        # Both sources share one origin, so file/synthetic media times line up on the clock.
        self._t_origin = self.clock.now() if t_origin is None else float(t_origin)
        for stream, handle in ((self._video, self._handle_frame), (self._audio, self._handle_audio)):
            stream.thread = threading.Thread(
                target=self._run, args=(stream, handle), name=f"capture-{stream.kind}", daemon=True
            )
            stream.thread.start()

    def stop(self, timeout: float = 0.5) -> bool:
        """Stop both sources and wait up to ``timeout`` s in all for their threads; True if both ended."""
        self._stop.set()
        deadline = self.clock.now() + timeout
        joined = True
        for stream in (self._video, self._audio):
            if stream.thread is not None:
                stream.thread.join(max(0.0, deadline - self.clock.now()))
                if stream.thread.is_alive():
                    joined = False
                    log.warning("capture source did not stop in time", extra=kv(stream=stream.kind))
        with self._slots_lock:
            slots = list(self._slots)
        for slot in slots:
            slot.close()
        return joined

    def wait_ended(self, timeout: float | None = None) -> bool:
        """Wait until both threads have ended by themselves (files without loop); False on timeout."""
        deadline = None if timeout is None else self.clock.now() + timeout
        for stream in (self._video, self._audio):
            if stream.thread is None:
                return False
            stream.thread.join(None if deadline is None else max(0.0, deadline - self.clock.now()))
            if stream.thread.is_alive():
                return False
        return True

    # -- the producer threads -------------------------------------------------------------------------------------
    def _run(self, stream: _Stream, handle: Callable[[object], None]) -> None:
        source = stream.source
        assert self._t_origin is not None
        t_origin = self._t_origin
        first_open = True
        failures_in_a_row = 0
        while not self._stop.is_set():
            try:
                source.open(SourceContext(self.clock, t_origin, self._stop))
                stream.state = "running"
                if not first_open:
                    log.info("capture source back", extra=kv(stream=stream.kind, source=source.name))
                failures_in_a_row = 0
                while True:
                    item = source.read()
                    if item is None:
                        break
                    handle(item)
                if self._stop.is_set():
                    break
                stream.state = "ended"
                log.info("capture source ended", extra=kv(stream=stream.kind, source=source.name))
                return
            except Exception as exc:
                stream.errors += 1
                stream.last_error = str(exc) or type(exc).__name__
                stream.state = "failed"
                failures_in_a_row += 1
                fields = kv(stream=stream.kind, source=source.name, error=stream.last_error, errors=stream.errors)
                if failures_in_a_row == 1:
                    log.error("capture source failed", extra=fields)
                    if stream.kind == "video":
                        log.warning("video lost: capture continues audio-only")
                elif failures_in_a_row & (failures_in_a_row - 1) == 0:  # 2, 4, 8...: an unplugged device
                    log.warning("capture source still failing", extra=fields)  # does not flood the journal
            finally:
                try:
                    source.close()
                except Exception as exc:
                    log.warning("closing capture source failed", extra=kv(stream=stream.kind, error=str(exc)))
            if self.settings.retry_s <= 0:
                return
            stream.state = "retrying"
            if self._stop.wait(self.settings.retry_s):
                break
            stream.restarts += 1
            first_open = False
            # Media time starts again from 0 in a reopened file/generated source: place it after what is stored.
            # A frame's time is its start, so the first new frame goes one frame interval after the last stored
            # one (an unpaced source runs ahead of the clock: at last_t itself the ring would refuse it).
            after_stored = (stream.last_t + (stream.frame_step or 0.0)) if stream.last_t is not None else t_origin
            t_origin = max(self.clock.now(), after_stored)
            if stream.kind == "audio":
                self._audio_discontinuity = True
        stream.state = "stopped"

    def _handle_frame(self, item: object) -> None:
        t, image = item  # type: ignore[misc]
        frame = self.video_ring.put(t, image)
        stream = self._video
        if frame is None:
            stream.refused += 1
            return
        stream.items += 1
        if stream.last_t is not None:
            step = frame.t - stream.last_t
            stream.frame_step = step if stream.frame_step is None else min(stream.frame_step, step)
        stream.last_t = frame.t
        stream.last_at = self.clock.now()
        if stream.first_at is None:
            stream.first_at = stream.last_at
        with self._slots_lock:
            slots = list(self._slots)
        for slot in slots:
            slot.put(frame)

    def _handle_audio(self, item: object) -> None:
        block: AudioRead = item  # type: ignore[assignment]
        n = block.samples.shape[0]
        discontinuity = block.discontinuity or self._audio_discontinuity
        if block.t0 is not None:
            t0 = block.t0
        else:
            arrived = block.arrived_at if block.arrived_at is not None else self.clock.now()
            t0 = self._stamper.stamp(n, arrived, discontinuity=discontinuity)
        self._audio_discontinuity = False
        t0 += self._av_offset_s
        self.audio_ring.write(block.samples, t0, discontinuity=discontinuity)
        stream = self._audio
        stream.items += 1
        stream.last_t = t0 + n / self.audio_ring.rate
        stream.last_at = self.clock.now()
        if stream.first_at is None:
            stream.first_at = stream.last_at

    # -- observation ----------------------------------------------------------------------------------------------
    def progress(self) -> float | None:
        """Clock time the newest frame or audio block was stored; None before the first."""
        times = [t for t in (self._video.last_at, self._audio.last_at) if t is not None]
        return max(times) if times else None

    def status(self) -> CaptureStatus:
        with self._slots_lock:
            slot_drops = self._closed_slot_drops + sum(slot.dropped for slot in self._slots)
        camera_dropped = getattr(self._video.source, "dropped", 0)
        return CaptureStatus(
            video=self._video.snapshot(camera_dropped + self._video.refused),
            audio=self._audio.snapshot(getattr(self._audio.source, "overruns", 0)),
            video_ring=self.video_ring.stats(),
            audio_ring=self.audio_ring.stats(),
            slot_drops=slot_drops,
            audio_reanchors=self._stamper.reanchors,
            audio_anchors=self._stamper.anchors,
        )

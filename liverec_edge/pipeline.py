"""Stage plumbing: the :class:`Stage` interface, the context every stage gets, a bounded event bus, and the
supervisor that restarts a failing stage with backoff (or disables it) so one bad stage never takes the daemon down.

How a stage plugs in
--------------------
1. Write a class with the :class:`Stage` shape (subclassing :class:`StageBase` gives every method a default)::

       class VisionStage(StageBase):
           name = "vision"

           async def start(self, ctx: StageContext) -> None:      # open models/devices; raise if impossible
               self.frames = ctx.bus.subscribe(TOPIC_FRAMES, owner=self.name, maxsize=2)

           async def run(self, ctx: StageContext) -> None:        # loop until cancelled
               while True:
                   frame = await self.frames.get(timeout=1.0)     # None on timeout: still alive, nothing new
                   self.meter.beat()                               # proves progress to the watchdog
                   if frame is not None:
                       parts = await asyncio.to_thread(detect, frame)
                       ctx.bus.publish(TOPIC_PARTS, parts)

2. Add it to the list in :func:`liverec_edge.daemon.build_stages`.

Rules the supervisor relies on
------------------------------
- ``run`` loops until cancelled; returning means "finished for good" (a file source at its end), raising means
  "failed": the supervisor calls ``stop``, waits (0.5 s, 1 s, 2 s … ≤ 10 s) and calls ``start`` + ``run`` again.
  A non-critical stage that fails 5 times in a row is disabled; a critical one (capture) is retried for ever.
- ``stop`` releases what ``start`` acquired (threads, devices, files) within ``daemon.shutdown_timeout_s``; it must be
  idempotent and safe after a half-done ``start``. Bus subscriptions made with ``owner=self.name`` are dropped
  automatically after ``stop``.
- ``progress()`` is the ``time.monotonic()`` of the stage's last sign of life, or None for a stage that is idle by
  design (the control server). The systemd watchdog is only fed while every tracked stage has progressed within
  ``daemon.watchdog_stall_s``; an event-driven stage should wake at least every second and ``beat()``.
- Blocking work (TFLite inference, file I/O) goes to ``asyncio.to_thread``: a stage that blocks the event loop
  stops the watchdog for everyone, which is exactly what the watchdog is for.
- ``reconfigure(config, changed)`` gets the new config after a SIGHUP and the dotted keys that changed; it applies
  what it can live and returns those keys. The daemon logs every changed key nobody applied as "needs a restart".
- Nothing queues without bound: bus subscriptions drop their oldest item when full and count it.

What the context offers
-----------------------
- ``ctx.config``: the validated :class:`~liverec_edge.config.Config` (newest after a reload).
- ``ctx.clock()``: seconds on the capture clock (``time.monotonic`` based); ``ctx.rings.video`` / ``.audio``: the
  capture rings (``slice(t0, t1)``), set once the capture stage has started.
- ``ctx.bus``: ``subscribe(topic, owner=self.name, maxsize=n)`` → :class:`DropOldestQueue`; ``publish(topic, x)``.
  Topics and their payload types are the ``TOPIC_*`` constants below.
- ``ctx.control``: the operator's :class:`~liverec_edge.control.state.ControlState`. The mixer acts only while
  ``ctx.control.may_act`` (armed and not bypassed) and undoes its changes when ``release_generation`` grows (or on a
  ``ControlChange("release")`` on ``TOPIC_CONTROL``); the fault analysis uses
  ``ctx.control.threshold_for(fault_type, configured_threshold)`` so tablet overrides apply at once.
- ``health()`` keys the daemon understands: ``fps``, ``frames``, ``audio_rate`` (capture), ``drops`` (captured
  data lost: camera frames skipped, ALSA overruns; summed into STATUS), ``desk`` (mixer: e.g. ``"connected"``,
  ``"lost"``), ``problem`` (a non-empty text marks the daemon degraded in STATUS and on the tablet, e.g. capture's
  ``"video retrying"`` while it runs audio-only). Bus queue drops are counted by the daemon itself ("skipped").
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from liverec_edge.logs import kv

if TYPE_CHECKING:
    from liverec_edge.config import Config
    from liverec_edge.control.state import ControlState, DaemonStatus

log = logging.getLogger("liverec_edge.pipeline")

# Bus topics and what travels on them (types from liverec_edge.types).
TOPIC_FRAMES = "frames"  # Frame, as capture stores it in the video ring
TOPIC_AUDIO = "audio"  # AudioBlock, as capture stores it in the audio ring
TOPIC_PARTS = "parts"  # list[PartResult] for one frame
TOPIC_TAGS = "tags"  # Tag (re-published while open, once more when closed)
TOPIC_FAULTS = "faults"  # FaultEvent
TOPIC_ACTIONS = "actions"  # Action applied to (or released from) the desk
TOPIC_CONTROL = "control"  # ControlChange from the tablet: arm, bypass, threshold, release

HealthValue = float | int | str | bool
T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """A bounded single-consumer queue for the event loop: a full queue drops its oldest item and counts it.

    Analysis that falls behind should work on the newest data, so dropping the oldest is the right loss; the count
    shows up in STATUS and ``/liverec/status``. Items are never None (None means "timed out" from :meth:`get`).
    """

    def __init__(self, maxsize: int, name: str = "", owner: str = ""):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.name = name
        self.owner = owner
        self._items: deque[T] = deque(maxlen=maxsize)
        self._nonempty = asyncio.Event()
        self.dropped = 0
        self.delivered = 0

    @property
    def maxsize(self) -> int:
        return self._items.maxlen or 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> bool:
        """Add ``item``; returns True when the oldest item was dropped to make room."""
        dropped = len(self._items) == self._items.maxlen
        if dropped:
            self.dropped += 1
        self._items.append(item)  # a full deque(maxlen) discards from the left by itself
        self._nonempty.set()
        return dropped

    def get_nowait(self) -> T | None:
        if not self._items:
            return None
        item = self._items.popleft()
        if not self._items:
            self._nonempty.clear()
        self.delivered += 1
        return item

    async def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting for one; None if ``timeout`` seconds pass first."""
        while not self._items:
            try:
                await asyncio.wait_for(self._nonempty.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        return self.get_nowait()

    def drain(self) -> list[T]:
        items = list(self._items)
        self._items.clear()
        self._nonempty.clear()
        self.delivered += len(items)
        return items


class EventBus:
    """Topic → subscribers fan-out on the event loop. Publishing never blocks and never grows memory.

    Only call it from the event loop thread: capture threads hand data over through the rings, and the capture stage
    publishes from the loop.
    """

    def __init__(self, default_maxsize: int = 16):
        self.default_maxsize = default_maxsize
        self._subscribers: dict[str, list[DropOldestQueue[Any]]] = {}
        self._published: dict[str, int] = {}
        # Drops of queues that were unsubscribed (a stage restarted) still count in the totals.
        self._retired_drops = 0

    def subscribe(self, topic: str, *, owner: str, maxsize: int | None = None) -> DropOldestQueue[Any]:
        queue: DropOldestQueue[Any] = DropOldestQueue(maxsize or self.default_maxsize, name=topic, owner=owner)
        self._subscribers.setdefault(topic, []).append(queue)
        return queue

    def unsubscribe(self, queue: DropOldestQueue[Any]) -> None:
        subscribers = self._subscribers.get(queue.name, [])
        if queue in subscribers:
            subscribers.remove(queue)
            self._retired_drops += queue.dropped

    def unsubscribe_owner(self, owner: str) -> None:
        for subscribers in self._subscribers.values():
            for queue in [q for q in subscribers if q.owner == owner]:
                self.unsubscribe(queue)

    def publish(self, topic: str, item: Any) -> None:
        self._published[topic] = self._published.get(topic, 0) + 1
        for queue in self._subscribers.get(topic, ()):
            queue.put(item)

    def published(self, topic: str) -> int:
        return self._published.get(topic, 0)

    @property
    def dropped(self) -> int:
        return self._retired_drops + sum(q.dropped for qs in self._subscribers.values() for q in qs)

    def drops_by_subscriber(self) -> dict[str, int]:
        return {f"{q.owner}:{q.name}": q.dropped for qs in self._subscribers.values() for q in qs if q.dropped}


class ProgressMeter:
    """A stage's sign of life and throughput: call :meth:`beat` whenever work got done (or an idle wait ended)."""

    def __init__(self, rate_window_s: float = 2.0):
        self.created = time.monotonic()
        self.last: float | None = None
        self.count = 0
        self._window_s = rate_window_s
        self._window: deque[float] = deque(maxlen=4096)

    def beat(self, items: int = 0) -> None:
        now = time.monotonic()
        self.last = now
        if items:
            self.count += items
            self._window.extend([now] * min(items, 64))

    def rate(self) -> float:
        """Items per second over the last ``rate_window_s`` seconds."""
        now = time.monotonic()
        while self._window and now - self._window[0] > self._window_s:
            self._window.popleft()
        return len(self._window) / self._window_s


@dataclass
class Rings:
    """The capture rings, filled in by the capture stage's ``start`` (None until then)."""

    video: Any = None
    audio: Any = None


class StageContext:
    """What every stage gets: the current validated config, the clock, the rings, the bus and the control state.

    ``config`` is always the newest valid config; after a SIGHUP reload the daemon swaps it and calls each stage's
    ``reconfigure``. A stage that copied settings in ``start`` keeps them until it is restarted.
    """

    def __init__(
        self,
        config: Config,
        *,
        bus: EventBus,
        control: ControlState,
        clock: Callable[[], float] = time.monotonic,
        rings: Rings | None = None,
    ):
        self._config = config
        self.bus = bus
        self.control = control
        #: Seconds on the capture clock; the capture stage replaces it with its own clock in ``start``.
        self.clock = clock
        self.rings = rings or Rings()
        #: The daemon's status report (what the tablet sees); set by the daemon, None when a stage runs alone.
        self.status: Callable[[], DaemonStatus] | None = None

    @property
    def config(self) -> Config:
        return self._config

    def replace_config(self, config: Config) -> None:
        self._config = config


@runtime_checkable
class Stage(Protocol):
    """One supervised part of the pipeline. See the module docstring for the contract."""

    name: str
    #: Critical stages (capture) gate READY=1, are never disabled, and always count for the watchdog.
    critical: bool

    async def start(self, ctx: StageContext) -> None: ...

    async def run(self, ctx: StageContext) -> None: ...

    async def stop(self) -> None: ...

    def progress(self) -> float | None: ...

    def health(self) -> Mapping[str, HealthValue]:
        """Figures for STATUS and ``/liverec/status``. Well-known keys: ``fps``, ``audio_rate``, ``drops``,
        ``desk`` (e.g. "connected"), ``frames``."""
        ...

    def reconfigure(self, config: Config, changed: frozenset[str]) -> set[str]:
        """Apply changed keys (dotted paths like ``audio.thresholds.hum``) live; return the ones applied."""
        ...


class StageBase:
    """Defaults for every :class:`Stage` method; ``self.meter`` is the progress the watchdog reads."""

    name = "stage"
    critical = False
    #: Config keys (or key prefixes ending in ".") this stage reads from ``ctx.config`` at each use, so a reload
    #: applies them without anything else to do, e.g. ``("audio.types.", "logging.")``. The default
    #: :meth:`reconfigure` reports these as applied.
    live_keys: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.meter = ProgressMeter()

    async def start(self, ctx: StageContext) -> None:
        return None

    async def run(self, ctx: StageContext) -> None:
        while True:
            self.meter.beat()
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        return None

    def progress(self) -> float | None:
        # Never None (None declares "idle by design"): before its first beat a stage counts from its creation, so
        # one that never gets going is a stall once the grace is over.
        return self.meter.last if self.meter.last is not None else self.meter.created

    def health(self) -> Mapping[str, HealthValue]:
        return {}

    def reconfigure(self, config: Config, changed: frozenset[str]) -> set[str]:
        return {key for key in changed
                if any(key == live or (live.endswith(".") and key.startswith(live)) for live in self.live_keys)}


class PassThroughStage(StageBase):
    """Takes what capture produces off the bus and passes it on unchanged: the shape of every analysis stage.

    It counts frames and audio blocks (its progress is the watchdog's proof that data flows end to end) and, when
    ``output_topic`` is set, re-publishes frames there. Its queues are deliberately short: a consumer that falls
    behind skips to the newest data and the skipped items are counted as drops.
    """

    name = "passthrough"

    def __init__(self, output_topic: str | None = None, queue_size: int = 4):
        super().__init__()
        self.output_topic = output_topic
        self.queue_size = queue_size
        self.frames_seen = 0
        self.audio_blocks_seen = 0
        self._frames: DropOldestQueue[Any] | None = None
        self._audio: DropOldestQueue[Any] | None = None

    async def start(self, ctx: StageContext) -> None:
        self._frames = ctx.bus.subscribe(TOPIC_FRAMES, owner=self.name, maxsize=self.queue_size)
        self._audio = ctx.bus.subscribe(TOPIC_AUDIO, owner=self.name, maxsize=self.queue_size * 4)

    async def run(self, ctx: StageContext) -> None:
        frames, audio = self._frames, self._audio
        if frames is None or audio is None:
            raise RuntimeError("run() before start()")
        while True:
            frame = await frames.get(timeout=0.5)
            if frame is not None:
                self.frames_seen += 1
                self.meter.beat(1)
                if self.output_topic:
                    ctx.bus.publish(self.output_topic, frame)
            blocks = audio.drain()
            if blocks:
                self.audio_blocks_seen += len(blocks)
                self.meter.beat()

    def health(self) -> Mapping[str, HealthValue]:
        drops = (self._frames.dropped if self._frames else 0) + (self._audio.dropped if self._audio else 0)
        return {"frames": self.frames_seen, "audio_blocks": self.audio_blocks_seen,
                "fps": round(self.meter.rate(), 1), "queue_drops": drops}


class StageState(str, enum.Enum):
    starting = "starting"
    running = "running"
    backoff = "backoff"  # failed, waiting to be restarted
    finished = "finished"  # run() returned: nothing more to do (a file source at its end)
    disabled = "disabled"  # failed too often; the rest of the daemon carries on without it
    stopped = "stopped"


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 0.5
    max_delay_s: float = 10.0
    #: Consecutive failures after which a non-critical stage is disabled.
    max_failures: int = 5
    #: A stage that ran this long before failing is considered recovered: its failure count starts again.
    healthy_after_s: float = 30.0
    #: How long a non-critical stage's ``start`` (loading models, connecting to the desk) may take before it counts
    #: as stalled; capture has no such grace: READY=1 waits for it, and after READY it is tracked from its progress.
    start_grace_s: float = 30.0

    def delay_after(self, failures: int) -> float:
        """Backoff before the next attempt: doubling from ``first_delay_s``, at most ``max_delay_s``."""
        # The exponent is capped: a critical stage retried for days must not overflow the float.
        return min(self.first_delay_s * 2.0 ** min(max(failures - 1, 0), 30), self.max_delay_s)


@dataclass
class StageRecord:
    stage: Stage
    state: StageState = StageState.starting
    failures: int = 0
    restarts: int = 0
    last_error: str = ""
    started_progress: float | None = None
    first_started: float = field(default_factory=time.monotonic)
    attempt_started: float = field(default_factory=time.monotonic)
    ever_progressed: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Pipeline:
    """Runs the stages, each in its own supervised task, and answers the daemon's questions about them."""

    def __init__(self, ctx: StageContext, stages: Iterable[Stage], policy: RestartPolicy | None = None):
        self.ctx = ctx
        self.policy = policy or RestartPolicy()
        self.records: dict[str, StageRecord] = {}
        for stage in stages:
            if stage.name in self.records:
                raise ValueError(f"two stages are named {stage.name!r}")
            self.records[stage.name] = StageRecord(stage)
        self._stopping = False

    def start(self) -> None:
        for record in self.records.values():
            record.first_started = time.monotonic()
            record.task = asyncio.create_task(self._supervise(record), name=f"stage:{record.stage.name}")

    async def _supervise(self, record: StageRecord) -> None:
        stage = record.stage
        while not self._stopping:
            record.state = StageState.starting
            record.started_progress = stage.progress()
            started_at = record.attempt_started = time.monotonic()
            try:
                await stage.start(self.ctx)
                record.state = StageState.running
                log.info("stage running", extra=kv(stage=stage.name, restarts=record.restarts))
                await stage.run(self.ctx)
            except asyncio.CancelledError:
                raise
            except (Exception, SystemExit) as exc:  # a stage bug or bad input must never take the daemon down
                if self._stopping:
                    return
                if time.monotonic() - started_at >= self.policy.healthy_after_s:
                    record.failures = 0
                record.failures += 1
                record.last_error = f"{type(exc).__name__}: {exc}"
                log.error("stage failed", exc_info=True,
                          extra=kv(stage=stage.name, failures=record.failures, error=record.last_error))
                await self._stop_stage(record)
                if not stage.critical and record.failures >= self.policy.max_failures:
                    record.state = StageState.disabled
                    log.error("stage disabled after repeated failures; the daemon carries on without it",
                              extra=kv(stage=stage.name, failures=record.failures))
                    return
                delay = self.policy.delay_after(record.failures)
                record.state = StageState.backoff
                log.warning("stage restarting", extra=kv(stage=stage.name, in_s=delay))
                await asyncio.sleep(delay)
                record.restarts += 1
                continue
            if not self._stopping:
                record.state = StageState.finished
                log.warning("stage finished", extra=kv(stage=stage.name))
                # Release what it holds; its bus queues would otherwise fill and count drops for ever.
                await self._stop_stage(record)
            return

    async def _stop_stage(self, record: StageRecord) -> None:
        try:
            await asyncio.wait_for(record.stage.stop(), self.ctx.config.daemon.shutdown_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("stage stop failed", extra=kv(stage=record.stage.name, error=f"{type(exc).__name__}: {exc}"))
        self.ctx.bus.unsubscribe_owner(record.stage.name)

    async def stop(self, timeout_s: float) -> None:
        """Stop every stage, then cancel what is left; returns within about ``timeout_s`` + 0.2 s.

        Producers (critical stages: capture) stop first, with up to half the time, so the consumers that stop next
        (the recorder above all) find the last frames and samples in the rings and can flush them.
        """
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        records = list(self.records.values())
        producers = [r for r in records if r.stage.critical]
        consumers = [r for r in records if not r.stage.critical]
        pending: set[asyncio.Task[None]] = set()
        for phase, share in ((producers, 0.5 if consumers else 1.0), (consumers, 1.0)):
            if not phase:
                continue
            budget = max(0.0, min(timeout_s * share, deadline - loop.time()))
            stops = [asyncio.create_task(self._stop_stage(r)) for r in phase]
            _, late = await asyncio.wait(stops, timeout=budget)
            pending |= late
        for task in pending:
            task.cancel()
        runners = [r.task for r in records if r.task is not None]
        for task in runners:
            task.cancel()
        # A cancelled stage gets a short grace to unwind; a stuck one is abandoned (its threads are daemon threads).
        if runners or pending:
            await asyncio.wait([*runners, *pending], timeout=0.2)
        for record in records:
            if record.state not in (StageState.disabled, StageState.finished):
                record.state = StageState.stopped

    # --- questions the daemon asks ---------------------------------------------------------------------------

    def producing(self) -> bool:
        """True once every critical stage has made progress (capture delivers): the moment for READY=1."""
        for record in self.records.values():
            last = record.stage.progress()
            if last is not None and last != record.started_progress:
                record.ever_progressed = True
        return all(r.ever_progressed for r in self.records.values() if r.stage.critical)

    def stalled(self, stall_s: float, now: float | None = None) -> list[str]:
        """Names of stages whose progress is older than ``stall_s`` (an empty list means the pipeline is healthy).

        Every stage gets ``stall_s`` from the pipeline's start to show progress; a non-critical stage still in
        ``start`` gets ``policy.start_grace_s`` (model loading on a busy box). Non-critical stages that are disabled,
        finished or backing off are left out (STATUS reports them): systemd restarting the whole daemon would
        interrupt capture for a stage the supervisor is already handling. A critical stage is always tracked, from
        its last real progress.
        """
        now = time.monotonic() if now is None else now
        stalled = []
        for name, record in self.records.items():
            stage = record.stage
            if not stage.critical and record.state in (StageState.disabled, StageState.finished, StageState.backoff):
                continue
            last = stage.progress()
            if last is None and record.state == StageState.running and not stage.critical:
                continue  # idle by design (progress() is None): only a blocked event loop can stall it
            # A critical stage that keeps failing is a stall however often it restarts: measure from its last real
            # progress. A non-critical one gets the grace again for each restart attempt.
            reference = record.first_started if last is None else last
            if not stage.critical and record.state == StageState.starting:
                reference = max(reference, record.attempt_started + max(0.0, self.policy.start_grace_s - stall_s))
            if now - reference > stall_s:
                stalled.append(name)
        return stalled

    def health(self) -> dict[str, dict[str, HealthValue]]:
        report: dict[str, dict[str, HealthValue]] = {}
        for name, record in self.records.items():
            try:
                values = dict(record.stage.health())
            except Exception as exc:  # health is advisory; a broken one must not break STATUS
                values = {"health_error": type(exc).__name__}
            values["state"] = record.state.value
            if record.restarts:
                values["restarts"] = record.restarts
            report[name] = values
        return report

    def reconfigure(self, config: Config, changed: frozenset[str]) -> set[str]:
        applied: set[str] = set()
        for record in self.records.values():
            if record.state in (StageState.disabled, StageState.finished, StageState.stopped):
                continue
            try:
                applied |= set(record.stage.reconfigure(config, changed)) & changed
            except Exception as exc:
                log.error("stage reconfigure failed", extra=kv(stage=record.stage.name, error=str(exc)))
        return applied


class CaptureStage(StageBase):
    """Capture as a stage: runs the :class:`~liverec_edge.capture.runner.CaptureRunner` (its producer threads fill
    the rings) and, on the event loop, publishes each new frame and each new stretch of audio on the bus.

    ``start`` puts the runner's rings and clock into the context, so every stage reads the same rings by time. The
    bus carries notifications of new data (frames by reference, audio as fresh blocks); a consumer that needs an
    exact span asks the rings. Capture settings cannot change live: a reload logs them as needing a restart, and
    capture is never stopped by a reload.
    """

    name = "capture"
    critical = True

    #: Longest wait for a frame before audio is published anyway (audio-only operation, a slow camera).
    AUDIO_EVERY_S = 0.1

    def __init__(self) -> None:
        super().__init__()
        self.runner: Any = None
        self._stopped_runner: Any = None
        self._slot: Any = None
        self._audio_t: float | None = None
        self._frames_published = 0

    async def start(self, ctx: StageContext) -> None:
        from liverec_edge.capture.clock import CaptureClock
        from liverec_edge.capture.runner import CaptureRunner

        # The default CaptureClock reads time.monotonic(): progress, stall checks and capture times share one clock.
        runner = CaptureRunner(ctx.config.capture, CaptureClock())
        self.runner, self._stopped_runner = runner, None
        ctx.clock = runner.clock.now
        ctx.rings.video = runner.video_ring
        ctx.rings.audio = runner.audio_ring
        self._slot = runner.subscribe_frames()
        self._audio_t = None
        runner.start()
        log.info("capture started", extra=kv(camera=ctx.config.capture.camera.kind,
                                             audio=ctx.config.capture.audio.kind, rate=runner.audio_ring.rate))

    async def run(self, ctx: StageContext) -> None:
        from liverec_edge.capture.slot import SlotClosed

        runner, slot = self.runner, self._slot
        if runner is None or slot is None:
            raise RuntimeError("run() before start()")
        while True:
            try:
                frame = await slot.next(timeout=self.AUDIO_EVERY_S)
            except (asyncio.TimeoutError, TimeoutError):
                frame = None
            except SlotClosed:
                return
            if frame is not None:
                ctx.bus.publish(TOPIC_FRAMES, frame)
                self._frames_published += 1
                self.meter.beat(1)
            self._publish_new_audio(ctx)
            if frame is None and self._both_streams_ended():
                return  # files without loop: capture is complete

    def _publish_new_audio(self, ctx: StageContext) -> None:
        ring = self.runner.audio_ring
        span = ring.span()
        if span is None:
            return
        if self._audio_t is None or self._audio_t < span[0]:
            self._audio_t = span[0]
        if span[1] - self._audio_t <= 0.5 / ring.rate:
            return
        block = ring.read_from(self._audio_t)
        if block.frames:
            ctx.bus.publish(TOPIC_AUDIO, block)
            self._audio_t = block.t1

    def _both_streams_ended(self) -> bool:
        status = self.runner.status()
        return status.video.state == "ended" and status.audio.state == "ended"

    async def stop(self) -> None:
        runner, self.runner = self.runner, None
        if runner is None:
            return
        self._stopped_runner = runner  # its final figures stay readable through health()
        if self._slot is not None:
            runner.unsubscribe(self._slot)
            self._slot = None
        # Joining the producer threads blocks: off the loop, so the watchdog and the other stages are not held up.
        await asyncio.to_thread(runner.stop, 0.5)

    def progress(self) -> float | None:
        runner = self.runner
        produced = runner.progress() if runner is not None else None
        if produced is not None:
            return produced
        return self.meter.last if self.meter.last is not None else self.meter.created

    def health(self) -> Mapping[str, HealthValue]:
        runner = self.runner or self._stopped_runner
        if runner is None:
            return {}
        status = runner.status()
        problems = [f"{kind} {stream.state}" for kind, stream in (("video", status.video), ("audio", status.audio))
                    if stream.state in ("failed", "retrying", "ended")]
        return {
            "problem": ", ".join(problems),
            "frames": status.video.items,
            "fps": round(self.meter.rate(), 1),
            "audio_rate": runner.audio_ring.rate,
            "drops": status.video.dropped + status.audio.dropped + status.slot_drops,
            "video": status.video.state,
            "audio": status.audio.state,
            "audio_gaps": status.audio_ring.gaps,
        }

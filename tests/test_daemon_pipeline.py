"""The stage plumbing in one event loop: bounded queues, the bus, supervision with backoff, stalls, reconfigure,
and the daemon's status assembled from what stages publish."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import pytest

from liverec_edge.config import Config, config_from_dict
from liverec_edge.control.state import ControlState
from liverec_edge.daemon import Daemon, changed_keys, run_daemon
from liverec_edge.pipeline import (
    TOPIC_FAULTS,
    TOPIC_TAGS,
    DropOldestQueue,
    EventBus,
    HealthValue,
    PassThroughStage,
    Pipeline,
    RestartPolicy,
    StageBase,
    StageContext,
    StageState,
)
from liverec_edge.types import FaultEvent, Tag

FAST = RestartPolicy(first_delay_s=0.01, max_delay_s=0.05, max_failures=3, healthy_after_s=60)


def make_ctx(config: Config | None = None) -> StageContext:
    return StageContext(config or Config(), bus=EventBus(), control=ControlState(armed=True))


class Ticker(StageBase):
    """Makes progress every 10 ms; critical like capture."""

    name = "ticker"
    critical = True

    def __init__(self) -> None:
        super().__init__()
        self.ticks = 0

    async def run(self, ctx: StageContext) -> None:
        while True:
            await asyncio.sleep(0.01)
            self.ticks += 1
            self.meter.beat(1)


class Exploding(StageBase):
    """Raises shortly after every start; counts starts and stops."""

    name = "exploding"

    def __init__(self, critical: bool = False, in_start: bool = False):
        super().__init__()
        self.critical = critical
        self.in_start = in_start
        self.starts = 0
        self.stops = 0

    async def start(self, ctx: StageContext) -> None:
        self.starts += 1
        ctx.bus.subscribe(TOPIC_TAGS, owner=self.name)
        if self.in_start:
            raise OSError("device vanished")

    async def run(self, ctx: StageContext) -> None:
        await asyncio.sleep(0.005)
        if self.starts % 2:
            raise ValueError("bad input")
        raise SystemExit("a stage calling sys.exit is a bug, not a reason to stop the daemon")

    async def stop(self) -> None:
        self.stops += 1


def test_drop_oldest_queue_keeps_the_newest_and_counts_drops() -> None:
    async def scenario() -> None:
        queue: DropOldestQueue[int] = DropOldestQueue(3)
        for i in range(10):
            queue.put(i)
        assert len(queue) == 3 and queue.dropped == 7
        assert [await queue.get(), queue.get_nowait(), queue.get_nowait()] == [7, 8, 9]
        assert await queue.get(timeout=0.01) is None
        queue.put(42)
        assert queue.drain() == [42] and queue.delivered == 4

    asyncio.run(scenario())


def test_bus_fans_out_with_independent_bounds_and_keeps_drop_counts_of_retired_queues() -> None:
    async def scenario() -> None:
        bus = EventBus()
        slow = bus.subscribe("t", owner="slow", maxsize=2)
        fast = bus.subscribe("t", owner="fast", maxsize=100)
        for i in range(50):
            bus.publish("t", i)
        assert slow.drain() == [48, 49] and slow.dropped == 48
        assert len(fast.drain()) == 50 and fast.dropped == 0
        assert bus.published("t") == 50 and bus.dropped == 48
        bus.unsubscribe_owner("slow")
        bus.publish("t", 50)
        assert bus.dropped == 48, "drops of an unsubscribed queue still count"
        assert fast.drain() == [50]

    asyncio.run(scenario())


def test_failing_stage_is_restarted_then_disabled_while_capture_keeps_going() -> None:
    async def scenario() -> None:
        ctx = make_ctx()
        ticker, bad = Ticker(), Exploding()
        pipeline = Pipeline(ctx, [ticker, bad], FAST)
        pipeline.start()
        deadline = time.monotonic() + 5
        while pipeline.records["exploding"].state != StageState.disabled and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        record = pipeline.records["exploding"]
        assert record.state == StageState.disabled
        assert bad.starts == FAST.max_failures and bad.stops == FAST.max_failures, "stop() after every failure"
        assert record.last_error.startswith(("ValueError: bad input", "SystemExit: a stage calling"))
        ticks = ticker.ticks
        await asyncio.sleep(0.1)
        assert ticker.ticks > ticks, "capture keeps going"
        assert pipeline.stalled(stall_s=0.5) == [], "a disabled non-critical stage does not starve the watchdog"
        assert pipeline.health()["exploding"]["state"] == "disabled"
        assert ctx.bus._subscribers.get(TOPIC_TAGS) == [], "a failed stage's subscriptions are dropped"
        await pipeline.stop(0.5)

    asyncio.run(scenario())


def test_critical_stage_is_never_disabled() -> None:
    async def scenario() -> None:
        bad = Exploding(critical=True, in_start=True)
        pipeline = Pipeline(make_ctx(), [bad], FAST)
        pipeline.start()
        await asyncio.sleep(0.6)
        assert bad.starts > FAST.max_failures + 2
        assert pipeline.records["exploding"].state in (StageState.backoff, StageState.starting)
        assert pipeline.stalled(stall_s=0.1) == ["exploding"], "a critical stage that cannot run is a stall"
        await pipeline.stop(0.5)

    asyncio.run(scenario())


def test_stop_is_bounded_even_when_a_stage_hangs_in_stop_and_ignores_cancel() -> None:
    class Stubborn(StageBase):
        name = "stubborn"

        async def run(self, ctx: StageContext) -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                await asyncio.sleep(10)  # a bug: ignores the first cancellation (the second, at loop close, ends it)

        async def stop(self) -> None:
            await asyncio.sleep(30)

    async def scenario() -> float:
        pipeline = Pipeline(make_ctx(config_from_dict({"daemon": {"shutdown_timeout_s": 0.3}})), [Stubborn(), Ticker()])
        pipeline.start()
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await pipeline.stop(0.3)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.5


def test_stall_rules() -> None:
    class Idle(StageBase):
        name = "idle"

        def progress(self) -> float | None:
            return None

    async def scenario() -> None:
        ticker, idle, passthrough = Ticker(), Idle(), PassThroughStage()
        pipeline = Pipeline(make_ctx(), [ticker, idle, passthrough])
        pipeline.start()
        await asyncio.sleep(0.1)
        assert pipeline.producing()
        now = time.monotonic()
        assert pipeline.stalled(5.0, now) == []
        # Nothing published on the bus: the pass-through has no progress; once its grace is over it is stalled.
        assert pipeline.stalled(5.0, now + 10) == ["ticker", "passthrough"]
        assert "idle" not in pipeline.stalled(0.01, now + 10), "idle by design never stalls"
        await pipeline.stop(0.5)

    asyncio.run(scenario())


def test_reconfigure_collects_what_stages_applied_and_survives_a_broken_one() -> None:
    class Thresholds(StageBase):
        name = "thresholds"

        def reconfigure(self, config: Config, changed: frozenset[str]) -> set[str]:
            return {k for k in changed if k.startswith("audio.")} | {"not.a.changed.key"}

    class Declared(StageBase):
        name = "declared"
        live_keys = ("capture.camera.", "vision.num_threads")

    class Broken(StageBase):
        name = "broken"

        def reconfigure(self, config: Config, changed: frozenset[str]) -> set[str]:
            raise RuntimeError("oops")

    async def scenario() -> None:
        pipeline = Pipeline(make_ctx(), [Thresholds(), Broken(), Declared()])
        pipeline.start()
        await asyncio.sleep(0.02)
        changed = frozenset({"audio.types.hum.threshold", "capture.camera.fps", "capture.audio.rate",
                             "vision.num_threads_x"})
        assert pipeline.reconfigure(Config(), changed) == {"audio.types.hum.threshold", "capture.camera.fps"}
        await pipeline.stop(0.5)

    asyncio.run(scenario())


def test_changed_keys_are_dotted_leaf_paths() -> None:
    old = Config().model_dump()
    new = config_from_dict({"logging": {"level": "debug"}, "audio": {"types": {"hum": {"threshold": 0.4}}},
                            "control": {"allow": ["10.0.0.1"]}}).model_dump()
    assert changed_keys(old, new) == {"logging.level", "audio.types.hum.threshold", "control.allow"}
    assert changed_keys(old, old) == set()


def test_daemon_status_shows_open_tags_recent_faults_and_summed_drops() -> None:
    class Analysis(StageBase):
        name = "analysis"

        async def run(self, ctx: StageContext) -> None:
            ctx.bus.publish(TOPIC_TAGS, Tag(id="t1", behaviour="hand_at_mic", parts=("hand",), start=0, end=1,
                                            confidence=0.9, open=True))
            ctx.bus.publish(TOPIC_TAGS, Tag(id="t2", behaviour="typing", parts=("hand",), start=0, end=1,
                                            confidence=0.9, open=True))
            ctx.bus.publish(TOPIC_TAGS, Tag(id="t2", behaviour="typing", parts=("hand",), start=0, end=2,
                                            confidence=0.9, open=False))
            ctx.bus.publish(TOPIC_FAULTS, FaultEvent(type="mic_handling", score=0.8, start=0, end=1))
            await super().run(ctx)

        def health(self) -> Mapping[str, HealthValue]:
            return {"drops": 5, "desk": "connected", "problem": ""}

    class BrokenHealth(StageBase):
        name = "broken_health"

        def health(self) -> Mapping[str, HealthValue]:
            raise RuntimeError("health bug")

    async def scenario() -> None:
        daemon = Daemon(config_from_dict({"control": {"enabled": False}}))
        seen = []

        class Probe(StageBase):
            name = "probe"

            async def run(self, ctx: StageContext) -> None:
                await asyncio.sleep(0.6)  # a few housekeeping ticks
                seen.append(daemon.status())
                seen.append(daemon.status_text())
                await super().run(ctx)

        code = await daemon.run([Ticker(), Analysis(), BrokenHealth(), Probe()], seconds=1.0, handle_signals=False)
        assert code == 0
        status, text = seen
        assert status.tags == ("hand_at_mic",), "closed tags leave the status"
        assert status.faults == ("mic_handling",)
        assert status.drops == 5 and status.desk == "connected"
        assert status.health == "ok" and status.armed and not status.bypass
        assert text.startswith("ok; video") and "tags hand_at_mic" in text and "faults mic_handling" in text

    asyncio.run(scenario())


def test_run_daemon_survives_a_failing_stage_and_stops_on_time(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    config = config_from_dict({"control": {"enabled": False}})
    started = time.monotonic()
    code = asyncio.run(run_daemon(config, seconds=0.8, stages=[Ticker(), Exploding()], policy=FAST,
                                  handle_signals=False))
    assert code == 0
    assert time.monotonic() - started < 2.5
    messages = [r.getMessage() for r in caplog.records]
    assert "stage failed" in messages and any(m.startswith("stage disabled") for m in messages)
    assert "daemon stopped" in messages


def test_producers_stop_before_consumers() -> None:
    order: list[str] = []

    class Producer(Ticker):
        name = "producer"

        async def stop(self) -> None:
            await asyncio.sleep(0.05)
            order.append(self.name)

    class Consumer(StageBase):
        name = "consumer"

        async def stop(self) -> None:
            order.append(self.name)

    async def scenario() -> None:
        pipeline = Pipeline(make_ctx(), [Consumer(), Producer()])
        pipeline.start()
        await asyncio.sleep(0.05)
        await pipeline.stop(1.0)

    asyncio.run(scenario())
    assert order == ["producer", "consumer"]


def test_a_slow_start_gets_the_start_grace_then_counts_as_stalled() -> None:
    class SlowStart(StageBase):
        name = "slow"

        async def start(self, ctx: StageContext) -> None:
            await asyncio.sleep(30)  # loading models on a busy box, or wedged

    async def scenario() -> None:
        policy = RestartPolicy(start_grace_s=0.5)
        pipeline = Pipeline(make_ctx(), [Ticker(), SlowStart()], policy)
        pipeline.start()
        await asyncio.sleep(0.3)
        assert pipeline.records["slow"].state == StageState.starting
        assert pipeline.stalled(stall_s=0.1) == [], "within the start grace, longer than stall_s"
        await asyncio.sleep(0.4)
        assert pipeline.stalled(stall_s=0.1) == ["slow"], "a start that never ends is a stall in the end"
        await pipeline.stop(0.3)

    asyncio.run(scenario())


def test_backoff_doubles_and_is_capped_for_ever() -> None:
    policy = RestartPolicy(first_delay_s=0.5, max_delay_s=10.0)
    assert [policy.delay_after(n) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert policy.delay_after(10**6) == 10.0, "days of retries of a dead capture device"

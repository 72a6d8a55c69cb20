"""The behaviour stage on the daemon's bus: part results in, tags out (open, then closed), and open tags closed when
the analysed frames stop coming."""

from __future__ import annotations

import asyncio
import logging

import pytest

from liverec_edge.behaviour import synthetic as syn
from liverec_edge.behaviour.stage import BehaviourStage, inactive_for_lack_of_zones
from liverec_edge.config import config_from_dict
from liverec_edge.control.state import ControlState
from liverec_edge.pipeline import TOPIC_PARTS, TOPIC_TAGS, EventBus, StageContext
from liverec_edge.types import FrameParts


def test_stage_publishes_open_and_closed_tags_and_closes_on_a_stall(caplog):
    config = config_from_dict({"behaviour": {"zones": {"keyboard": "0.2,0.8,0.8,0.8,0.8,1.0,0.2,1.0"}}})
    clock = {"now": 0.0}

    async def scenario() -> list:
        bus = EventBus()
        ctx = StageContext(config, bus=bus, control=ControlState(armed=True), clock=lambda: clock["now"])
        tags = bus.subscribe(TOPIC_TAGS, owner="test", maxsize=64)
        stage = BehaviourStage()
        with caplog.at_level(logging.WARNING, logger="liverec_edge.behaviour"):
            await stage.start(ctx)
        task = asyncio.create_task(stage.run(ctx))
        for i in range(60):  # a presenter who turns away at 1.0 s and stays turned
            t = i / 30
            parts = (syn.face_result(t, i, yaw_deg=60 if t >= 1.0 else 0), syn.pose_result(t, i))
            bus.publish(TOPIC_PARTS, FrameParts(t, i, 640, 480, parts))
            clock["now"] = t
            await asyncio.sleep(0)
        clock["now"] = 5.0  # then the camera stops: the stage ticks the recogniser with the clock
        await asyncio.sleep(0.7)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stage.stop()
        assert stage.health()["tags_opened"] == 1 and stage.health()["tags_closed"] == 1
        return tags.drain()

    published = asyncio.run(scenario())
    assert [(t.behaviour, t.open) for t in published] == [("turned_away", True), ("turned_away", False)]
    # Closed at the last frame seen plus one frame period: nothing is claimed about the time without pictures.
    assert published[1].start == 1.0 and published[1].end == pytest.approx(60 / 30)
    # The installer is told once that hand_at_mic has no microphone zone to work with.
    assert any("hand_at_mic" in str(getattr(r, "fields", "")) for r in caplog.records)


def test_inactive_behaviours_are_the_enabled_ones_without_zones():
    settings = config_from_dict({"behaviour": {"zones": {"microphone": "0,0,1,0,1,1"}}}).behaviour
    assert inactive_for_lack_of_zones(settings) == ["typing"]
    settings = config_from_dict({"behaviour": {"typing": {"enabled": False}}}).behaviour
    assert inactive_for_lack_of_zones(settings) == ["hand_at_mic"]


def test_a_reload_or_a_stop_closes_open_tags_and_new_tags_get_new_ids():
    # The mixer holds changes per tag id until the tag closes: a recogniser replaced mid-tag must close its tags, and
    # its successor must not reuse their ids (the first tag of each generation would otherwise be "t...-00001").
    config = config_from_dict({})
    clock = {"now": 0.0}

    async def turn_away(bus: EventBus, first: int) -> None:
        for i in range(first, first + 45):
            t = i / 30
            parts = (syn.face_result(t, i, yaw_deg=60 if i - first >= 5 else 0), syn.pose_result(t, i))
            bus.publish(TOPIC_PARTS, FrameParts(t, i, 640, 480, parts))
            clock["now"] = t
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)

    async def scenario() -> list:
        bus = EventBus()
        ctx = StageContext(config, bus=bus, control=ControlState(armed=True), clock=lambda: clock["now"])
        tags = bus.subscribe(TOPIC_TAGS, owner="test", maxsize=64)
        stage = BehaviourStage()
        await stage.start(ctx)
        task = asyncio.create_task(stage.run(ctx))
        await turn_away(bus, 0)
        reloaded = config_from_dict({"behaviour": {"turned_away": {"yaw_on_deg": 45.0}}})
        assert stage.reconfigure(reloaded, frozenset({"behaviour.turned_away.yaw_on_deg"}))
        await turn_away(bus, 100)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await stage.stop()
        return tags.drain()

    published = asyncio.run(scenario())
    opened = [t.id for t in published if t.open]
    closed = [t.id for t in published if not t.open]
    assert len(set(opened)) == 2, published  # one tag before the reload, one after, with different ids
    assert set(closed) == set(opened)  # both closed: the first by the reload, the second by the stop

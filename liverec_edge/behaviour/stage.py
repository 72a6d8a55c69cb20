"""The behaviour stage of the daemon: :class:`FrameParts` → behaviour codes → tags on the bus.

Tags are published when they open (so the mixer can act before the noise) and once more when they close (so it can
release). When no analysed frame arrives for a while (the camera stopped, the detectors are missing) the recogniser
is ticked with the clock so open tags still close. Whenever the recogniser is replaced (a reload changed the
behaviour settings, the stage is stopped or restarted) its open tags are closed first and the new one numbers its
tags in a new generation: a tag the mixer holds changes for is always closed, and never shares an id with a later one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from liverec_edge.logs import kv
from liverec_edge.pipeline import TOPIC_PARTS, TOPIC_TAGS, DropOldestQueue, HealthValue, StageBase, StageContext

#: With no analysed frame for this long, the recogniser is told time has moved on.
IDLE_TICK_S = 0.5

log = logging.getLogger("liverec_edge.behaviour")


def inactive_for_lack_of_zones(settings: Any) -> list[str]:
    """Enabled behaviours that need a zone the config does not give (so the installer hears about it once)."""
    needs = {"hand_at_mic": settings.zones.microphone, "typing": settings.zones.keyboard}
    return [b for b, zone in needs.items() if zone is None and settings.timing(b).enabled]


class BehaviourStage(StageBase):
    name = "behaviour"

    def __init__(self) -> None:
        super().__init__()
        self.analyser: Any = None
        self.tags_opened = 0
        self.tags_closed = 0
        self.open_tags: dict[str, str] = {}
        self._parts: DropOldestQueue[Any] | None = None
        self._ctx: StageContext | None = None
        self._generation = 0

    async def start(self, ctx: StageContext) -> None:
        self._ctx = ctx
        self._parts = ctx.bus.subscribe(TOPIC_PARTS, owner=self.name, maxsize=8)
        self._replace_analyser(ctx.config.behaviour)
        for behaviour in inactive_for_lack_of_zones(ctx.config.behaviour):
            log.warning("behaviour cannot be recognised: its zone is not configured (see `liverec-edge zones`)",
                        extra=kv(behaviour=behaviour))

    async def run(self, ctx: StageContext) -> None:
        assert self._parts is not None and self.analyser is not None, "run() before start()"
        while True:
            item = await self._parts.get(timeout=IDLE_TICK_S)
            self.meter.beat()
            if item is None:
                tags = self.analyser.tick(ctx.clock())
            else:
                aspect = item.height / item.width if item.width else 0.75
                tags = self.analyser.push(item.t, item.frame_index, item.parts, aspect)
                self.meter.beat(1)
            self._publish(tags)

    def _publish(self, tags: list[Any]) -> None:
        assert self._ctx is not None
        for tag in tags:
            if tag.open:
                if tag.id not in self.open_tags:
                    self.tags_opened += 1
                self.open_tags[tag.id] = tag.behaviour
            else:
                self.tags_closed += 1
                self.open_tags.pop(tag.id, None)
            self._ctx.bus.publish(TOPIC_TAGS, tag)

    def _replace_analyser(self, settings: Any) -> None:
        from liverec_edge.behaviour.recognise import BehaviourAnalyser

        self._close_open_tags()
        self._generation += 1
        self.analyser = BehaviourAnalyser(settings, id_prefix=f"g{self._generation}.")

    def _close_open_tags(self) -> None:
        if self.analyser is not None and self._ctx is not None:
            self._publish(self.analyser.finish(self._ctx.clock()))
        self.analyser = None

    async def stop(self) -> None:
        self._close_open_tags()

    def health(self) -> Mapping[str, HealthValue]:
        return {
            "tags_opened": self.tags_opened,
            "tags_closed": self.tags_closed,
            "open": ",".join(sorted(set(self.open_tags.values()))),
            "dropped": self._parts.dropped if self._parts else 0,
        }

    def reconfigure(self, config: Any, changed: frozenset[str]) -> set[str]:
        # Thresholds and zones are read at construction: a new analyser takes them (tracking restarts cleanly).
        keys = {k for k in changed if k.startswith("behaviour.")}
        if keys and self.analyser is not None:
            self._replace_analyser(config.behaviour)
        return keys

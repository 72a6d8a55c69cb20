"""The behaviour stage of the daemon: :class:`FrameParts` → behaviour codes → tags on the bus.

Tags are published when they open (so the mixer can act before the noise) and once more when they close (so it can
release). When no analysed frame arrives for a while (the camera stopped, the detectors are missing) the recogniser
is ticked with the clock so open tags still close.
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

    async def start(self, ctx: StageContext) -> None:
        from liverec_edge.behaviour.recognise import BehaviourAnalyser

        self._parts = ctx.bus.subscribe(TOPIC_PARTS, owner=self.name, maxsize=8)
        self.analyser = BehaviourAnalyser(ctx.config.behaviour, id_prefix="t")
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
            for tag in tags:
                if tag.open:
                    if tag.id not in self.open_tags:
                        self.tags_opened += 1
                    self.open_tags[tag.id] = tag.behaviour
                else:
                    self.tags_closed += 1
                    self.open_tags.pop(tag.id, None)
                ctx.bus.publish(TOPIC_TAGS, tag)

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
            from liverec_edge.behaviour.recognise import BehaviourAnalyser

            self.analyser = BehaviourAnalyser(config.behaviour, id_prefix="t")
        return keys

"""The fault stage of the daemon: audio blocks and tags in, fault events and mixer commands out.

Two triggers select the audio to judge, as the method does:

- a **tag** from the behaviour stage: when it opens, the window from ``start - pre_roll`` to now is analysed at
  once (the daemon reacts while the hand is still at the mic) and again every hop while it stays open; when it
  closes, the whole span plus post-roll is analysed once the post-roll has been heard, and everything the tag's
  owners hold on the console is released;
- the **level gate** alone (no tag: the camera cannot see a ground loop): the newest window every hop, acted on only
  when the fault repeats in ``confirm_windows`` consecutive windows.

Behaviours that predict a fault (a hand moving to the mic) go through the :class:`Preemptor`: its strategy is
applied before the noise and released if the audio does not confirm it in time.

All work on the streaming analyser (feeding, analysing) happens in one worker thread call per loop turn, so the
analyser is never used from two threads at once and the event loop never waits on TFLite.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from liverec_edge.logs import kv
from liverec_edge.pipeline import (
    TOPIC_ACTIONS,
    TOPIC_AUDIO,
    TOPIC_FAULTS,
    TOPIC_TAGS,
    DropOldestQueue,
    HealthValue,
    StageBase,
    StageContext,
)
from liverec_edge.tflite import ModelError
from liverec_edge.types import AudioBlock, FaultEvent, MixerCommand, Tag

log = logging.getLogger("liverec_edge.audio")

LOOP_S = 0.1  # how often the stage looks at new audio and tags
#: An audio-only fault heard again within this long is the same fault going on: it is reported and applied once,
#: and applied again (refreshing its hold) only after a gap this long or once the hop passes it by this much.
AUDIO_ONLY_REFRESH_S = 2.0


def channel_map(channels: Mapping[str, int]) -> dict[str, str]:
    """The strategy table's placeholders from the mixer's channel map: ``{ch}`` is the presenter's strip."""
    strips = {role: f"ch{number:02d}" for role, number in channels.items()}
    if "presenter" in strips:
        strips["ch"] = strips["presenter"]
    return strips


@dataclass
class _OpenTag:
    tag: Tag
    last_analysed: float = -1e9
    acted: set[str] = field(default_factory=set)


@dataclass
class _Outcome:
    faults: list[FaultEvent] = field(default_factory=list)
    commands: list[MixerCommand] = field(default_factory=list)


class FaultStage(StageBase):
    name = "faults"

    def __init__(self) -> None:
        super().__init__()
        self.stream: Any = None
        self.table: Any = None
        self.preemptor: Any = None
        self.problem = ""
        self.faults_found = 0
        self.commands_sent = 0
        self.last_faults: list[str] = []
        self._audio: DropOldestQueue[AudioBlock] | None = None
        self._tags: DropOldestQueue[Tag] | None = None
        self._open: dict[str, _OpenTag] = {}
        self._closing: list[tuple[float, Tag]] = []  # (analyse at, tag): closed tags waiting for their post-roll
        self._last_poll = -1e9
        self._strips: dict[str, str] = {}
        self._fed_nothing_yet = True
        self._audio_only_seen: dict[str, float] = {}

    async def start(self, ctx: StageContext) -> None:
        from liverec_edge.audio.analysis import FaultAnalyser, StreamingFaultAnalyser
        from liverec_edge.audio.strategy import StrategyTable
        from liverec_edge.behaviour.preempt import Preemptor

        config = ctx.config
        # The strategy table is validated at start: a bad table is a config error, reported like one.
        self.table = StrategyTable.load(config.audio.strategies)
        self.preemptor = Preemptor(config.behaviour.preempt)
        self._strips = channel_map(config.mixer.channels)
        self._audio = ctx.bus.subscribe(TOPIC_AUDIO, owner=self.name, maxsize=512)
        self._tags = ctx.bus.subscribe(TOPIC_TAGS, owner=self.name, maxsize=64)
        try:
            analyser = await asyncio.to_thread(FaultAnalyser, config.audio)
            self.stream = StreamingFaultAnalyser(analyser, config.capture.audio.rate)
            self.problem = ""
        except (ModelError, OSError, ValueError) as exc:
            self.stream = None
            self.problem = f"fault model unavailable: {exc}"
            log.error("fault model unavailable; only pre-emptive strategies can act", extra=kv(error=str(exc)))

    async def run(self, ctx: StageContext) -> None:
        assert self._audio is not None and self._tags is not None, "run() before start()"
        while True:
            await asyncio.sleep(LOOP_S)
            self.meter.beat()
            blocks = self._audio.drain()
            tags = self._tags.drain()
            now = ctx.clock()
            outcome = _Outcome()
            for tag in tags:
                self._on_tag(tag, now, outcome)
            for decision in self.preemptor.tick(now):
                self._on_decision(decision, outcome)
            if self.stream is not None:
                found = await asyncio.to_thread(self._analyse, blocks, now, ctx)
                outcome.faults += found.faults
                outcome.commands += found.commands
            for fault in outcome.faults:
                self.faults_found += 1
                ctx.bus.publish(TOPIC_FAULTS, fault)
            for command in outcome.commands:
                self.commands_sent += 1
                ctx.bus.publish(TOPIC_ACTIONS, command)
            if blocks:
                self.meter.beat(len(blocks))

    # -- tags and pre-emption (event loop) -------------------------------------------------------------------------
    def _on_tag(self, tag: Tag, now: float, outcome: _Outcome) -> None:
        for decision in self.preemptor.on_tag(tag, now):
            self._on_decision(decision, outcome)
        if tag.open:
            entry = self._open.get(tag.id)
            if entry is None:
                self._open[tag.id] = _OpenTag(tag)
            else:
                entry.tag = tag
            return
        self._open.pop(tag.id, None)
        post_roll = 0.0 if self.stream is None else self.stream.settings.post_roll_s
        self._closing.append((tag.end + post_roll, tag))

    def _on_decision(self, decision: Any, outcome: _Outcome) -> None:
        owner = f"{decision.owner}/pre"
        if decision.kind == "apply":
            event = FaultEvent(decision.strategy, 1.0, decision.t, decision.t)
            actions = self.table.actions_for(event, self._strips, owner)
            log.info("pre-emptive strategy", extra=kv(behaviour=decision.behaviour, strategy=decision.strategy,
                                                      owner=decision.owner, reason=decision.reason))
            if actions:
                outcome.commands.append(MixerCommand("apply", owner, tuple(actions), decision.reason))
        elif decision.kind == "release":
            outcome.commands.append(MixerCommand("release", owner, (), decision.reason))

    # -- analysis (worker thread) ----------------------------------------------------------------------------------
    def _analyse(self, blocks: list[AudioBlock], now: float, ctx: StageContext) -> _Outcome:
        from liverec_edge.audio.analysis import AnalysisInputError

        outcome = _Outcome()
        stream = self.stream
        for block in blocks:
            try:
                stream.feed(block)
            except AnalysisInputError as exc:
                log.warning("audio block not analysed", extra=kv(error=str(exc)))
        if self._fed_nothing_yet:
            self._fed_nothing_yet = not blocks
            if self._fed_nothing_yet:
                return outcome
        settings = stream.settings
        heard = stream.now
        # Tags that are still open: analyse at once, then every hop.
        for entry in self._open.values():
            if heard - entry.last_analysed >= settings.hop_s:
                entry.last_analysed = heard
                self._judge(entry.tag, entry.tag.start - settings.pre_roll_s, heard, outcome, ctx, entry.acted)
        # Closed tags whose post-roll has been heard: the whole span, then release the tag's owners.
        waiting = []
        for due, tag in self._closing:
            if heard < due:
                waiting.append((due, tag))
                continue
            self._judge(tag, tag.start - settings.pre_roll_s, tag.end + settings.post_roll_s, outcome, ctx, set())
            outcome.commands.append(MixerCommand("release", tag.id, (), f"{tag.behaviour} ended"))
        self._closing = waiting
        # The audio-only trigger.
        if heard - self._last_poll >= settings.hop_s:
            self._last_poll = heard
            try:
                result = stream.analyse_span(heard - settings.window_s, heard)
            except AnalysisInputError as exc:
                log.warning("audio window not analysed", extra=kv(error=str(exc)))
                return outcome
            confirmed = stream.confirm(result.events)
            confirmed = self._above_tablet_thresholds(confirmed, ctx)
            for event in confirmed:
                if any(event.type in entry.acted for entry in self._open.values()):
                    continue  # an open tag already treats this fault
                last = self._audio_only_seen.get(event.type, -1e9)
                self._audio_only_seen[event.type] = heard
                if heard - last < AUDIO_ONLY_REFRESH_S:
                    continue  # still the same fault: its strategy is held, nothing new to say
                outcome.faults.append(event)
                owner = f"audio:{event.type}"
                actions = self.table.actions_for(event, self._strips, owner,
                                                 measurements=result.measurements)
                if actions:
                    outcome.commands.append(MixerCommand("apply", owner, tuple(actions), "audio-only detection"))
        return outcome

    def _judge(self, tag: Tag, start: float, end: float, outcome: _Outcome, ctx: StageContext,
               acted: set[str]) -> None:
        from liverec_edge.audio.analysis import AnalysisInputError

        try:
            result = self.stream.analyse_span(start, end, prior=tag.behaviour)
        except AnalysisInputError as exc:
            log.warning("tag window not analysed", extra=kv(tag=tag.id, error=str(exc)))
            return
        events = self._above_tablet_thresholds(result.events, ctx)
        outcome.faults += events
        for decision in self.preemptor.on_faults(events, ctx.clock(), owner=tag.id):
            self._on_decision(decision, outcome)
        for event in events:
            if event.type in acted:
                continue  # already applied for this tag; its owner keeps it until the tag ends
            actions = self.table.actions_for(event, self._strips, tag.id,
                                             measurements=result.measurements)
            if actions:
                acted.add(event.type)
                log.info("fault in tag window", extra=kv(tag=tag.id, behaviour=tag.behaviour, fault=event.type,
                                                         score=event.score, start=event.start, end=event.end))
                outcome.commands.append(MixerCommand("apply", tag.id, tuple(actions), f"{tag.behaviour}: {event.type}"))

    @staticmethod
    def _above_tablet_thresholds(events: list[FaultEvent], ctx: StageContext) -> list[FaultEvent]:
        """The tablet can raise a type's threshold live (``/liverec/threshold``)."""
        return [e for e in events if e.score >= ctx.control.threshold_for(e.type, 0.0)]

    def health(self) -> Mapping[str, HealthValue]:
        figures: dict[str, HealthValue] = {
            "faults": self.faults_found,
            "commands": self.commands_sent,
            "open_tags": len(self._open),
            "dropped": (self._audio.dropped if self._audio else 0) + (self._tags.dropped if self._tags else 0),
        }
        if self.problem:
            figures["problem"] = self.problem
        return figures

"""The fault stage of the daemon: audio blocks and tags in, fault events and mixer commands out.

Two triggers select the audio to judge, as the method does:

- a **tag** from the behaviour stage: when it opens, the window from ``start - pre_roll`` to now is analysed at
  once (the daemon reacts while the hand is still at the mic) and the newest audio again every hop while it stays
  open; when it closes, the part not judged yet plus the post-roll is analysed once heard, and everything the tag's
  owners hold on the console is released;
- the **level gate** alone (no tag: the camera cannot see a ground loop): the newest window every hop, acted on only
  when the fault repeats in ``confirm_windows`` consecutive windows.

Behaviours that predict a fault (a hand moving to the mic) go through the :class:`Preemptor`: its strategy is
applied before the noise and released if the audio does not confirm it in time.

Two loops run side by side: the **reaction** loop takes tags as they come and publishes pre-emptive commands at
once; the **analysis** loop feeds the streaming analyser and judges windows in a worker thread. Everything the two
share (open tags, the pre-emptor) is touched only on the event loop; the worker gets snapshots and returns results.
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
    TOPIC_PARTS,
    TOPIC_TAGS,
    DropOldestQueue,
    HealthValue,
    StageBase,
    StageContext,
)
from liverec_edge.tflite import ModelError
from liverec_edge.types import AudioBlock, FaultEvent, MixerCommand, Tag

log = logging.getLogger("liverec_edge.audio")

LOOP_S = 0.1  # how often the analysis loop looks at new audio
#: Without analysed frames for this long the camera counts as gone (dead camera, missing detector models): the
#: audio alone may then act on every fault type, since no tag will ever ask for it.
CAMERA_LOST_S = 3.0
#: An audio-only fault heard again within this long is the same fault going on: it is reported and applied once.
AUDIO_ONLY_REFRESH_S = 2.0


def channel_map(channels: Mapping[str, int]) -> dict[str, str]:
    """The strategy table's placeholders from the mixer's channel map: ``{ch}`` is the presenter's strip."""
    strips = {role: f"ch{number:02d}" for role, number in channels.items()}
    if "presenter" in strips:
        strips["ch"] = strips["presenter"]
    return strips


@dataclass
class _TagWork:
    """A tag the analysis follows: what was judged already and which fault types it acted on."""

    tag: Tag
    last_analysed: float = -1e9
    acted: set[str] = field(default_factory=set)
    due: float | None = None  # closed: analyse the rest once audio up to this time has been heard


@dataclass
class _Judgement:
    """One window's result for a tag (or for the audio-only trigger when ``work`` is None)."""

    work: _TagWork | None
    events: list[FaultEvent]
    measurements: dict[str, float]
    closed: bool = False


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
        self._audio: DropOldestQueue[AudioBlock] | None = None
        self._tags: DropOldestQueue[Tag] | None = None
        self._work: dict[str, _TagWork] = {}
        self._strips: dict[str, str] = {}
        self._audio_only_seen: dict[str, float] = {}
        self._parts: DropOldestQueue[Any] | None = None
        self._last_parts = 0.0
        #: (fault type, error) pairs of failed strategy lookups: a fault heard every hop must not repeat the same
        #: log line every hop
        self._lookup_failed: set[tuple[str, str]] = set()

    async def start(self, ctx: StageContext) -> None:
        from liverec_edge.audio.analysis import FaultAnalyser, StreamingFaultAnalyser
        from liverec_edge.audio.strategy import StrategyTable
        from liverec_edge.behaviour.preempt import Preemptor

        config = ctx.config
        # The strategy table is validated at start: a bad table is a config error, reported like one.
        self._set_table(StrategyTable.load(config.audio.strategies))
        self.preemptor = Preemptor(config.behaviour.preempt)
        self._set_strips(channel_map(config.mixer.channels))
        self._audio = ctx.bus.subscribe(TOPIC_AUDIO, owner=self.name, maxsize=512)
        self._tags = ctx.bus.subscribe(TOPIC_TAGS, owner=self.name, maxsize=64)
        self._parts = ctx.bus.subscribe(TOPIC_PARTS, owner=self.name, maxsize=1)
        self._last_parts = ctx.clock()
        try:
            analyser = await asyncio.to_thread(FaultAnalyser, config.audio)
            self.stream = StreamingFaultAnalyser(analyser, config.capture.audio.rate)
            self.problem = ""
        except Exception as exc:  # any broken model degrades; restarting would only fail again
            self.stream = None
            error = str(exc) if isinstance(exc, ModelError) else f"{type(exc).__name__}: {exc}"
            self.problem = f"fault model unavailable: {error}"
            log.error("fault model unavailable; only pre-emptive strategies can act", extra=kv(error=error))

    async def run(self, ctx: StageContext) -> None:
        assert self._audio is not None and self._tags is not None, "run() before start()"
        await asyncio.gather(self._react(ctx), self._analyse_loop(ctx))

    # -- reaction: tags and pre-emption, never waiting on the analysis ---------------------------------------------
    async def _react(self, ctx: StageContext) -> None:
        assert self._tags is not None
        while True:
            tag = await self._tags.get(timeout=0.1)
            self.meter.beat()
            now = ctx.clock()
            outcome = _Outcome()
            if tag is not None:
                for decision in self.preemptor.on_tag(tag, now):
                    self._on_decision(decision, outcome)
                self._follow(tag)
            for decision in self.preemptor.tick(now):
                self._on_decision(decision, outcome)
            self._publish(outcome, ctx)

    def _follow(self, tag: Tag) -> None:
        work = self._work.setdefault(tag.id, _TagWork(tag))
        work.tag = tag
        if not tag.open:
            post_roll = self.stream.settings.post_roll_s if self.stream is not None else 0.0
            work.due = tag.end + post_roll
            if self.stream is None:  # nothing to analyse: release when the tag ends
                del self._work[tag.id]

    def _on_decision(self, decision: Any, outcome: _Outcome) -> None:
        owner = f"{decision.owner}/pre"
        if decision.kind == "apply":
            event = FaultEvent(decision.strategy, 1.0, decision.t, decision.t)
            actions = self._actions(event, owner)
            log.info("pre-emptive strategy", extra=kv(behaviour=decision.behaviour, strategy=decision.strategy,
                                                      owner=decision.owner, reason=decision.reason))
            if actions:
                outcome.commands.append(MixerCommand("apply", owner, tuple(actions), decision.reason))
        elif decision.kind == "release":
            outcome.commands.append(MixerCommand("release", owner, (), decision.reason))

    def _publish(self, outcome: _Outcome, ctx: StageContext) -> None:
        for fault in outcome.faults:
            self.faults_found += 1
            ctx.bus.publish(TOPIC_FAULTS, fault)
        for command in outcome.commands:
            self.commands_sent += 1
            ctx.bus.publish(TOPIC_ACTIONS, command)

    # -- analysis -----------------------------------------------------------------------------------------------------
    async def _analyse_loop(self, ctx: StageContext) -> None:
        assert self._audio is not None
        while True:
            await asyncio.sleep(LOOP_S)
            self.meter.beat()
            blocks = self._audio.drain()
            if self._parts is not None and self._parts.drain():
                self._last_parts = ctx.clock()
            if self.stream is None or not blocks:
                continue
            camera = ctx.clock() - self._last_parts < CAMERA_LOST_S
            if camera != self.stream.camera_available:
                log.info("camera " + ("back: audio-only faults limited again" if camera else
                                      "lost: every fault type may act on audio alone"))
                self.stream.camera_available = camera
            judgements = await asyncio.to_thread(self._judge_all, blocks, list(self._work.values()))
            self._publish(self._act_on(judgements, ctx), ctx)
            self.meter.beat(len(blocks))

    def _judge_all(self, blocks: list[AudioBlock], work: list[_TagWork]) -> list[_Judgement]:
        """Worker thread: feed the new audio, judge the tags that are due and the audio-only window."""
        from liverec_edge.audio.analysis import AnalysisInputError

        stream = self.stream
        for block in blocks:
            try:
                stream.feed(block)
            except AnalysisInputError as exc:
                log.warning("audio block not analysed", extra=kv(error=str(exc)))
        settings = stream.settings
        heard = stream.now
        judgements: list[_Judgement] = []
        for item in work:
            closing = item.due is not None
            if closing and heard < item.due:
                continue
            if not closing and heard - item.last_analysed < settings.hop_s:
                continue
            # Only audio not judged yet (with one window of context): a long tag costs the same per hop.
            start = max(item.tag.start - settings.pre_roll_s, item.last_analysed - settings.window_s)
            end = item.due if closing else heard
            item.last_analysed = heard
            try:
                result = stream.analyse_span(start, end, prior=item.tag.behaviour)
                judgements.append(_Judgement(item, result.events, result.measurements, closed=closing))
            except AnalysisInputError as exc:
                log.warning("tag window not analysed", extra=kv(tag=item.tag.id, error=str(exc)))
                judgements.append(_Judgement(item, [], {}, closed=closing))
        try:
            # the stream's own audio-only decision (once per hop, a whole model window, music also judged over
            # several windows), the same as the offline analysis and tools/bench/false_actuations.py run
            polled = stream.poll_detailed()
            if polled is not None:
                judgements.append(_Judgement(None, polled.events, polled.measurements))
        except AnalysisInputError as exc:
            log.warning("audio window not analysed", extra=kv(error=str(exc)))
        return judgements

    def _act_on(self, judgements: list[_Judgement], ctx: StageContext) -> _Outcome:
        """Event loop: turn judgements into fault reports and mixer commands; close finished tags."""
        outcome = _Outcome()
        now = ctx.clock()
        treated_by_tags = {t for work in self._work.values() for t in work.acted}
        for judgement in judgements:
            events = [e for e in judgement.events if e.score >= ctx.control.threshold_for(e.type, 0.0)]
            work = judgement.work
            if work is None:
                self._audio_only(events, judgement.measurements, treated_by_tags, now, outcome)
                continue
            tag = work.tag
            for decision in self.preemptor.on_faults(events, now, owner=tag.id):
                self._on_decision(decision, outcome)
            for event in events:
                if event.type in work.acted:
                    continue  # reported and applied already; the tag's owner holds it until the tag ends
                work.acted.add(event.type)
                outcome.faults.append(event)
                log.info("fault in tag window", extra=kv(tag=tag.id, behaviour=tag.behaviour, fault=event.type,
                                                         score=event.score, start=event.start, end=event.end))
                actions = self._actions(event, tag.id, judgement.measurements)
                if actions:
                    outcome.commands.append(MixerCommand("apply", tag.id, tuple(actions),
                                                         f"{tag.behaviour}: {event.type}"))
            if judgement.closed:
                self._work.pop(tag.id, None)
                outcome.commands.append(MixerCommand("release", tag.id, (), f"{tag.behaviour} ended"))
        return outcome

    def _audio_only(self, events: list[FaultEvent], measurements: dict[str, float], treated: set[str], now: float,
                    outcome: _Outcome) -> None:
        for event in events:
            if event.type in treated:
                continue  # an open tag already treats this fault
            last = self._audio_only_seen.get(event.type, -1e9)
            self._audio_only_seen[event.type] = now
            if now - last < AUDIO_ONLY_REFRESH_S:
                continue  # the same fault going on: its strategy is held, nothing new to say
            outcome.faults.append(event)
            owner = f"audio:{event.type}"
            actions = self._actions(event, owner, measurements)
            if actions:
                outcome.commands.append(MixerCommand("apply", owner, tuple(actions), "audio-only detection"))

    # -- strategy lookup: one fault's bad strategy never takes the stage down ----------------------------------------
    def _actions(self, event: FaultEvent, owner: str, measurements: Mapping[str, float] | None = None) -> list[Any]:
        """The console actions for ``event`` (actions on a channel role the map lacks are skipped by the table, with
        one warning). Any failure of one lookup is logged once and that fault gets no actions; the stage and every
        other fault go on (uncaught, it would restart the stage until the daemon disabled it)."""
        try:
            return self.table.actions_for(event, self._strips, owner, measurements=measurements)
        except Exception as exc:  # a bug or bad entry in one strategy must not stop the others
            error = f"{type(exc).__name__}: {exc}"
            if (event.type, error) not in self._lookup_failed:
                self._lookup_failed.add((event.type, error))
                log.error("strategy lookup failed; no console action for this fault",
                          extra=kv(fault=event.type, owner=owner, error=error))
            return []

    def _set_table(self, table: Any) -> None:
        self.table = table
        self._lookup_failed = set()

    def _set_strips(self, strips: dict[str, str]) -> None:
        self._strips = strips
        self.table.forget_warnings()
        self._lookup_failed = set()

    def reconfigure(self, config: Any, changed: frozenset[str]) -> set[str]:
        """Per-type thresholds and the level gate apply live (the analyser reads its settings on every window);
        a new strategy table is validated and swapped in, the old one kept if the new one is invalid."""
        applied = {k for k in changed if k.startswith(("audio.types.", "audio.gate.", "audio.prior_boost",
                                                       "audio.prejudge_ratio"))}
        if applied and self.stream is not None:
            from liverec_edge.audio.analysis import LevelGate

            # One attribute each: the worker thread sees either the old or the new settings, never a mix.
            self.stream.analyser.settings = config.audio
            self.stream.analyser.gate = LevelGate(config.audio.gate)
            self.stream.settings = config.audio
        if "audio.strategies" in changed:
            from liverec_edge.audio.strategy import StrategyError, StrategyTable

            try:
                self._set_table(StrategyTable.load(config.audio.strategies))
                applied.add("audio.strategies")
            except (StrategyError, OSError) as exc:
                log.error("new strategy table refused; the old one stays", extra=kv(error=str(exc)))
        if any(k.startswith("mixer.channels") for k in changed):
            self._set_strips(channel_map(config.mixer.channels))
        return applied

    def health(self) -> Mapping[str, HealthValue]:
        figures: dict[str, HealthValue] = {
            "faults": self.faults_found,
            "commands": self.commands_sent,
            "tags_followed": len(self._work),
            "dropped": (self._audio.dropped if self._audio else 0) + (self._tags.dropped if self._tags else 0),
        }
        if self.problem:
            figures["problem"] = self.problem
        return figures

"""Pre-emptive actions: a small, pure state machine (no clock, no I/O) deciding when a behaviour that predicts a
fault should have its strategy applied *before* the audio analysis has heard the fault, and when to release it.

Per owner (the tag id)::

    tag opens (or a prediction opens) whose behaviour is in the preempt map
        -> APPLY strategy for owner                                   state: pending (deadline = now + timeout)
    audio names a confirming fault while pending                      state: confirmed   (CONFIRM decision)
    pending and the deadline passes                                   -> RELEASE "not confirmed by the audio"
    the tag closes (behaviour over, or the prediction did not happen) -> RELEASE
    confirmed for longer than max_hold_s                              -> RELEASE (safety cap)

A prediction that turns into contact keeps its owner (the recogniser gives the real tag the prediction's id): the
strategy stays applied and the confirmation deadline restarts from the contact. An audio window analysed without a
confirming fault does not release early: the window of an open tag may simply precede the noise; the timeout does.

The daemon feeds it tags, fault events and a periodic ``tick(now)`` and hands the decisions to the mixer, which owns
what "apply strategy X for owner" means (the strategy table, bounds, restore on release).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from liverec_edge.behaviour.settings import PreemptRule
from liverec_edge.types import FaultEvent, Tag

DecisionKind = Literal["apply", "confirm", "release"]


@dataclass(frozen=True, slots=True)
class PreemptDecision:
    """``apply``: apply ``strategy`` (a fault type's strategy) for ``owner`` now; ``confirm``: the audio agrees, keep
    it until release; ``release``: undo everything ``owner`` applied."""

    kind: DecisionKind
    owner: str
    strategy: str
    behaviour: str
    t: float
    reason: str


@dataclass(slots=True)
class _Owner:
    key: str
    rule: PreemptRule
    tag_start: float
    applied_t: float
    deadline: float
    confirmed: bool = False


def _key(tag: Tag) -> str:
    return f"{tag.behaviour}.predicted" if getattr(tag, "predicted", False) else tag.behaviour


class Preemptor:
    """The pre-emptive decision logic. ``rules`` is ``BehaviourSettings.preempt``.

    Idempotent in its inputs: the same open tag seen again changes nothing, and a tag released by the timeout is not
    applied again when it is seen again (only a new tag, or a prediction turning into contact, is).
    """

    #: How many timed-out owners are remembered (bounded memory; tags are short-lived).
    FINISHED_KEPT = 256

    def __init__(self, rules: Mapping[str, PreemptRule], fault_slack_s: float = 0.5):
        self.rules = dict(rules)
        #: A fault that ended this long before the tag started still confirms it (pre-roll of the audio window).
        self.fault_slack_s = fault_slack_s
        self._owners: dict[str, _Owner] = {}
        # Owners released while their tag may still be open (timeout, cap): a repeated open tag must not re-apply.
        self._finished: OrderedDict[tuple[str, str], None] = OrderedDict()

    def active(self) -> dict[str, str]:
        """Owner → strategy currently applied."""
        return {owner: o.rule.strategy for owner, o in self._owners.items()}

    def on_tag(self, tag: Tag, now: float) -> list[PreemptDecision]:
        """A tag opened or closed (from the recogniser)."""
        key = _key(tag)
        owner = self._owners.get(tag.id)
        if not tag.open:
            if owner is None:
                return []
            del self._owners[tag.id]
            why = "prediction did not happen" if key.endswith(".predicted") else f"{tag.behaviour} ended"
            return [self._decision("release", tag.id, owner, now, why)]
        rule = self.rules.get(key)
        if owner is not None:
            if owner.key != key and rule is not None:
                if rule.strategy != owner.rule.strategy:
                    # Contact calls for a different strategy than the prediction did: swap.
                    del self._owners[tag.id]
                    out = [self._decision("release", tag.id, owner, now, f"superseded by {key}")]
                    return out + self._apply(tag, key, rule, now)
                # Contact confirmed by vision: the audio gets a fresh timeout from now.
                owner.key, owner.rule, owner.tag_start = key, rule, tag.start
                owner.deadline = max(owner.deadline, now + rule.confirm_timeout_s)
            return []
        if rule is None or (tag.id, key) in self._finished:
            return []
        return self._apply(tag, key, rule, now)

    def on_faults(self, faults: Sequence[FaultEvent], now: float, owner: str | None = None) -> list[PreemptDecision]:
        """Fault events from the audio analysis; ``owner`` when they came from that tag's window (else any pending
        owner whose span they overlap is confirmed)."""
        out: list[PreemptDecision] = []
        candidates = [owner] if owner is not None else list(self._owners)
        for name in candidates:
            o = self._owners.get(name)
            if o is None or o.confirmed:
                continue
            for fault in faults:
                overlaps = owner is not None or fault.end >= o.tag_start - self.fault_slack_s
                if fault.type in o.rule.confirming and overlaps:
                    o.confirmed = True
                    out.append(self._decision("confirm", name, o, now, f"audio found {fault.type} ({fault.score:.2f})"))
                    break
        return out

    def tick(self, now: float) -> list[PreemptDecision]:
        """Release owners whose confirmation timed out, or that exceeded the safety cap."""
        out: list[PreemptDecision] = []
        for name, o in list(self._owners.items()):
            if not o.confirmed and now >= o.deadline:
                reason = f"not confirmed by the audio within {o.rule.confirm_timeout_s:g} s"
            elif now - o.applied_t >= o.rule.max_hold_s:
                reason = f"held for the maximum {o.rule.max_hold_s:g} s"
            else:
                continue
            del self._owners[name]
            self._remember(name, o.key)
            out.append(self._decision("release", name, o, now, reason))
        return out

    def release_all(self, now: float, reason: str) -> list[PreemptDecision]:
        """Release every owner (bypass, disarm, shutdown)."""
        out = [self._decision("release", name, o, now, reason) for name, o in self._owners.items()]
        self._owners.clear()
        return out

    def _remember(self, owner: str, key: str) -> None:
        self._finished[(owner, key)] = None
        while len(self._finished) > self.FINISHED_KEPT:
            self._finished.popitem(last=False)

    def _apply(self, tag: Tag, key: str, rule: PreemptRule, now: float) -> list[PreemptDecision]:
        o = _Owner(key, rule, tag.start, now, now + rule.confirm_timeout_s)
        self._owners[tag.id] = o
        return [self._decision("apply", tag.id, o, now, f"{key} seen (confidence {tag.confidence:.2f})")]

    @staticmethod
    def _decision(kind: DecisionKind, owner: str, o: _Owner, now: float, reason: str) -> PreemptDecision:
        return PreemptDecision(kind, owner, o.rule.strategy, o.key, now, reason)

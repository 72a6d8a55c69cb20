"""The pre-emptive decision state machine: apply early for a predicted or seen behaviour, hold when the audio
confirms, release on timeout, on the end of the behaviour, or at the safety cap."""

from __future__ import annotations

import pytest

from liverec_edge.behaviour import synthetic as syn
from liverec_edge.behaviour.preempt import Preemptor
from liverec_edge.behaviour.recognise import BehaviourAnalyser, BehaviourTag
from liverec_edge.behaviour.settings import BehaviourSettings, PreemptRule
from liverec_edge.types import FaultEvent


def _tag(behaviour="hand_at_mic", tag_id="t1", start=1.0, end=1.0, open_=True, predicted=False) -> BehaviourTag:
    return BehaviourTag(tag_id, behaviour, ("hand",), start, end, 0.9, (), open_, predicted)


def _preemptor(**rules) -> Preemptor:
    return Preemptor(rules or BehaviourSettings().preempt)


def _fault(kind="mic_handling", start=1.1, end=1.3, score=0.8) -> FaultEvent:
    return FaultEvent(kind, score, start, end)


def test_prediction_applies_contact_keeps_audio_confirms_end_releases():
    p = _preemptor()
    [apply] = p.on_tag(_tag(predicted=True, start=1.0), now=1.0)
    assert (apply.kind, apply.owner, apply.strategy, apply.behaviour) == ("apply", "t1", "mic_handling",
                                                                           "hand_at_mic.predicted")
    assert p.on_tag(_tag(start=1.2), now=1.2) == []  # contact: same owner, already applied — no second apply
    [confirm] = p.on_faults([_fault("keyboard"), _fault("mic_handling")], now=1.5)
    assert confirm.kind == "confirm" and confirm.owner == "t1" and "mic_handling" in confirm.reason
    assert p.tick(10.0) == []  # confirmed: held past the confirmation timeout while the hand stays
    [release] = p.on_tag(_tag(start=1.2, end=11.0, open_=False), now=11.0)
    assert release.kind == "release" and release.owner == "t1" and "ended" in release.reason
    assert p.active() == {}


def test_unconfirmed_prediction_times_out():
    p = _preemptor()
    p.on_tag(_tag(predicted=True), now=1.0)
    assert p.tick(1.9) == []
    [release] = p.tick(2.0)  # confirm_timeout_s = 1.0
    assert release.kind == "release" and "not confirmed" in release.reason
    assert p.on_tag(_tag(open_=False), now=2.1) == []  # nothing left to release


def test_repeated_open_tags_do_not_re_apply():
    p = _preemptor()
    assert len(p.on_tag(_tag(), now=1.0)) == 1
    assert p.on_tag(_tag(end=1.5), now=1.5) == []  # the same open tag again (re-published, updated end)
    assert [d.kind for d in p.tick(2.0)] == ["release"]  # timed out
    assert p.on_tag(_tag(end=2.5), now=2.5) == []  # still open, seen again: stays released
    assert len(p.on_tag(_tag(tag_id="t2"), now=3.0)) == 1  # a new tag is a new owner


def test_contact_restarts_the_confirmation_clock():
    p = _preemptor()
    p.on_tag(_tag(predicted=True), now=1.0)
    p.on_tag(_tag(start=1.8), now=1.8)  # contact just before the prediction's deadline
    assert p.tick(2.5) == []
    assert [d.kind for d in p.tick(2.8)] == ["release"]


def test_prediction_that_did_not_happen_releases_at_once():
    p = _preemptor()
    p.on_tag(_tag(predicted=True), now=1.0)
    [release] = p.on_tag(_tag(predicted=True, open_=False, end=1.4), now=1.4)
    assert release.kind == "release" and "did not happen" in release.reason


def test_only_confirming_faults_that_overlap_count():
    p = _preemptor()
    p.on_tag(_tag(start=5.0), now=5.0)
    assert p.on_faults([_fault("hum", 5.0, 6.0)], now=5.2) == []  # wrong type
    assert p.on_faults([_fault("mic_handling", 1.0, 2.0)], now=5.2) == []  # long before the tag
    assert len(p.on_faults([_fault("mic_handling", 4.6, 4.8)], now=5.2)) == 1  # in the pre-roll


def test_faults_from_another_tags_window_do_not_confirm():
    p = _preemptor()
    p.on_tag(_tag(tag_id="a", start=1.0), now=1.0)
    p.on_tag(_tag(tag_id="b", start=1.0), now=1.0)
    [confirm] = p.on_faults([_fault()], now=1.4, owner="b")
    assert confirm.owner == "b"
    assert [d.owner for d in p.tick(2.0)] == ["a"]  # a was never confirmed
    assert p.active() == {"b": "mic_handling"}


def test_safety_cap_releases_even_when_confirmed():
    p = _preemptor(typing=PreemptRule(strategy="keyboard", confirm_timeout_s=1.0, max_hold_s=5.0))
    p.on_tag(_tag("typing", start=0.0), now=0.0)
    p.on_faults([_fault("keyboard", 0.1, 0.5)], now=0.5)
    assert p.tick(4.9) == []
    [release] = p.tick(5.0)
    assert "maximum" in release.reason


def test_behaviours_outside_the_map_do_nothing_and_release_all():
    p = _preemptor(lean_in=PreemptRule(strategy="plosive"))
    assert p.on_tag(_tag("turned_away"), now=1.0) == []
    assert p.on_tag(_tag(predicted=True), now=1.0) == []  # no rule for the prediction here
    p.on_tag(_tag("lean_in", tag_id="L"), now=1.0)
    [release] = p.release_all(1.5, "bypass")
    assert release.owner == "L" and release.reason == "bypass" and p.active() == {}


def test_contact_with_a_different_strategy_swaps():
    p = _preemptor(**{"hand_at_mic.predicted": PreemptRule(strategy="plosive"),
                      "hand_at_mic": PreemptRule(strategy="mic_handling")})
    p.on_tag(_tag(predicted=True), now=1.0)
    kinds = [(d.kind, d.strategy) for d in p.on_tag(_tag(start=1.2), now=1.2)]
    assert kinds == [("release", "plosive"), ("apply", "mic_handling")]


def test_driven_by_the_recogniser():
    """Recogniser tags straight into the state machine: a hand sweeping into the mic zone gets mic_handling applied
    before the contact, and released when the hand leaves (no audio confirmation needed for the release)."""
    settings = BehaviourSettings.model_validate(
        {"zones": {"microphone": [(0.70, 0.40), (0.85, 0.40), (0.85, 0.60), (0.70, 0.60)]}}
    )
    analyser = BehaviourAnalyser(settings)
    p = Preemptor(settings.preempt)
    decisions = []
    fps = 30.0
    contact_t = None
    for i in range(60):
        t = i / fps
        x = 0.35 + 0.6 * t if t < 0.8 else 0.3  # sweeps right into the zone, then away at 0.8 s
        tags = analyser.push(t, i, [syn.face_result(t, i, centre=(0.2, 0.3)), syn.hand_result(t, i, centre=(x, 0.5))])
        for tag in tags:
            if tag.behaviour == "hand_at_mic" and not tag.predicted and tag.open:
                contact_t = tag.start
            decisions += p.on_tag(tag, now=t)
        decisions += p.tick(t)
    kinds = [d.kind for d in decisions]
    assert kinds == ["apply", "release"]
    assert contact_t is not None and decisions[0].t < contact_t
    assert decisions[0].t == pytest.approx(contact_t, abs=0.5)

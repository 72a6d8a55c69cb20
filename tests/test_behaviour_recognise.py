"""Recognition over coded frames: tag timing (start at the first frame, end at the first frame without it),
open/closed emission, hysteresis, predictions, a stopped camera, and bounded tags. Part results are scripted in the
vision stage's conventions (``behaviour.synthetic``); the real-detector runs are in test_behaviour_real.py."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from liverec_edge.behaviour import synthetic as syn
from liverec_edge.behaviour.codes import BehaviourSet, PartCode
from liverec_edge.behaviour.recognise import BehaviourAnalyser, BehaviourTag, Recogniser, as_tag, closed_tags
from liverec_edge.behaviour.settings import BehaviourSettings
from liverec_edge.types import Tag

FPS = 30.0
PERIOD = 1 / FPS
MIC = [(0.70, 0.40), (0.85, 0.40), (0.85, 0.60), (0.70, 0.60)]
KEYBOARD = [(0.2, 0.8), (0.8, 0.8), (0.8, 1.0), (0.2, 1.0)]


def _settings(**overrides) -> BehaviourSettings:
    data: dict = {"zones": {"microphone": MIC, "keyboard": KEYBOARD}}
    data.update(overrides)
    return BehaviourSettings.model_validate(data)


def _run(builder, seconds: float, settings: BehaviourSettings | None = None, finish: bool = True):
    """Feed ``builder(t, i) -> results`` for ``seconds`` at 30 fps; return every tag event with the time it came."""
    analyser = BehaviourAnalyser(settings or _settings())
    events: list[tuple[float, BehaviourTag]] = []
    n = round(seconds * FPS)
    for i in range(n):
        t = i / FPS
        events += [(t, tag) for tag in analyser.push(t, i, builder(t, i))]
    if finish:
        events += [(n / FPS, tag) for tag in analyser.finish(n / FPS)]
    return events, analyser


def _person(t, i, face_width=0.16, yaw=0.0, face=True):
    parts = [syn.face_result(t, i, width=face_width, yaw_deg=yaw) if face else syn.no_face(t, i)]
    return [*parts, syn.pose_result(t, i), syn.no_hand(t, i)]


def test_lean_in_tag_spans_exactly_the_lean():
    def builder(t, i):
        return _person(t, i, face_width=0.24 if 2.0 <= t < 3.5 else 0.16)

    events, _ = _run(builder, 5.0)
    tags = closed_tags([e for _, e in events])
    assert [t.behaviour for t in tags] == ["lean_in"]
    tag = tags[0]
    assert tag.start == pytest.approx(2.0, abs=1e-9)
    assert tag.end == pytest.approx(3.5, abs=PERIOD / 2)  # first frame without the lean
    assert tag.parts == ("face",) and tag.confidence == pytest.approx(0.9)
    assert tag.frame_indices == tuple(range(60, 105))  # the image series: every frame that shows it
    # Emitted open once it has held min_on_s (0.2 s), with the same id as the closed tag.
    opened = [(when, e) for when, e in events if e.open]
    assert len(opened) == 1
    when, first = opened[0]
    assert when == pytest.approx(2.2, abs=1e-9) and first.id == tag.id and first.start == tag.start


def test_short_dropouts_are_bridged_and_flicker_never_opens():
    def dropouts(t, i):
        lean = 1.5 <= t < 3.0 and i % 7 != 0  # the face looks normal-sized on every 7th frame (detector noise)
        return _person(t, i, face_width=0.24 if lean else 0.16)

    tags = closed_tags([e for _, e in _run(dropouts, 4.0)[0]])
    assert len(tags) == 1 and tags[0].start == pytest.approx(1.5, abs=PERIOD)
    assert tags[0].end == pytest.approx(3.0, abs=PERIOD)

    def flicker(t, i):  # close on 3 frames out of 10: never min_on_s (0.2 s) in a row
        return _person(t, i, face_width=0.24 if (t > 1.0 and i % 10 < 3) else 0.16)

    assert closed_tags([e for _, e in _run(flicker, 4.0)[0]]) == []


def test_turned_away_and_absent():
    def builder(t, i):
        if 1.0 <= t < 2.0:
            return _person(t, i, yaw=55)
        if 3.0 <= t < 7.0:
            return [syn.no_face(t, i), syn.no_pose(t, i), syn.no_hand(t, i)]
        return _person(t, i)

    tags = closed_tags([e for _, e in _run(builder, 8.0)[0]])
    by = {t.behaviour: t for t in tags}
    assert set(by) == {"turned_away", "absent"}
    assert by["turned_away"].start == pytest.approx(1.0, abs=1e-9)
    assert by["turned_away"].end == pytest.approx(2.0, abs=PERIOD / 2)
    assert by["absent"].start == pytest.approx(3.0, abs=1e-9)
    assert by["absent"].end == pytest.approx(7.0, abs=PERIOD / 2)


def test_absent_needs_its_minimum_duration():
    def builder(t, i):
        if 1.0 <= t < 3.0:  # two seconds away: shorter than absent.min_on_s (3 s)
            return [syn.no_face(t, i), syn.no_pose(t, i)]
        return _person(t, i)

    assert closed_tags([e for _, e in _run(builder, 4.0)[0]]) == []


def test_hand_covering_mouth_with_face_lost_keeps_one_tag():
    face = syn.face_result(0, 0)
    mouth = (face.attrs["mouth_x"], face.attrs["mouth_y"])

    def builder(t, i):
        if 1.0 <= t < 2.0:  # the hand hides the mouth and the face detector fails half of the time
            f = syn.face_result(t, i) if i % 2 else syn.no_face(t, i)
            return [f, syn.pose_result(t, i), syn.hand_result(t, i, centre=mouth)]
        return [syn.face_result(t, i), syn.pose_result(t, i), syn.hand_result(t, i, centre=(0.5, 0.8))]

    tags = closed_tags([e for _, e in _run(builder, 3.0)[0]])
    assert [t.behaviour for t in tags] == ["hand_at_mouth"]  # and no turned_away for the hidden face
    assert tags[0].start == pytest.approx(1.0, abs=1e-9) and tags[0].end == pytest.approx(2.0, abs=PERIOD / 2)
    assert tags[0].parts == ("face", "hand")


def test_typing_needs_moving_fingers_in_the_keyboard_zone():
    def builder(t, i):
        phase = i * 1.7 if 1.0 <= t < 2.5 else 0.0
        return [syn.face_result(t, i), syn.hand_result(t, i, centre=(0.5, 0.9), phase=phase)]

    tags = closed_tags([e for _, e in _run(builder, 4.0)[0]])
    assert [t.behaviour for t in tags] == ["typing"]
    # The motion energy is the median over a 0.25 s window: the start and the end lag by about half of it.
    half_window = 0.25 / 2
    assert 1.0 <= tags[0].start <= 1.0 + half_window + PERIOD
    assert 2.5 <= tags[0].end <= 2.5 + half_window + PERIOD


def test_prediction_opens_before_contact_and_contact_keeps_its_id():
    def builder(t, i):
        x = min(0.35 + 0.6 * t, 0.78)  # moves right into the mic zone, then rests on the mic
        return [syn.face_result(t, i), syn.hand_result(t, i, centre=(x, 0.5)), syn.pose_result(t, i)]

    events, _ = _run(builder, 2.0)
    predicted = [(w, e) for w, e in events if e.predicted and e.open and e.behaviour == "hand_at_mic"]
    real_open = [(w, e) for w, e in events if e.behaviour == "hand_at_mic" and e.open and not e.predicted]
    assert predicted and real_open
    (t_pred, pred), (_, contact) = predicted[0], real_open[0]
    assert t_pred < contact.start  # emitted before the hand reached the zone
    assert contact.start - t_pred <= 0.5 + 1e-9  # within the prediction horizon
    assert contact.id == pred.id  # the owner carries over
    # The prediction was never closed as "did not happen".
    assert not [e for _, e in events if e.predicted and not e.open and e.behaviour == "hand_at_mic"]
    final = closed_tags([e for _, e in events])
    assert [t.behaviour for t in final] == ["hand_at_mic"] and final[0].id == pred.id


def test_prediction_that_does_not_happen_is_closed_as_predicted():
    def builder(t, i):
        x = 0.35 + 0.6 * min(t, 0.45)  # approaches, then stops short of the zone (x = 0.62)
        return [syn.face_result(t, i), syn.hand_result(t, i, centre=(x, 0.5))]

    events, _ = _run(builder, 2.0)
    mic = [e for _, e in events if e.behaviour == "hand_at_mic"]
    opened = [e for e in mic if e.predicted and e.open]
    cancelled = [e for e in mic if e.predicted and not e.open]
    assert opened and cancelled and cancelled[0].id == opened[0].id
    assert not [e for _, e in events if not e.predicted]
    assert closed_tags([e for _, e in events]) == []  # predictions are not reported as behaviour
    assert "hand_at_mic" in {t.behaviour for t in closed_tags([e for _, e in events], include_predicted=True)}


def test_camera_stop_closes_open_tags_at_the_last_frame():
    analyser = BehaviourAnalyser(_settings())
    opened = []
    for i in range(60):  # leaning in from the start of the stream... baseline first
        t = i / FPS
        opened += analyser.push(t, i, _person(t, i, face_width=0.24 if t >= 1.2 else 0.16))
    assert any(e.open for e in opened)
    assert analyser.tick(59 / FPS + 0.5) == []  # a short wait is not a stall (max_frame_gap_s = 1 s)
    closed = analyser.tick(59 / FPS + 1.5)  # then nothing for 1.5 s
    assert len(closed) == 1 and not closed[0].open
    assert closed[0].end == pytest.approx(60 / FPS, abs=1e-6)  # last frame + one frame period
    assert analyser.recogniser.open_tags() == []
    # Frames resume after the gap: recognition starts afresh, without a crash or a negative duration.
    more = [e for i in range(90, 150) for e in analyser.push(i / FPS, i, _person(i / FPS, i, face_width=0.24))]
    assert all(e.end >= e.start for e in more)


def test_long_gap_between_frames_closes_at_the_last_frame_before_it():
    analyser = BehaviourAnalyser(_settings())
    events = []
    for i in range(60):
        events += analyser.push(i / FPS, i, _person(i / FPS, i, yaw=60 if i >= 20 else 0))
    events += analyser.push(10.0, 300, _person(10.0, 300, yaw=60))
    closed = [e for e in events if not e.open]
    assert len(closed) == 1 and closed[0].end == pytest.approx(60 / FPS, abs=1e-6)


def test_image_series_is_bounded_and_evenly_thinned():
    settings = _settings(max_tag_frames=50)
    events, _ = _run(lambda t, i: _person(t, i, yaw=60 if t >= 0.5 else 0), 20.0, settings)
    tag = closed_tags([e for _, e in events])[0]
    assert tag.behaviour == "turned_away"
    assert 25 <= len(tag.frame_indices) <= 50
    steps = {b - a for a, b in itertools.pairwise(tag.frame_indices)}
    assert len(steps) == 1  # evenly spaced
    assert tag.frame_indices[0] == 15


def test_disabled_behaviour_is_not_tagged():
    settings = _settings(lean_in={"enabled": False})
    events, _ = _run(lambda t, i: _person(t, i, face_width=0.24 if t >= 1.5 else 0.16), 3.0, settings)
    assert events == []


def test_tag_ids_are_unique_and_prefixed():
    analyser = BehaviourAnalyser(_settings(), id_prefix="cam0:")
    ids = set()
    for i in range(300):
        t = i / FPS
        for e in analyser.push(t, i, _person(t, i, yaw=60 if (i // 45) % 2 else 0)):
            ids.add(e.id)
    assert len(ids) >= 3 and all(x.startswith("cam0:turned_away-") for x in ids)


def test_behaviour_tag_is_a_tag():
    events, _ = _run(lambda t, i: _person(t, i, yaw=60), 1.0)
    tag = events[-1][1]
    assert isinstance(tag, Tag)
    plain = as_tag(tag)
    assert type(plain) is Tag and plain.id == tag.id and plain.frame_indices == tag.frame_indices


def test_slow_analysis_rate_keeps_tags_whole():
    """On a slow box the vision stage may analyse only 3 frames a second: that is not a camera stall."""
    analyser = BehaviourAnalyser(_settings())
    fps = 3.0
    events = []
    for i in range(24):
        t = i / fps
        events += analyser.push(t, i, _person(t, i, face_width=0.24 if 3.0 <= t < 6.0 else 0.16))
    events += analyser.finish(24 / fps)
    tags = closed_tags(events)
    assert [t.behaviour for t in tags] == ["lean_in"]
    assert tags[0].start == pytest.approx(3.0) and tags[0].end == pytest.approx(6.0)


@settings(max_examples=80, deadline=None)
@given(
    flags=st.lists(st.tuples(st.integers(0, 127), st.integers(0, 127), st.integers(0, 63)), min_size=1, max_size=300),
    gaps=st.lists(st.sampled_from([PERIOD, PERIOD, PERIOD, 2 * PERIOD, 1.5]), min_size=1, max_size=300),
)
def test_any_code_sequence_gives_well_formed_tags(flags, gaps):
    """Whatever the codes (random state flags, irregular frame times, stalls): every tag that opens closes once,
    spans of one behaviour never overlap, start <= end, and ids are unique per tag."""
    recogniser = Recogniser(_settings())
    events: list[BehaviourTag] = []
    t = 0.0
    for i, (face, hand, pose) in enumerate(flags):
        t += gaps[i % len(gaps)]
        s = BehaviourSet(t, i, PartCode(face, 0.9), (PartCode(hand, 0.8),), PartCode(pose, 0.9))
        events += recogniser.push(s)
    events += recogniser.finish(t + PERIOD)
    assert recogniser.open_tags() == []
    closed = [e for e in events if not e.open]
    assert len({e.id for e in closed}) == len(closed)
    assert {e.id for e in events if e.open} <= {e.id for e in closed}
    for e in events:
        assert e.start <= e.end and 0.0 <= e.confidence <= 1.0
    by_behaviour: dict[str, list[BehaviourTag]] = {}
    for e in closed:
        if not e.predicted:
            by_behaviour.setdefault(e.behaviour, []).append(e)
    for spans in by_behaviour.values():
        spans.sort(key=lambda e: e.start)
        for a, b in itertools.pairwise(spans):
            assert a.end <= b.start + 1e-9

"""Behaviour codes: part results (in the vision stage's conventions) → per-frame states, and bad input → sane codes."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from liverec_edge.behaviour import synthetic as syn
from liverec_edge.behaviour.codes import BehaviourEncoder, BehaviourSet, FaceState, HandState, PoseState
from liverec_edge.behaviour.settings import BehaviourSettings
from liverec_edge.types import PartResult

FPS = 30.0
MIC = [(0.70, 0.40), (0.85, 0.40), (0.85, 0.60), (0.70, 0.60)]
KEYBOARD = [(0.2, 0.8), (0.8, 0.8), (0.8, 1.0), (0.2, 1.0)]


def _encoder(**overrides) -> BehaviourEncoder:
    data = {"zones": {"microphone": MIC, "keyboard": KEYBOARD}}
    data.update(overrides)
    return BehaviourEncoder(BehaviourSettings.model_validate(data))


def _run(encoder: BehaviourEncoder, builder, n: int, start: int = 0) -> list[BehaviourSet]:
    out = []
    for i in range(start, start + n):
        t = i / FPS
        out.append(encoder.encode(t, i, builder(t, i)))
    return out


def test_hand_over_mouth_is_at_mouth_and_covers_it():
    enc = _encoder()
    face = syn.face_result(0, 0, centre=(0.5, 0.3), width=0.16)
    mouth = (face.attrs["mouth_x"], face.attrs["mouth_y"])
    s = enc.encode(0.0, 0, [face, syn.hand_result(0, 0, centre=mouth), syn.pose_result(0, 0)])
    assert s.hand_state & HandState.AT_MOUTH
    assert s.face_state & FaceState.MOUTH_COVERED and s.face_state & FaceState.PRESENT
    # A hand at the chest, 2 face widths below the mouth, is not.
    s = enc.encode(0.04, 1, [face, syn.hand_result(0, 1, centre=(0.5, 0.75)), syn.pose_result(0, 1)])
    assert not s.hand_state & HandState.AT_MOUTH and not s.face_state & FaceState.MOUTH_COVERED


def test_covered_face_uses_the_last_face_then_forgets_it():
    enc = _encoder()
    face = syn.face_result(0, 0)
    mouth = (face.attrs["mouth_x"], face.attrs["mouth_y"])
    enc.encode(0.0, 0, [face])
    # The face detector fails behind the hand; no pose either: the last face stands in.
    s = enc.encode(0.5, 1, [syn.no_face(0.5, 1), syn.hand_result(0.5, 1, centre=mouth)])
    assert s.hand_state & HandState.AT_MOUTH
    assert s.face_state & FaceState.REMEMBERED and not s.face_state & FaceState.PRESENT
    # Beyond face_memory_s (1.5 s) there is no mouth to be at.
    for k, t in enumerate(np.arange(0.6, 2.3, 0.1)):
        s = enc.encode(float(t), 2 + k, [syn.no_face(t, 2 + k), syn.hand_result(t, 2 + k, centre=mouth)])
    assert not s.hand_state & HandState.AT_MOUTH


def test_hand_in_mic_zone_with_hysteresis():
    enc = _encoder()
    inside = enc.encode(0.0, 0, [syn.hand_result(0, 0, centre=(0.78, 0.5))])
    assert inside.hand_state & HandState.IN_MIC_ZONE
    # Mostly out (a few fingertips in) keeps it at the mic (exit 5 %) but would not have entered (20 %).
    def share(x: float) -> float:
        return enc.zones.microphone.fraction_inside(syn.hand_result(0, 1, centre=(x, 0.5)).landmarks)

    edge_x = next(x for x in np.arange(0.6, 0.8, 0.002) if 0.05 < share(x) < 0.2)
    edge = syn.hand_result(0, 1, centre=(edge_x, 0.5))
    assert enc.encode(1 / FPS, 1, [edge]).hand_state & HandState.IN_MIC_ZONE
    fresh = _encoder()
    assert not fresh.encode(0.0, 0, [edge]).hand_state & HandState.IN_MIC_ZONE


def test_approaching_mic_is_flagged_before_contact():
    enc = _encoder()

    def hand_moving_right(t, i):
        return [syn.hand_result(t, i, centre=(0.35 + 0.6 * t, 0.5))]  # 0.6 frame widths/s, ~8 hand lengths/s

    states = _run(enc, hand_moving_right, 30)
    flags = [s.hand_state for s in states]
    first_contact = next(i for i, f in enumerate(flags) if f & HandState.IN_MIC_ZONE)
    first_approach = next(i for i, f in enumerate(flags) if f & HandState.APPROACHING_MIC)
    assert first_approach < first_contact
    lead_s = (first_contact - first_approach) / FPS
    assert 0.05 <= lead_s <= 0.5 + 1e-9  # within the prediction horizon, and early enough to act on


def _measured_every_other_frame(builder):
    """The vision scheduler's view of a hand measured on even frames only: odd frames repeat the last measurement
    (its landmarks) restamped and marked ``reused``."""
    last: dict[str, PartResult] = {}

    def build(t, i):
        if i % 2 == 0 or "hand" not in last:
            (last["hand"],) = builder(t, i)
            return [last["hand"]]
        repeated = last["hand"]
        attrs = {**repeated.attrs, "reused": 1.0, "age_frames": 1.0}
        return [PartResult("hand", t, i, True, repeated.confidence, repeated.box, repeated.landmarks, attrs)]

    return build


def test_a_repeated_hand_result_carries_no_motion():
    """Repeats carry the last landmarks: they must not read as a stop followed by a double-speed jump. Motion is
    measured between measured frames over the true interval, so approach and typing are seen as when measured on
    every frame."""
    every = [s.hand_state for s in _run(_encoder(), lambda t, i: [syn.hand_result(t, i, centre=(0.35 + 0.6 * t, 0.5))],
                                        30)]  # fmt: skip
    halved = _measured_every_other_frame(lambda t, i: [syn.hand_result(t, i, centre=(0.35 + 0.6 * t, 0.5))])
    alternate = [s.hand_state for s in _run(_encoder(), halved, 30)]
    first = {name: [next(i for i, f in enumerate(flags) if f & flag) for flags in (every, alternate)]
             for name, flag in (("approach", HandState.APPROACHING_MIC), ("contact", HandState.IN_MIC_ZONE))}
    assert first["approach"][1] < first["contact"][1]
    assert abs(first["approach"][1] - first["approach"][0]) <= 2
    # A steady motion just over the typing threshold is steady motion when half the frames repeat: no stop-go
    # flicker of MOVING from a zero speed on the repeat and a double one on the next measurement.
    settings = BehaviourSettings.model_validate({"zones": {"microphone": MIC, "keyboard": KEYBOARD}})
    lm = syn.hand_landmarks((0.5, 0.9), 0.08)
    hand_len = 2.0 * float(np.hypot(lm[9, 0] - lm[0, 0], (lm[9, 1] - lm[0, 1]) * 0.75))  # the encoder's body unit
    speed = 1.2 * settings.typing.energy_on * hand_len  # frame widths per second
    drift = _measured_every_other_frame(lambda t, i: [syn.hand_result(t, i, centre=(0.3 + speed * t, 0.9))])
    moving = [bool(s.hand_state & HandState.MOVING) for s in _run(_encoder(), drift, 60)]
    onset = moving.index(True)
    assert onset <= 3 and all(moving[onset:])


def test_a_repeated_hand_without_a_track_is_not_approaching():
    """A repeated (``reused``) result whose hand has no track yet (the encoder started mid-stream, or the hands
    swapped tracks) adds nothing to the approach histories: near the mouth and the mic it is not approaching, and
    the empty histories must not crash the encoder (seen on the ASL clips)."""
    enc = _encoder()
    face = syn.face_result(0, 0, centre=(0.5, 0.3), width=0.16)
    for i, centre in enumerate([(0.5, 0.55), (0.62, 0.5), (0.62, 0.5)]):  # below the mouth, then beside the mic zone
        hand = syn.hand_result(i / FPS, i, centre=centre)
        hand = PartResult("hand", hand.t, i, True, hand.confidence, hand.box, hand.landmarks,
                          {**hand.attrs, "reused": 1.0, "age_frames": 1.0}, instance=i % 2)
        s = enc.encode(i / FPS, i, [face, hand, syn.pose_result(i / FPS, i)])
        assert s.hand_state & HandState.PRESENT
        assert not s.hand_state & (HandState.APPROACHING_MIC | HandState.RISING_TO_MOUTH)


def test_still_hand_near_mic_is_not_approaching():
    enc = _encoder()
    states = _run(enc, lambda t, i: [syn.hand_result(t, i, centre=(0.6, 0.5))], 10)
    assert not any(s.hand_state & (HandState.APPROACHING_MIC | HandState.IN_MIC_ZONE) for s in states)


def test_typing_fingers_move_in_the_keyboard_zone():
    enc = _encoder()
    typing = _run(enc, lambda t, i: [syn.hand_result(t, i, centre=(0.5, 0.9), phase=i * 1.7)], 15)
    assert typing[-1].hand_state & HandState.IN_KEYBOARD_ZONE and typing[-1].hand_state & HandState.MOVING
    enc = _encoder()
    resting = _run(enc, lambda t, i: [syn.hand_result(t, i, centre=(0.5, 0.9))], 15)
    assert resting[-1].hand_state & HandState.IN_KEYBOARD_ZONE
    assert not any(s.hand_state & HandState.MOVING for s in resting)


def test_lean_in_is_relative_to_each_presenters_baseline():
    """A presenter far away (small face) and one close (big face) are both upright at their own size; each leans in
    when their face grows by the ratio."""
    for width in (0.08, 0.3):
        enc = _encoder()
        upright = _run(enc, lambda t, i, w=width: [syn.face_result(t, i, width=w)], 45)
        assert not any(s.face_state & FaceState.CLOSE for s in upright)
        assert upright[-1].lean_ratio == pytest.approx(1.0)
        leaning = _run(enc, lambda t, i, w=width: [syn.face_result(t, i, width=w * 1.4)], 5, start=45)
        assert all(s.face_state & FaceState.CLOSE for s in leaning)
        assert leaning[-1].lean_ratio == pytest.approx(1.4, rel=0.02)
    # No decision while the baseline is being learnt.
    enc = _encoder()
    assert math.isnan(enc.encode(0.0, 0, [syn.face_result(0, 0)]).lean_ratio)


def test_turned_face_with_yaw_hysteresis():
    enc = _encoder()
    yaws = [0, 45, 35, 31, 25, -45]
    states = [enc.encode(i / FPS, i, [syn.face_result(i / FPS, i, yaw_deg=y)]) for i, y in enumerate(yaws)]
    turned = [bool(s.face_state & FaceState.TURNED) for s in states]
    assert turned == [False, True, True, True, False, True]


def test_side_camera_yaw_offset():
    """A camera beside the presenter sees their normal, mic-facing pose at 35°: with the offset that is frontal."""
    enc = _encoder(turned_away={"yaw_offset_deg": 35})
    states = [enc.encode(i / FPS, i, [syn.face_result(i / FPS, i, yaw_deg=y)]) for i, y in enumerate([35, 30, -10])]
    assert [bool(s.face_state & FaceState.TURNED) for s in states] == [False, False, True]
    assert states[0].face_state & FaceState.FRONTAL


def test_head_turn_seen_by_the_pose_when_the_face_is_lost():
    enc = _encoder()
    s = enc.encode(0.0, 0, [syn.no_face(0, 0), syn.pose_result(0, 0, head_yaw_deg=70)])
    assert s.pose_state & PoseState.HEAD_TURNED and s.pose_state & PoseState.IN_SEAT
    s = enc.encode(0.04, 1, [syn.no_face(0, 1), syn.pose_result(0, 1, head_yaw_deg=5)])
    assert not s.pose_state & PoseState.HEAD_TURNED


def test_seat_zone_decides_in_or_out_of_seat():
    enc = _encoder(zones={"seat": [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]})
    s = enc.encode(0.0, 0, [syn.face_result(0, 0, centre=(0.25, 0.3)), syn.pose_result(0, 0, centre_x=0.25)])
    assert s.face_state & FaceState.IN_SEAT and s.pose_state & PoseState.IN_SEAT
    s = enc.encode(0.04, 1, [syn.face_result(0, 1, centre=(0.8, 0.3)), syn.pose_result(0, 1, centre_x=0.8)])
    assert not s.face_state & FaceState.IN_SEAT
    assert s.pose_state & PoseState.OUT_OF_SEAT and not s.pose_state & PoseState.IN_SEAT


def test_reused_pose_is_marked_stale():
    s = _encoder().encode(0.0, 0, [syn.pose_result(0, 0, reused=True)])
    assert s.pose_state & PoseState.STALE and s.pose_state & PoseState.PRESENT


@pytest.mark.parametrize(
    "bad",
    [
        PartResult("hand", 0, 0, True, 0.9, None, np.zeros((5, 7), np.float32)),  # wrong landmark count, no box
        PartResult("hand", 0, 0, True, 0.9, (0.5, 0.5, 0.4, 0.4), np.full((21, 3), np.nan, np.float32)),
        PartResult("face", 0, 0, True, 0.9, None, np.zeros((2, 3), np.float32), {"yaw_deg": "left"}),  # type: ignore[dict-item]
        PartResult("face", 0, 0, True, 0.9, (0.1, 0.1, 0.1, 0.1), np.zeros((0, 3), np.float32), {"size": -1.0}),
        PartResult("pose", 0, 0, True, 0.9, None, np.zeros((3,), np.float32)),
        PartResult("pose", 0, 0, True, 0.9, None, np.full((33, 4), np.inf, np.float32)),
        PartResult("ear", 0, 0, True, 0.9),
        PartResult("hand", 0, 0, True, 0.9, (np.nan, 0, 1, 1)),
    ],
)
def test_malformed_results_do_not_crash(bad):
    enc = _encoder()
    for i in range(3):
        s = enc.encode(i / FPS, i, [bad, syn.face_result(i / FPS, i)])
        assert isinstance(s, BehaviourSet)
        assert s.face_state & FaceState.PRESENT  # the good part is still coded


def test_empty_results_and_bad_times():
    enc = _encoder()
    s = enc.encode(0.0, 0, [])
    assert s.face_state == FaceState.ABSENT and s.hands == () and s.pose_state == PoseState.ABSENT
    assert enc.encode(0.1, 1, [syn.face_result(0.1, 1)], aspect=0.0).face_state & FaceState.PRESENT
    with pytest.raises(ValueError, match="finite"):
        enc.encode(math.nan, 2, [])
    # Time going backwards (a new clip) resets motion state instead of producing a negative speed.
    enc.encode(5.0, 3, [syn.hand_result(5.0, 3, centre=(0.5, 0.5))])
    s = enc.encode(1.0, 4, [syn.hand_result(1.0, 4, centre=(0.2, 0.5))])
    assert not s.hand_state & HandState.MOVING


def test_behaviour_set_is_small():
    s = _encoder().encode(0.0, 0, [syn.face_result(0, 0), syn.hand_result(0, 0, centre=(0.5, 0.8)),
                                   syn.pose_result(0, 0)])
    assert not hasattr(s, "__dict__")  # slots: thousands are cheap
    size = sys.getsizeof(s) + sum(sys.getsizeof(c) for c in (s.face, s.pose, *s.hands)) + sys.getsizeof(s.hands)
    assert size < 500
    assert "AT_MOUTH" not in s.describe() and "PRESENT" in s.describe()

"""Value laws against every check value in ../shared/protocol/x32-osc.md, and grid round trips (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liverec_edge.mixer.firmware import FirmwareConfigError, firmware_from_dict, load_firmware
from liverec_edge.mixer.laws import EnumLaw, LawError, LevelLaw, LinLaw, LogLaw, law_from_spec
from liverec_edge.mixer.strip import ParamNameError, parse_name

X32 = load_firmware("x32")
XAIR = load_firmware("xair")


def law(name: str):
    return X32.resolve(name).law


# ---- the document's check values ----------------------------------------------------------------------------------


def test_eq_freq_half_is_632_5_hz() -> None:
    assert law("ch01.eq.1.freq").eng_of_float(0.5) == pytest.approx(632.5, abs=0.05)


def test_hpf_half_is_89_4_hz() -> None:
    assert law("ch01.hpf.freq").eng_of_float(0.5) == pytest.approx(89.4, abs=0.05)


def test_q_0_4648_is_2_0() -> None:
    q = law("ch01.eq.1.q")
    # The desk prints Q with one decimal: the grid point at f = 0.4648 (33/71) is 1.96, shown as 2.0.
    assert round(q.eng_of_float(0.4648), 1) == 2.0
    assert q.index_of_float(0.4648) == 33
    assert q.index_of_eng(2.0) == 33


def test_gate_hold_and_release_at_half() -> None:
    assert law("ch01.gate.hold").eng_of_float(0.5) == pytest.approx(6.32, abs=0.005)
    assert law("ch01.gate.release").eng_of_float(0.5) == pytest.approx(141, abs=0.5)
    assert law("ch01.dyn.release").eng_of_float(0.5) == pytest.approx(141, abs=0.5)


def test_trim_headamp_and_gate_range_at_half() -> None:
    assert law("ch01.trim").eng_of_float(0.5) == 0.0
    assert law("ch01.headamp.gain").eng_of_float(0.5) == 24.0
    assert XAIR.resolve("ch01.headamp.gain").law.eng_of_float(0.5) == 24.0
    assert law("ch01.gate.range").eng_of_float(0.5) == 31.5


def test_dyn_thr_eq_gain_pan_inverse() -> None:
    assert law("ch01.dyn.thr").float_of_eng(-30) == 0.5
    assert law("ch01.eq.3.gain").float_of_eng(3) == pytest.approx(0.6)
    assert law("ch01.pan").float_of_eng(50) == 0.75


def test_fader_0_825_is_plus_3_db_and_0_db_grid_point() -> None:
    fader = law("ch01.fader")
    assert fader.eng_of_float(0.8250) == pytest.approx(3.0)
    assert fader.index_of_eng(0.0) == 767
    assert fader.float_of_index(767) == pytest.approx(0.7498, abs=1e-4)
    assert fader.index_of_float(0.8250) == int(0.825 * 1023.5)


def test_level_law_segments_and_minus_inf() -> None:
    fader = LevelLaw(1024, "trunc")
    for f, db in [(0.5, -10), (0.25, -30), (0.0625, -60), (0.75, 0), (1.0, 10)]:
        assert fader.eng_of_float(f) == pytest.approx(db)
        assert fader.float_of_eng(db) == pytest.approx(f)
    assert fader.eng_of_float(0.0) == float("-inf")
    assert fader.float_of_eng("-inf") == 0.0
    assert fader.snap(-200) == float("-inf")
    with pytest.raises(LawError, match=r"outside"):
        fader.float_of_eng(12)


def test_send_level_rounds_to_161_steps() -> None:
    send = law("ch01.mix.03.level")
    assert send.count == 161
    assert send.index_of_float(0.5 + 0.4 / 160) == 80
    assert send.index_of_float(0.5 + 0.6 / 160) == 81


def test_enums_take_names_and_numbers() -> None:
    assert law("ch01.eq.2.type").parse("PEQ") == "PEQ"
    assert law("ch01.eq.2.type").index_of_eng("peq") == 2
    assert law("ch01.gate.mode").index_of_eng("GATE") == 3
    assert law("ch01.dyn.ratio").parse("4") == 4.0
    assert law("ch01.dyn.ratio").index_of_eng(4) == 6
    assert law("ch01.hpf.slope").index_of_eng(24) == 2
    on = law("ch01.on")
    assert on.index_of_eng(0) == 0 and on.index_of_eng("ON") == 1 and on.node_text(1) == "ON"
    with pytest.raises(LawError, match=r"not one of"):
        law("ch01.dyn.ratio").parse("3.5")
    with pytest.raises(LawError, match=r"not one of"):
        law("ch01.eq.2.type").parse("Notch")


def test_out_of_range_and_garbage_values_are_named() -> None:
    with pytest.raises(LawError, match=r"outside 20..400"):
        law("ch01.hpf.freq").parse("10")
    with pytest.raises(LawError, match=r"expected a number"):
        law("ch01.trim").parse("loud")
    with pytest.raises(LawError, match=r"expected an int"):
        law("ch01.on").index_of_osc("x")
    with pytest.raises(LawError, match=r"expected a float"):
        law("ch01.fader").index_of_osc(3)


def test_law_spec_errors_name_the_key() -> None:
    with pytest.raises(LawError, match=r"laws.x: a logf law needs 'steps'"):
        law_from_spec({"law": "logf", "min": 1, "max": 2}, "laws.x")
    with pytest.raises(LawError, match=r"unknown key"):
        law_from_spec({"law": "linf", "min": 1, "max": 2, "step": 1, "stpe": 3}, "laws.y")


def test_names_are_validated_against_the_desk() -> None:
    assert X32.resolve("ch32.fader").address() == "/ch/32/mix/fader"
    assert XAIR.resolve("bus03.fader").address() == "/bus/3/mix/fader"
    assert X32.resolve("bus03.fader").address() == "/bus/03/mix/fader"
    assert XAIR.resolve("main.fader").address() == "/lr/mix/fader"
    assert X32.resolve("presenter.hpf.freq", {"presenter": 1}).address() == "/ch/01/preamp/hpf"
    with pytest.raises(ParamNameError, match=r"channel 17 is out of range 1..16 on xair"):
        XAIR.resolve("ch17.fader")
    with pytest.raises(ParamNameError, match=r"EQ band 5 is out of range 1..4"):
        X32.resolve("ch01.eq.5.gain")
    with pytest.raises(ParamNameError, match=r"did you mean ch01.hpf.freq"):
        parse_name("ch01.hpf.frq")


def test_bad_firmware_yaml_is_named() -> None:
    with pytest.raises(FirmwareConfigError, match=r"missing key 'port'"):
        firmware_from_dict({"family": "x"})
    with pytest.raises(FirmwareConfigError, match=r"no such file|cannot read"):
        load_firmware("nosuchdesk")


# ---- properties: eng -> float -> eng is stable on the grid ---------------------------------------------------------

ALL_LAWS = {spec.law_name: spec.law for fw in (X32, XAIR) for spec in fw.params.values()}


@pytest.mark.parametrize("name", sorted(ALL_LAWS))
def test_every_grid_point_round_trips(name: str) -> None:
    grid = ALL_LAWS[name]
    for index in range(grid.count):
        eng = grid.eng_of_index(index)
        assert grid.index_of_eng(eng) == index, (name, index, eng)
        assert grid.index_of_osc(grid.osc_arg(index)) == index
        assert grid.index_of_node_text(grid.node_text(index)) == index or isinstance(grid, LogLaw | LevelLaw)


@given(st.sampled_from(sorted(ALL_LAWS)), st.floats(0.0, 1.0))
def test_snapped_float_is_a_fixed_point(name: str, f: float) -> None:
    grid = ALL_LAWS[name]
    index = grid.index_of_float(f)
    eng = grid.eng_of_index(index)
    assert grid.index_of_eng(eng) == index
    assert grid.snap(eng) == eng
    # float32 on the wire must not move the grid point either
    import struct

    wire = struct.unpack(">f", struct.pack(">f", grid.float_of_index(index)))[0]
    assert grid.index_of_float(wire) == index


@given(st.floats(-90.0, 10.0))
def test_fader_snap_is_idempotent_and_close(db: float) -> None:
    fader = LevelLaw(1024, "trunc")
    snapped = fader.snap(db)
    assert fader.snap(snapped) == snapped
    if db > -60:
        assert abs(snapped - db) < 0.2  # the grid is finer than 0.2 dB above -60 dB


@given(st.floats(20.0, 400.0))
def test_hpf_snap_within_half_a_step(hz: float) -> None:
    hpf = LogLaw(20, 400, 101)
    snapped = hpf.snap(hz)
    half_step = (400 / 20) ** (0.5 / 100)
    assert hz / half_step * 0.9999 <= snapped <= hz * half_step * 1.0001


def test_linear_grid_prints_exactly() -> None:
    trim = LinLaw(-18, 18, 0.25)
    assert trim.snap(3.1) == 3.0 and trim.snap(3.2) == 3.25
    assert trim.node_text(trim.index_of_eng(-1.5)) == "-1.50"
    assert EnumLaw([12, 18, 24]).snap(18) == 18.0
    assert math.isinf(LevelLaw(161).eng_of_index(0))

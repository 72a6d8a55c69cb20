"""The strategy table: the packaged defaults load and make sense to an engineer; bad tables fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from liverec_edge.audio.settings import REPORTABLE_FAULTS, AudioSettings
from liverec_edge.audio.strategy import StrategyError, StrategyTable, default_strategies_path
from liverec_edge.mixer.strip import parse_name
from liverec_edge.types import FaultEvent

CHANNELS = {"ch": "ch01", "music": "ch07"}


@pytest.fixture(scope="module")
def table() -> StrategyTable:
    return StrategyTable.load(AudioSettings().resolved_strategies())


def event(kind: str, score: float = 0.9, start: float = 10.0, end: float = 10.4, freq: float | None = None):
    return FaultEvent(kind, score, start, end, freq)


def test_defaults_cover_every_fault_with_valid_strip_params(table: StrategyTable) -> None:
    assert default_strategies_path().is_file()
    assert set(table.spec.strategies) == set(REPORTABLE_FAULTS)
    for name in table.params(CHANNELS):
        parse_name(name)  # the mixer's own grammar accepts every parameter the table can touch
    for kind in REPORTABLE_FAULTS:
        actions = table.actions_for(event(kind, freq=50.0 if kind == "hum" else 1000.0), CHANNELS, "t1",
                                    measurements={"peak_dbfs": 0.0, "level_dbfs": -20.0, "floor_dbfs": -65.0})
        assert actions, kind
        for action in actions:
            parse_name(action.param)
            assert action.owner == "t1" and kind in action.reason


def test_hum_notches_at_measured_fundamental_and_harmonics(table: StrategyTable) -> None:
    actions = {a.param: a for a in table.actions_for(event("hum", freq=50.13), CHANNELS, "audio:hum")}
    assert [actions[f"ch01.eq.{b}.freq"].value for b in (1, 2, 3)] == pytest.approx([50.13, 100.26, 150.39])
    for band in (1, 2, 3):
        assert actions[f"ch01.eq.{band}.type"].value == "PEQ"
        assert actions[f"ch01.eq.{band}.q"].value == pytest.approx(10.0)
        assert -15.0 <= float(actions[f"ch01.eq.{band}.gain"].value) <= -9.0
    assert all(a.restore for a in actions.values())


def test_hum_without_frequency_changes_no_frequency(table: StrategyTable) -> None:
    actions = table.actions_for(event("hum", freq=None), CHANNELS, "audio:hum")
    assert not [a for a in actions if a.param.endswith(".freq")]


def test_feedback_notch_and_fader_held_until_cleared(table: StrategyTable) -> None:
    actions = {a.param: a for a in table.actions_for(event("feedback", freq=2512.5), CHANNELS, "audio:fb")}
    notch = [p for p in actions if p.endswith(".freq")]
    assert len(notch) == 1 and actions[notch[0]].value == pytest.approx(2512.5)
    band = notch[0].split(".")[2]
    assert actions[f"ch01.eq.{band}.q"].value >= 8.0
    fader = actions["ch01.fader"]
    assert fader.mode == "relative" and fader.value == pytest.approx(-3.0)
    assert all(a.hold_s is None and a.restore for a in actions.values())


def test_clipping_trims_in_3db_steps_sticky_and_bounded(table: StrategyTable) -> None:
    (one,) = table.actions_for(event("clipping"), CHANNELS, "audio:clip", measurements={"peak_dbfs": 0.0})
    assert (one.param, one.mode, one.value, one.restore, one.hold_s) == ("ch01.trim", "relative", -3.0, False, None)
    (two,) = table.actions_for(event("clipping"), CHANNELS, "audio:clip", measurements={"peak_dbfs": 2.5})
    assert two.value == pytest.approx(-6.0)
    (unknown,) = table.actions_for(event("clipping"), CHANNELS, "audio:clip")
    assert unknown.value == pytest.approx(-3.0)
    # the -18 dB floor is of the result (the desk's trim + the step): only the mixer knows the desk's value
    assert (one.min_value, one.max_value) == (-18.0, None)


def test_tag_scoped_strategies_restore_after_the_event(table: StrategyTable) -> None:
    for kind in ("plosive", "mic_handling", "cough", "keyboard", "background_music"):
        actions = table.actions_for(event(kind, start=5.0, end=5.6), CHANNELS, "tag-7")
        assert actions and all(a.restore and a.hold_s is not None and a.hold_s >= 0.6 for a in actions), kind
    (mute,) = table.actions_for(event("cough"), CHANNELS, "tag-7")
    assert (mute.param, mute.value) == ("ch01.on", 0.0)
    (duck,) = table.actions_for(event("background_music"), CHANNELS, "tag-7")
    assert duck.param == "ch07.fader" and duck.value == pytest.approx(-10.0)


def test_plosive_hpf_never_lowers_an_engineers_higher_cut(table: StrategyTable) -> None:
    # the daemon does not know the desk's value when it plans: the mixer resolves at_least against the baseline
    actions = {a.param: a for a in table.actions_for(event("plosive"), CHANNELS, "t")}
    hpf = actions["ch01.hpf.freq"]
    assert (hpf.mode, hpf.value) == ("at_least", pytest.approx(100.0))
    assert actions["ch01.hpf.slope"].value == pytest.approx(18.0) and actions["ch01.hpf.on"].value == 1.0
    handling = {a.param: a for a in table.actions_for(event("mic_handling"), CHANNELS, "t")}
    assert (handling["ch01.hpf.freq"].mode, handling["ch01.hpf.freq"].value) == ("at_least", pytest.approx(120.0))


def test_keyboard_expander_threshold_follows_the_voice(table: StrategyTable) -> None:
    loud = {a.param: a for a in table.actions_for(event("keyboard"), CHANNELS, "t", measurements={"level_dbfs": -12})}
    quiet = {a.param: a for a in table.actions_for(event("keyboard"), CHANNELS, "t", measurements={"level_dbfs": -38})}
    assert loud["ch01.gate.mode"].value in ("EXP3", "EXP4")
    assert loud["ch01.gate.thr"].value == pytest.approx(-30.0)
    assert quiet["ch01.gate.thr"].value == pytest.approx(-56.0)


def test_disabled_or_below_threshold_does_nothing(tmp_path: Path) -> None:
    data = yaml.safe_load(default_strategies_path().read_text())
    data["strategies"]["cough"]["enabled"] = False
    data["strategies"]["hiss"]["threshold"] = 0.8
    table = StrategyTable.from_dict(data)
    assert table.actions_for(event("cough"), CHANNELS, "t") == []
    assert table.actions_for(event("hiss", score=0.7), CHANNELS, "t") == []
    assert table.actions_for(event("hiss", score=0.85), CHANNELS, "t")


@pytest.mark.parametrize(
    ("bad", "key", "words"),
    [
        ({"strategies": {"humm": {}}}, "strategies", "unknown fault type 'humm'"),
        ({"strategies": {"hum": {"actions": [{"param": "{ch}.eq.5.freq", "value": 50}]}}},
         "strategies.hum.actions[0].param", "eq.5.freq"),
        ({"strategies": {"hum": {"actions": [{"param": "{ch}.eq.1.freq", "value": "{frq} * 2"}]}}},
         "strategies.hum.actions[0].value", "unknown variable 'frq'"),
        ({"strategies": {"plosive": {"actions": [{"param": "{ch}.hpf.freq", "value": "max(100, {current})"}]}}},
         "strategies.plosive.actions[0].value", "use mode relative, at_least or at_most"),
        ({"strategies": {"hum": {"actions": [{"param": "{ch}.eq.1.freq", "value": "__import__('os')"}]}}},
         "strategies.hum.actions[0].value", "unsupported syntax"),
        ({"strategies": {"hum": {"actions": [{"param": "{ch}.eq.1.type", "value": "Notch"}]}}},
         "strategies.hum.actions[0].value", "not one of"),
        ({"strategies": {"hum": {"actions": [{"param": "{ch}.eq.1.gain", "value": -40}]}}},
         "strategies.hum.actions[0].value", "outside"),
        ({"strategies": {"cough": {"actions": [{"param": "{mic}.on", "value": 0}]}}},
         "strategies.cough.actions[0].param", "{mic}"),
        ({"strategies": {"cough": {"hold": "forever"}}}, "strategies.cough.hold", "hold must be"),
        ({"strategies": {"cough": {"actions": [{"param": "{ch}.on", "value": 0, "holdd": 1}]}}},
         "strategies.cough.actions[0].holdd", "unknown key"),
    ],
)
def test_bad_tables_name_the_key(bad: dict, key: str, words: str) -> None:
    with pytest.raises(StrategyError) as info:
        StrategyTable.from_dict(bad)
    assert any(p.startswith(key + ":") and words in p for p in info.value.problems), info.value.problems


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "s.yaml"
    broken.write_text("strategies: [unclosed\n")
    with pytest.raises(StrategyError, match="YAML syntax error at line"):
        StrategyTable.load(broken)
    with pytest.raises(StrategyError, match="cannot read"):
        StrategyTable.load(tmp_path / "missing.yaml")


def test_an_action_on_an_unmapped_role_is_skipped_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    """The default config maps only the presenter; ducking {music} is then left out (check-config warns of it),
    instead of a KeyError taking the audio stage down on the first background_music event."""
    table = StrategyTable.load()
    assert table.actions_for(event("background_music"), {"ch": "ch01"}, "t") == []
    assert table.actions_for(event("background_music"), {"ch": "ch01"}, "t") == []
    told = [r.getMessage() for r in caplog.records if "mixer.channels" in r.getMessage()]
    assert len(told) == 1 and "'music'" in told[0] and "background_music" in told[0], told  # once, not per event
    table.forget_warnings()  # a new channel map: say it again
    table.actions_for(event("background_music"), {"ch": "ch01"}, "t")
    assert len([r for r in caplog.records if "mixer.channels" in r.getMessage()]) == 2
    assert table.roles()["music"] == ["background_music"]
    assert "ch07.fader" in table.params(CHANNELS)
    assert all(not name.startswith("ch07") for name in table.params({"ch": "ch01"}))


@pytest.mark.parametrize("family", ["x32", "xair"])
def test_every_default_action_is_a_value_the_desk_accepts(table: StrategyTable, family: str) -> None:
    """Cross-check with the mixer's firmware configs: each action's parameter exists on the desk and its value
    (or, for relative moves, a move from the desk's default) passes the parameter's value law."""
    from liverec_edge.mixer.firmware import load_firmware

    desk = load_firmware(family)
    measurements = {"peak_dbfs": 1.0, "level_dbfs": -18.0, "floor_dbfs": -62.0}
    for kind in REPORTABLE_FAULTS:
        for action in table.actions_for(event(kind, freq=59.97 if kind == "hum" else 2512.0), CHANNELS, "t",
                                        measurements=measurements):
            law = desk.resolve(action.param).law
            value = action.value
            if action.mode == "relative":
                default = desk.resolve(action.param).default()
                value = (0.0 if default == float("-inf") else float(default)) + float(value)
            try:
                law.index_of_eng(value)
            except ValueError as exc:  # the law names what it accepts
                raise AssertionError(f"{kind}: {action.param} = {value!r}: {exc}") from None


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 2, "# caf\xe9\nstrategies: {}\n".encode("latin-1"), "strategies: {}\n".encode("utf-16")],
    ids=["binary", "latin-1", "utf-16"],
)
def test_a_file_that_is_not_utf8_is_a_strategy_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    with pytest.raises(StrategyError) as info:
        StrategyTable.load(path)
    assert info.value.source == str(path) and str(path) in str(info.value)
    assert info.value.problems[0].startswith("not a UTF-8 text file")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("strategies: {hum: {}, hum: {threshold: 0.5}}\n", "duplicate key 'hum'"),
        ("strategies:\n  hum:\n    threshold: 0.5\n    threshold: 0.6\n", "duplicate key 'threshold'"),
        ("strategies: " + "[" * 3000 + "]" * 3000 + "\n", "nesting deeper than"),
        ("strategies:\n  ? [a]\n  : 1\n", "a key must be a plain name"),
    ],
    ids=["duplicate type", "duplicate key", "deep nesting", "list key"],
)
def test_yaml_shapes_are_strategy_errors(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(content)
    with pytest.raises(StrategyError) as info:
        StrategyTable.load(path)
    assert words in info.value.problems[0], info.value.problems


@pytest.mark.parametrize(
    ("action", "key"),
    [
        ({"param": "{ch}.fader", "mode": "relative", "value": float("nan")}, "value"),
        ({"param": "{ch}.fader", "mode": "relative", "value": float("inf")}, "value"),
        ({"param": "{ch}.fader", "mode": "relative", "value": 1e300}, "value"),
        ({"param": "{ch}.hpf.freq", "value": 100, "min": float("nan")}, "min"),
        ({"param": "{ch}.hpf.freq", "value": "{freq}", "fallback": float("nan")}, "fallback"),
    ],
    ids=["relative nan", "relative inf", "relative huge", "nan min", "nan fallback"],
)
def test_non_finite_action_numbers_are_refused_at_load(action: dict[str, object], key: str) -> None:
    with pytest.raises(StrategyError) as info:
        StrategyTable.from_dict({"strategies": {"hum": {"actions": [action]}}})
    assert any(p.startswith(f"strategies.hum.actions[0].{key}:") for p in info.value.problems), info.value.problems

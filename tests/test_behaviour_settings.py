"""The ``behaviour`` config section: zones in every accepted spelling, and bad values rejected with the key named."""

from __future__ import annotations

import pytest

from liverec_edge.behaviour.settings import BehaviourSettings, preempt_keys
from liverec_edge.config import ConfigError, config_from_dict, load_config


def _problems(behaviour: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"behaviour": behaviour})
    return info.value.problems


def test_defaults_are_valid_and_seat_defaults_to_unset():
    settings = config_from_dict({}).behaviour
    assert settings.zones.seat is None and settings.zones.microphone is None
    assert set(settings.preempt) <= set(preempt_keys())
    assert settings.preempt["hand_at_mic.predicted"].strategy == "mic_handling"
    # Cough muting is deliberately not pre-empted by default (a hand at the face is too common).
    assert "hand_at_mouth" not in settings.preempt


@pytest.mark.parametrize(
    "spelling",
    [
        [[0.1, 0.2], [0.5, 0.2], [0.5, 0.6]],
        [0.1, 0.2, 0.5, 0.2, 0.5, 0.6],
        "0.1,0.2,0.5,0.2,0.5,0.6",
        "0.1, 0.2, 0.5, 0.2, 0.5, 0.6",
    ],
)
def test_zone_spellings(spelling):
    zones = config_from_dict({"behaviour": {"zones": {"microphone": spelling}}}).behaviour.zones
    assert zones.microphone == [(0.1, 0.2), (0.5, 0.2), (0.5, 0.6)]


@pytest.mark.parametrize(
    ("zone", "needle"),
    [
        ([[0.1, 0.1], [0.2, 0.2]], "at least 3 points"),
        ([[0.1, 0.1], [1.2, 0.2], [0.2, 0.9]], "outside the frame"),
        ([[0.1, -0.1], [0.5, 0.2], [0.2, 0.9]], "outside the frame"),
        ([0.1, 0.2, 0.3], "odd number"),
        ("0.1,0.1,abc,0.2,0.3,0.3", "comma-separated numbers"),
        ([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "zero area"),
        ([[0.1, 0.1], [0.2], [0.3, 0.3]], "point 1"),
        (42, "list of [x, y] points"),
    ],
)
def test_bad_zone_names_the_key(zone, needle):
    problems = _problems({"zones": {"keyboard": zone}})
    assert len(problems) == 1
    assert problems[0].startswith("behaviour.zones.keyboard:")
    assert needle in problems[0]


def test_unknown_zone_name_is_an_unknown_key():
    problems = _problems({"zones": {"mic": [[0, 0], [1, 0], [1, 1]]}})
    assert problems[0].startswith("behaviour.zones.mic: unknown key")


def test_unknown_behaviour_in_preempt_map_is_named():
    problems = _problems({"preempt": {"hand_at_nose": {"strategy": "mic_handling"}}})
    assert problems[0].startswith("behaviour.preempt:")
    assert "'hand_at_nose'" in problems[0]
    assert "hand_at_mic.predicted" in problems[0]  # the message lists what is allowed


def test_unknown_strategy_and_fault_are_named():
    problems = _problems({"preempt": {"typing": {"strategy": "typewriter"}}})
    assert problems[0].startswith("behaviour.preempt.typing.strategy:")
    problems = _problems({"preempt": {"typing": {"strategy": "keyboard", "confirm_faults": ["clack"]}}})
    assert problems[0].startswith("behaviour.preempt.typing.confirm_faults:")


@pytest.mark.parametrize(
    ("section", "values"),
    [
        ("lean_in", {"ratio_on": 1.1, "ratio_off": 1.2}),
        ("turned_away", {"yaw_on_deg": 20, "yaw_off_deg": 30}),
        ("typing", {"energy_on": 0.2, "energy_off": 0.4}),
        ("hand_at_mic", {"enter_fraction": 0.1, "exit_fraction": 0.3}),
        ("hand_at_mouth", {"radius": 0.5, "exit_radius": 0.3}),
    ],
)
def test_reversed_hysteresis_is_rejected(section, values):
    problems = _problems({section: values})
    assert problems[0].startswith(f"behaviour.{section}:")


def test_negative_duration_and_unknown_key():
    assert _problems({"absent": {"min_on_s": -1}})[0].startswith("behaviour.absent.min_on_s:")
    assert _problems({"absent": {"min_on": 3}})[0].startswith("behaviour.absent.min_on: unknown key")


def test_yaml_file_round_trip(tmp_path):
    path = tmp_path / "studio.yaml"
    path.write_text(
        "behaviour:\n"
        "  zones:\n"
        "    microphone: '0.40,0.55,0.60,0.55,0.60,0.80,0.40,0.80'\n"
        "    seat: [[0.1, 0.0], [0.9, 0.0], [0.9, 1.0], [0.1, 1.0]]\n"
        "  absent: {min_on_s: 5}\n"
        "  preempt:\n"
        "    hand_at_mic.predicted: {strategy: mic_handling, confirm_timeout_s: 1.5}\n"
    )
    settings = load_config(path).behaviour
    assert isinstance(settings, BehaviourSettings)
    assert settings.absent.min_on_s == 5
    assert len(settings.zones.microphone) == 4
    assert list(settings.preempt) == ["hand_at_mic.predicted"]  # a given map replaces the default one
    assert settings.timing("absent").min_on_s == 5
    with pytest.raises(KeyError):
        settings.timing("sneezing")

"""Automation of the software console: changes land on the exact sample asked for, and no change clicks.

"No click" is measured as: around the change, no sample-to-sample jump of the output is larger than the largest
jump of the same stretch rendered with the old settings throughout or with the new settings throughout (2 % slack).
A console built with zero-length ramps and crossfades is run through the same check to show that it catches clicks.
"""

from __future__ import annotations

import numpy as np
import pytest

from liverec_edge.media import decode_audio
from liverec_edge.mixer.soft import SoftConsole

RATE = 48000
BLOCK = 1024
#: Mid-block, and not on any round number of samples.
CHANGE_AT = 0.5 + 123 / RATE
CHANGE_SAMPLE = round(CHANGE_AT * RATE)


def render(
    x: np.ndarray,
    initial: dict[str, object],
    changes: dict[str, object] | None = None,
    **console_options: float,
) -> np.ndarray:
    console = SoftConsole(RATE, **console_options)
    for name, value in initial.items():
        console.set(name, value)
    for name, value in (changes or {}).items():
        console.set(name, value, at=CHANGE_AT)
    return np.concatenate([console.process(x[i : i + BLOCK], i / RATE) for i in range(0, len(x), BLOCK)])


def largest_jump(y: np.ndarray) -> float:
    return float(np.abs(np.diff(y.astype(np.float64))).max())


def click_excess(x: np.ndarray, initial: dict[str, object], changes: dict[str, object], **options: float) -> float:
    """How much larger (ratio) the largest jump around the change is than what the old/new settings give."""
    changed = render(x, initial, changes, **options)
    old = render(x, initial)
    new = render(x, {**initial, **changes})
    window = slice(CHANGE_SAMPLE - 480, CHANGE_SAMPLE + 3 * 960)
    allowed = max(largest_jump(old[window]), largest_jump(new[window]))
    return largest_jump(changed[window]) / allowed


@pytest.fixture(scope="module")
def speech(shared_media) -> np.ndarray:
    samples, _ = decode_audio(shared_media / "speech" / "librispeech_5703-47212-0000.ogg", RATE)
    # 1.0 s of running speech around a voiced stretch, so that the change lands in the middle of a word.
    start = int(np.argmax(np.convolve(samples**2, np.ones(4800), "valid")[RATE : 5 * RATE])) + RATE - RATE // 2
    return samples[start : start + RATE].astype(np.float32)


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    t = np.arange(RATE) / RATE
    # Phase chosen so that the change sample sits on a crest: the worst place for a step.
    phase = np.pi / 2 - 2 * np.pi * 440.0 * CHANGE_SAMPLE / RATE
    return (0.25 * np.sin(2 * np.pi * 440.0 * t + phase)).astype(np.float32)


COMP = {"ch01.dyn.on": 1, "ch01.dyn.ratio": 10.0, "ch01.dyn.knee": 0.0, "ch01.dyn.attack": 0.0}
CASES: list[tuple[str, dict[str, object], dict[str, object]]] = [
    ("fader down", {}, {"ch01.fader": -20.0}),
    ("fader to -inf", {}, {"ch01.fader": -np.inf}),
    ("mute", {}, {"ch01.on": 0}),
    ("unmute", {"ch01.on": 0}, {"ch01.on": 1}),
    ("trim up", {}, {"ch01.trim": 12.0}),
    ("main fader", {}, {"main.fader": -12.0}),
    ("unroute from main", {}, {"ch01.main": 0}),
    ("eq gain", {"ch01.eq.on": 1, "ch01.eq.2.freq": 440.0}, {"ch01.eq.2.gain": 12.0}),
    ("eq gain cut", {"ch01.eq.on": 1, "ch01.eq.2.freq": 440.0, "ch01.eq.2.gain": 12.0}, {"ch01.eq.2.gain": -15.0}),
    ("eq type", {"ch01.eq.on": 1, "ch01.eq.3.gain": 6.0}, {"ch01.eq.3.type": "HCut", "ch01.eq.3.freq": 300.0}),
    ("eq in", {"ch01.eq.2.freq": 440.0, "ch01.eq.2.gain": -12.0}, {"ch01.eq.on": 1}),
    ("hpf freq", {"ch01.hpf.on": 1, "ch01.hpf.freq": 20.0}, {"ch01.hpf.freq": 400.0}),
    ("hpf slope", {"ch01.hpf.on": 1, "ch01.hpf.freq": 300.0}, {"ch01.hpf.slope": 24}),
    ("hpf in", {"ch01.hpf.freq": 400.0, "ch01.hpf.slope": 24}, {"ch01.hpf.on": 1}),
    ("gate in", {"ch01.gate.mode": "GATE", "ch01.gate.thr": -6.0}, {"ch01.gate.on": 1}),
    ("gate mode", {"ch01.gate.on": 1, "ch01.gate.thr": -40.0}, {"ch01.gate.mode": "DUCK"}),
    ("comp threshold, 0 ms attack", {**COMP, "ch01.dyn.thr": 0.0}, {"ch01.dyn.thr": -40.0}),
    ("comp in, 0 ms attack", {**COMP, "ch01.dyn.on": 0, "ch01.dyn.thr": -40.0}, {"ch01.dyn.on": 1}),
    ("comp makeup", {**COMP, "ch01.dyn.thr": -30.0}, {"ch01.dyn.mgain": 12.0}),
]


@pytest.mark.parametrize(("label", "initial", "changes"), CASES, ids=[case[0] for case in CASES])
@pytest.mark.parametrize("signal", ["tone", "speech"])
def test_change_mid_block_does_not_click(signal: str, label: str, initial, changes, request) -> None:
    x = request.getfixturevalue(signal)
    assert click_excess(x, initial, changes) <= 1.02, label


@pytest.mark.parametrize(
    ("label", "initial", "changes"),
    [case for case in CASES if case[0] in ("fader to -inf", "mute", "eq gain", "trim up", "hpf in")],
)
def test_the_check_catches_an_unsmoothed_change(tone: np.ndarray, label: str, initial, changes) -> None:
    assert click_excess(tone, initial, changes, ramp_ms=0.0, crossfade_ms=0.0) > 1.5, label


def test_change_lands_on_the_exact_sample(tone: np.ndarray) -> None:
    old = render(tone, {})
    changed = render(tone, {}, {"ch01.fader": -20.0})
    new = render(tone, {"ch01.fader": -20.0})
    assert np.array_equal(changed[:CHANGE_SAMPLE], old[:CHANGE_SAMPLE])  # untouched up to the sample before
    assert abs(changed[CHANGE_SAMPLE]) < abs(old[CHANGE_SAMPLE])  # the ramp starts on that very sample
    ramp_end = CHANGE_SAMPLE + round(0.015 * RATE)
    assert np.array_equal(changed[ramp_end:], new[ramp_end:])  # and is over after 15 ms: exactly the new gain


def test_filter_change_settles_to_the_new_filter(speech: np.ndarray) -> None:
    initial = {"ch01.hpf.on": 1, "ch01.hpf.freq": 40.0, "ch01.eq.on": 1, "ch01.eq.2.freq": 1000.0}
    changes = {"ch01.hpf.freq": 250.0, "ch01.eq.2.gain": 9.0}
    changed = render(speech, initial, changes)
    old = render(speech, initial)
    new = render(speech, {**initial, **changes})
    assert np.array_equal(changed[:CHANGE_SAMPLE], old[:CHANGE_SAMPLE])
    after = CHANGE_SAMPLE + round(0.02 * RATE)  # crossfade over
    # The new cascades were primed on the past input, so after the crossfade the output is the new filter's.
    error = np.abs(changed[after:] - new[after:]).max() / np.abs(new[after:]).max()
    assert error < 1e-3


def test_fast_automation_overlapping_crossfades(tone: np.ndarray) -> None:
    """EQ gain moved every 5 ms (faster than the 20 ms crossfade), as a ramping action engine might."""
    console = SoftConsole(RATE)
    console.set("ch01.eq.on", 1)
    console.set("ch01.eq.2.freq", 440.0)
    console.set("ch01.eq.2.gain", -12.0)
    gains = np.linspace(-12.0, 12.0, 60)
    for step, gain in enumerate(gains):
        console.set("ch01.eq.2.gain", float(gain), at=0.3 + step * 0.005)
    y = np.concatenate([console.process(tone[i : i + BLOCK], i / RATE) for i in range(0, len(tone), BLOCK)])
    loudest = render(tone, {"ch01.eq.on": 1, "ch01.eq.2.freq": 440.0, "ch01.eq.2.gain": 12.0})
    assert largest_jump(y) <= 1.02 * largest_jump(loudest)
    # The level follows the sweep monotonically (per 5 ms stretch), from −12 to +12 dB.
    hop = 240
    span = y[int(0.3 * RATE) : int(0.62 * RATE)]
    peaks = np.abs(span[: len(span) // hop * hop]).reshape(-1, hop).max(axis=1)
    assert np.all(np.diff(peaks) > -1e-3 * peaks.max())
    assert 20 * np.log10(peaks[-1] / peaks[0]) == pytest.approx(24.0, abs=1.5)


def test_set_without_time_lands_on_the_next_block(tone: np.ndarray) -> None:
    console = SoftConsole(RATE)
    first = console.process(tone[:BLOCK], 0.0)
    console.set("ch01.on", 0)
    assert console.get("ch01.on") == 0.0
    second = console.process(tone[BLOCK : 2 * BLOCK], BLOCK / RATE)
    reference = SoftConsole(RATE)
    reference.process(tone[:BLOCK], 0.0)
    unchanged = reference.process(tone[BLOCK : 2 * BLOCK], BLOCK / RATE)
    assert np.array_equal(first, render(tone[:BLOCK], {}))
    assert abs(second[0]) < abs(unchanged[0]) or unchanged[0] == 0.0  # ramp begins on the block's first sample
    assert np.all(second[round(0.015 * RATE) :] == 0.0)  # muted after the ramp


def test_scheduled_change_is_held_only_once_reached(tone: np.ndarray) -> None:
    console = SoftConsole(RATE)
    console.set("ch01.fader", -10.0, at=0.05)
    assert console.get("ch01.fader") == console.snap("ch01.fader", 0.0)
    console.process(tone[:BLOCK], 0.0)  # 0…21 ms
    assert console.get("ch01.fader") == console.snap("ch01.fader", 0.0)
    for i in range(1, 4):
        console.process(tone[i * BLOCK : (i + 1) * BLOCK], i * BLOCK / RATE)
    assert console.get("ch01.fader") == console.snap("ch01.fader", -10.0)


def test_past_time_lands_at_the_next_block_start(tone: np.ndarray) -> None:
    console = SoftConsole(RATE)
    console.process(tone[:BLOCK], 0.0)
    console.set("ch01.fader", -np.inf, at=0.001)  # already past
    out = console.process(tone[BLOCK : 4 * BLOCK], BLOCK / RATE)
    assert np.all(out[round(0.015 * RATE) :] == 0.0)

"""Gate/expander/ducker and compressor of the software console: static curves and ballistics, measured on steady
sines (and bursts) pushed through the whole strip."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liverec_edge.mixer.soft import SoftConsole

RATE = 48000
BLOCK = 1024


def render(settings: dict[str, object], x: np.ndarray, console: SoftConsole | None = None) -> np.ndarray:
    console = console or SoftConsole(RATE)
    for name, value in settings.items():
        console.set(name, value)
    return np.concatenate([console.process(x[i : i + BLOCK], i / RATE) for i in range(0, len(x), BLOCK)])


def sine(level_db: float, seconds: float, freq: float = 1000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (10.0 ** (level_db / 20.0) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def steady_peak_db(y: np.ndarray) -> float:
    return 20.0 * math.log10(float(np.abs(y[len(y) // 2 :]).max()))


def expected_compressed(level: float, thr: float, ratio: float, knee: float) -> float:
    """Giannoulis/Massberg/Reiss static curve, written out branch by branch."""
    if 2 * (level - thr) < -knee:
        return level
    if knee > 0 and 2 * abs(level - thr) <= knee:
        return level + (1 / ratio - 1) * (level - thr + knee / 2) ** 2 / (2 * knee)
    return thr + (level - thr) / ratio


LEVELS = [-40.0, -30.0, -24.0, -21.0, -20.0, -19.0, -16.0, -10.0, -3.0]


@pytest.mark.parametrize(("ratio", "knee"), [(2.0, 0.0), (4.0, 0.0), (10.0, 5.0), (4.0, 3.0), (100.0, 0.0)])
def test_compressor_static_curve(ratio: float, knee: float) -> None:
    settings = {"ch01.dyn.on": 1, "ch01.dyn.thr": -20.0, "ch01.dyn.ratio": ratio, "ch01.dyn.knee": knee,
                "ch01.dyn.attack": 5.0, "ch01.dyn.release": 200.0, "ch01.fader": 0.0}  # fmt: skip
    fader = SoftConsole(RATE).snap("ch01.fader", 0.0)
    for level in LEVELS:
        measured = steady_peak_db(render(settings, sine(level, 0.6))) - float(fader)
        # Peak sensing: the curve applies to the sine's peak level.
        assert measured == pytest.approx(expected_compressed(level, -20.0, ratio, knee), abs=0.15), level


def test_compressor_makeup_and_parallel_mix() -> None:
    base = {"ch01.dyn.on": 1, "ch01.dyn.thr": -30.0, "ch01.dyn.ratio": 4.0, "ch01.dyn.knee": 0.0,
            "ch01.dyn.release": 200.0, "ch01.fader": 0.0}  # fmt: skip
    fader = float(SoftConsole(RATE).snap("ch01.fader", 0.0))
    level = -10.0
    compressed = expected_compressed(level, -30.0, 4.0, 0.0)
    with_makeup = steady_peak_db(render({**base, "ch01.dyn.mgain": 6.0}, sine(level, 0.6))) - fader
    assert with_makeup == pytest.approx(compressed + 6.0, abs=0.15)
    half = steady_peak_db(render({**base, "ch01.dyn.mix": 50.0}, sine(level, 0.6))) - fader
    expected = 20 * math.log10(0.5 * 10 ** (compressed / 20) + 0.5 * 10 ** (level / 20))
    assert half == pytest.approx(expected, abs=0.15)


@pytest.mark.parametrize("mode", ["EXP2", "EXP3", "EXP4", "GATE", "DUCK"])
def test_gate_static_curve(mode: str) -> None:
    settings = {"ch01.gate.on": 1, "ch01.gate.mode": mode, "ch01.gate.thr": -30.0, "ch01.gate.range": 40.0,
                "ch01.gate.attack": 1.0, "ch01.gate.hold": 20.0, "ch01.gate.release": 50.0}  # fmt: skip
    fader = float(SoftConsole(RATE).snap("ch01.fader", 0.0))
    for level in [-70.0, -50.0, -40.0, -35.0, -32.0, -29.0, -20.0, -6.0]:
        measured = steady_peak_db(render(settings, sine(level, 0.8))) - fader
        below = level < -30.0
        if mode == "DUCK":
            gain = -40.0 if not below else 0.0
        elif mode == "GATE":
            gain = -40.0 if below else 0.0
        else:
            gain = max(-40.0, (level + 30.0) * (int(mode[3]) - 1)) if below else 0.0
        assert measured == pytest.approx(level + gain, abs=0.15), (mode, level)


def gain_envelope_db(y: np.ndarray, x: np.ndarray, hop: int = 48) -> np.ndarray:
    """Gain (dB) per hop from the peak ratio of output to input (the test signals are steady sines)."""
    frames = len(y) // hop
    out = np.abs(y[: frames * hop]).reshape(frames, hop).max(axis=1)
    inp = np.abs(x[: frames * hop]).reshape(frames, hop).max(axis=1)
    return 20 * np.log10(out / inp)


def test_compressor_release_time_constant() -> None:
    # 0.5 s at −5 dBFS (15 dB over a 4:1 threshold: 11.25 dB reduction), then −40 dBFS: the reduction decays
    # exponentially in dB with the release time constant (after the hold).
    release_ms, hold_ms = 100.0, 10.0
    loud, quiet = sine(-5.0, 0.5), sine(-40.0, 1.0)
    x = np.concatenate([loud, quiet])
    settings = {"ch01.dyn.on": 1, "ch01.dyn.thr": -20.0, "ch01.dyn.ratio": 4.0, "ch01.dyn.knee": 0.0,
                "ch01.dyn.attack": 1.0, "ch01.dyn.hold": hold_ms, "ch01.dyn.release": release_ms}  # fmt: skip
    console = SoftConsole(RATE)
    held_release = float(console.set("ch01.dyn.release", release_ms))
    y = render(settings, x, console)
    reduction = -gain_envelope_db(y, x)[len(loud) // 48 :] + float(console.get("ch01.fader"))
    times = (np.arange(len(reduction)) + 1) * 48 / RATE
    assert reduction[0] == pytest.approx(11.25, abs=0.3)
    hold_s = float(console.get("ch01.dyn.hold")) / 1000
    for tau_multiple in (1.0, 2.0):
        t = hold_s + tau_multiple * held_release / 1000
        measured = np.interp(t, times, reduction)
        assert measured == pytest.approx(11.25 * math.exp(-tau_multiple), abs=0.35), tau_multiple


def test_compressor_attack_time_constant() -> None:
    attack_ms = 20.0
    quiet, loud = sine(-40.0, 0.3), sine(-5.0, 0.4)
    x = np.concatenate([quiet, loud])
    console = SoftConsole(RATE)
    held_attack = float(console.set("ch01.dyn.attack", attack_ms))
    settings = {"ch01.dyn.on": 1, "ch01.dyn.thr": -20.0, "ch01.dyn.ratio": 4.0, "ch01.dyn.knee": 0.0}
    y = render(settings, x, console)
    reduction = -gain_envelope_db(y, x)[len(quiet) // 48 :] + float(console.get("ch01.fader"))
    times = (np.arange(len(reduction)) + 1) * 48 / RATE
    # The reduction (in dB) approaches 11.25 dB as 1 − e^(−t/τ).
    measured = np.interp(held_attack / 1000, times, reduction)
    assert measured == pytest.approx(11.25 * (1 - math.exp(-1)), abs=0.6)
    assert reduction[-1] == pytest.approx(11.25, abs=0.2)


def test_gate_holds_then_closes() -> None:
    hold_ms, release_ms = 100.0, 20.0
    x = np.concatenate([sine(-10.0, 0.3), sine(-60.0, 0.6)])
    console = SoftConsole(RATE)
    held_hold = float(console.set("ch01.gate.hold", hold_ms))
    settings = {"ch01.gate.on": 1, "ch01.gate.mode": "GATE", "ch01.gate.thr": -40.0, "ch01.gate.range": 50.0,
                "ch01.gate.release": release_ms}  # fmt: skip
    y = render(settings, x, console)
    gain = gain_envelope_db(y, x)[int(0.3 * RATE) // 48 :] - float(console.get("ch01.fader"))
    times = (np.arange(len(gain)) + 1) * 48 / RATE
    still_open = gain[times < held_hold / 1000 - 0.002]
    assert np.abs(still_open).max() < 0.1  # fully open during the hold
    closed = gain[times > held_hold / 1000 + 12 * float(console.get("ch01.gate.release")) / 1000]
    assert closed.max() == pytest.approx(-50.0, abs=0.5)  # then closed down to the range
    assert np.all(np.diff(gain[times > held_hold / 1000]) <= 1e-6)  # closing monotonically


def test_gate_on_speech_attenuates_pauses_only(shared_media) -> None:
    from liverec_edge.media import decode_audio

    speech, _ = decode_audio(shared_media / "speech" / "librispeech_3436-172162-0000.ogg", RATE)
    speech = speech[: 8 * RATE]
    hiss = np.random.default_rng(3).standard_normal(len(speech)).astype(np.float32) * 10 ** (-70 / 20)
    x = speech + hiss
    settings = {"ch01.gate.on": 1, "ch01.gate.mode": "EXP2", "ch01.gate.thr": -40.0, "ch01.gate.range": 30.0,
                "ch01.gate.hold": 50.0, "ch01.gate.release": 100.0}  # fmt: skip
    y = render(settings, x)
    frame = 480
    n = len(x) // frame
    level_in = 10 * np.log10(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    level_out = 10 * np.log10(np.mean(y[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)
    loud = level_in > -30.0
    pauses = level_in < -64.0
    assert loud.sum() > 50 and pauses.sum() > 20
    assert np.median(level_out[loud] - level_in[loud]) > -0.2  # speech passes
    assert np.median(level_out[pauses] - level_in[pauses]) < -12.0  # hiss in the pauses is pushed down


def test_fast_paths_match_the_recursion() -> None:
    """The shortcuts of the dynamics (a gate held open across periods under its threshold, the compressor's gain
    computer folded into the detector loop) give the state and values of the plain recursion."""
    import copy

    from liverec_edge.mixer.soft.dynamics import (
        Compressor,
        CompressorSettings,
        ControlGrid,
        Detector,
        _ballistics,
        _knee_ballistics,
    )

    rng = np.random.default_rng(7)
    grid = ControlGrid(BLOCK, 16, 0)
    bridged = 0
    for _ in range(3000):
        attack, hold = float(rng.choice([0.0, 1.0, 10.0])), float(rng.choice([0.02, 1.0, 10.0, 50.0]))
        detector = Detector(RATE, attack, hold, 200.0)
        detector.reset(30.0)
        detector.hold_left = int(rng.integers(-20, detector.hold_samples + 1))
        below = rng.random(64) < rng.choice([0.05, 0.3, 0.9, 1.0])
        active = np.where(below, rng.uniform(0.0, 29.9, 64), 30.0)
        reference = copy.deepcopy(detector)
        smoothed = reference.process(active, grid)
        state = (detector.held, detector.smoothed, detector.hold_left)
        if detector.held_through(active == 30.0):
            bridged += 1
            assert all(value == 30.0 for value in smoothed)
            assert (detector.held, detector.smoothed, detector.hold_left) == (
                reference.held,
                reference.smoothed,
                reference.hold_left,
            )
        else:
            assert (detector.held, detector.smoothed, detector.hold_left) == state
            assert not all(value == 30.0 for value in smoothed)
    assert bridged > 300

    levels = rng.uniform(-60.0, 10.0, 4000)
    for knee in (0.0, 3.0):
        compressor = Compressor(RATE, CompressorSettings(-24.0, 4.0, knee, 6.0, 10.0, 10.0, 150.0, 80.0))
        plain: list[float] = []
        fused: list[float] = []
        reduction = compressor.reduction(levels.copy()).tolist()
        assert _ballistics(reduction, 0.0, 0.0, 0, 480, 16, 0.99, 0.9, plain) == _knee_ballistics(
            levels.tolist(), *compressor._knee(), 0.0, 0.0, 0, 480, 16, 0.99, 0.9, fused
        )
        assert plain == fused

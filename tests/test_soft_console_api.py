"""The software console's interface: names, ranges and the desk's grid, bad input, routing, the async backend."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from liverec_edge.media import decode_audio
from liverec_edge.mixer.soft import SoftConsole, SoftConsoleBackend
from liverec_edge.mixer.soft.params import CHANNEL_SPECS

RATE = 48000


def test_parameters_list_the_whole_strip() -> None:
    console = SoftConsole(RATE, channels=3)
    listing = console.parameters()
    assert len(listing) == 3 * len(CHANNEL_SPECS) + 2
    for name in ("ch01.fader", "ch02.on", "ch03.trim", "ch01.hpf.slope", "ch02.eq.4.q", "ch01.gate.hold",
                 "ch03.dyn.mix", "ch01.dyn.ratio", "main.fader", "main.on"):  # fmt: skip
        assert name in listing
    assert listing["ch01.hpf.freq"].unit == "Hz"
    assert listing["ch01.hpf.freq"].range_text() == "20…400 Hz"
    assert listing["ch01.fader"].range_text() == "-inf…10 dB"
    assert "PEQ" in listing["ch01.eq.1.type"].range_text()
    for name in listing:  # every listed name is settable with its own default
        console.set(name, listing[name].default)


@pytest.mark.parametrize(
    ("param", "value", "expected"),
    [
        # Check values of the protocol notes, in engineering units: snapping lands on the desk's grid point.
        ("ch01.eq.1.freq", 632.5, 632.456),  # EQ f 0.5
        ("ch01.hpf.freq", 89.4, 89.443),  # HPF 0.5
        ("ch01.eq.1.q", 2.0, 1.95967),  # Q grid point next to 2.0 (0.4648 on the [10, 0.3] law)
        ("ch01.gate.hold", 6.32, 6.3246),  # hold 0.5
        ("ch01.gate.release", 141.0, 141.421),  # release 0.5
        ("ch01.trim", 0.1, 0.0),  # 0.25 dB steps
        ("ch01.trim", 0.2, 0.25),
        ("ch01.dyn.thr", -30.2, -30.0),  # 0.5 dB steps
        ("ch01.eq.2.gain", 3.1, 3.0),
        ("ch01.fader", 3.0, 3.00098),  # fader 0.8250
        ("ch01.fader", -120.0, -math.inf),  # below the lowest step: off
        ("ch01.fader", 0.0, -0.009775),  # 767/1023
        ("ch01.dyn.ratio", 3.6, 4.0),  # enums snap to the nearest member
        ("ch01.dyn.ratio", 1.2, 1.3),
        ("ch01.hpf.slope", 20, 18.0),
        ("ch01.dyn.mix", 62.0, 60.0),
        ("ch01.on", "OFF", 0.0),
        ("ch01.eq.1.type", "hshv", "HShv"),
        ("ch01.gate.mode", "exp3", "EXP3"),
    ],
)
def test_snap_to_the_desk_grid(param: str, value: object, expected: float | str) -> None:
    console = SoftConsole(RATE)
    held = console.set(param, value)
    if isinstance(expected, str) or math.isinf(expected):
        assert held == expected
    else:
        assert held == pytest.approx(expected, rel=1e-4, abs=1e-4)
    assert console.get(param) == held
    assert console.snap(param, held) == held  # idempotent on the grid


def test_snap_without_grid_keeps_continuous_values() -> None:
    console = SoftConsole(RATE, grid=False)
    assert console.set("ch01.hpf.freq", 123.4) == 123.4
    assert console.set("ch01.fader", 0.0) == 0.0
    assert console.set("ch01.dyn.ratio", 3.6) == 4.0  # enums still snap


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("ch01.nonsense", 1.0, "unknown parameter 'ch01.nonsense'"),
        ("ch02.fader", 0.0, "channels 01…01"),
        ("bus01.fader", 0.0, "unknown parameter"),
        ("main.trim", 0.0, "main has"),
        ("ch01.fader", 10.5, "ch01.fader: 10.5 is out of range; expected -inf…10 dB"),
        ("ch01.hpf.freq", 10.0, "ch01.hpf.freq: 10.0 is out of range; expected 20…400 Hz"),
        ("ch01.eq.2.q", 20.0, "expected 0.3…10"),
        ("ch01.gate.range", 1.0, "expected 3…60 dB"),
        ("ch01.dyn.ratio", 200.0, "ch01.dyn.ratio"),
        ("ch01.eq.1.type", "Bell", "one of LCut, LShv, PEQ, VEQ, HShv, HCut"),
        ("ch01.gate.mode", 2, "one of EXP2"),
        ("ch01.on", 0.5, "0 or 1"),
        ("ch01.trim", float("nan"), "not a finite number"),
        ("ch01.trim", float("inf"), "not a finite number"),
        ("ch01.gate.thr", "loud", "not a number"),
        ("ch01.fader", None, "not a number"),
    ],
)
def test_bad_parameters_raise_clear_errors(param: str, value: object, message: str) -> None:
    console = SoftConsole(RATE)
    with pytest.raises(ValueError, match=None) as raised:
        console.set(param, value)
    assert message in str(raised.value)
    with pytest.raises(ValueError):
        console.snap(param, value)


def test_bad_time_and_construction() -> None:
    console = SoftConsole(RATE)
    with pytest.raises(ValueError, match="'at'"):
        console.set("ch01.fader", -3.0, at=float("nan"))
    with pytest.raises(ValueError, match="t0"):
        console.process(np.zeros(16, np.float32), float("inf"))
    with pytest.raises(ValueError, match="rate"):
        SoftConsole(0)
    with pytest.raises(ValueError, match="channels"):
        SoftConsole(RATE, channels=0)
    with pytest.raises(ValueError, match="ramp_ms"):
        SoftConsole(RATE, ramp_ms=-1.0)


def test_bad_blocks() -> None:
    console = SoftConsole(RATE, channels=2)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        console.process(np.zeros(64, np.float32), 0.0)
    with pytest.raises(ValueError, match="float samples"):
        console.process(np.zeros((64, 2), np.int16), 0.0)
    assert console.process(np.zeros((0, 2), np.float32), 0.0).shape == (0,)


def test_nonfinite_and_huge_samples_are_made_safe(shared_media) -> None:
    speech, _ = decode_audio(shared_media / "speech" / "jfk.wav", RATE)
    block = speech[RATE : RATE + 4096].copy()
    block[100] = np.nan
    block[200] = np.inf
    block[300] = -np.inf
    block[400] = 3e38
    console = SoftConsole(RATE)
    for name, value in {"ch01.hpf.on": 1, "ch01.eq.on": 1, "ch01.eq.2.gain": 9.0, "ch01.gate.on": 1,
                        "ch01.dyn.on": 1, "ch01.dyn.thr": -30.0}.items():  # fmt: skip
        console.set(name, value)
    out = console.process(block, 0.0)
    assert np.isfinite(out).all()
    assert console.nonfinite_samples == 3
    # The state is not poisoned: the next clean blocks come out clean and at speech level.
    after = console.process(speech[RATE + 4096 : RATE + 4096 + 48000], 4096 / RATE)
    assert np.isfinite(after).all()
    assert 1e-3 < np.abs(after).max() < 4.0


def test_channels_sum_to_main_with_routing_and_main_fader(shared_media) -> None:
    speech, _ = decode_audio(shared_media / "speech" / "jfk.wav", RATE)
    music, _ = decode_audio(
        shared_media / "music" / "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg", RATE
    )
    n = RATE
    block = np.stack([speech[:n], music[10 * n : 11 * n]], axis=1).astype(np.float32)
    console = SoftConsole(RATE, channels=2, grid=False)
    console.set("ch02.fader", -6.0)
    channels, main = console.process_channels(block, 0.0)
    assert channels.shape == (n, 2) and main.shape == (n,) and main.dtype == np.float32
    np.testing.assert_allclose(channels[:, 1], block[:, 1] * 10 ** (-6 / 20), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(main, channels.sum(axis=1), atol=1e-6)
    console.set("ch02.main", 0)  # music off the main mix, still on its channel output
    console.set("main.fader", -10.0)
    channels, main = console.process_channels(block, 1.0)
    settled = slice(round(0.015 * RATE), None)
    np.testing.assert_allclose(main[settled], channels[settled, 0] * 10 ** (-10 / 20), atol=1e-6)
    assert np.abs(channels[settled, 1]).max() > 0.01
    console.set("main.on", 0)
    assert np.all(console.process(block, 2.0)[settled] == 0.0)


def test_backend_protocol() -> None:
    console = SoftConsole(RATE)
    backend = SoftConsoleBackend(console)
    from liverec_edge.mixer.backend import ConsoleBackend

    assert isinstance(backend, ConsoleBackend)
    seen: list[tuple[str, float | str]] = []
    unsubscribe = backend.on_external_change(lambda param, value: seen.append((param, value)))

    async def drive() -> tuple[float | str, float | str, float | str]:
        held = await backend.set("ch01.hpf.freq", 120.0)
        read = await backend.get("ch01.hpf.freq")
        mode = await backend.set("ch01.gate.mode", "duck")
        return held, read, mode

    held, read, mode = asyncio.run(drive())
    assert held == read == backend.snap("ch01.hpf.freq", 120.0) == pytest.approx(120.0, rel=0.02)
    assert mode == "DUCK"
    assert seen == []  # our own sets are not external changes
    unsubscribe()
    with pytest.raises(ValueError, match=r"ch01\.hpf\.freq"):
        asyncio.run(backend.set("ch01.hpf.freq", 1000.0))


FULL_STRIP = {
    "ch01.trim": 3.0, "ch01.hpf.on": 1, "ch01.hpf.slope": 24, "ch01.hpf.freq": 100.0,
    "ch01.gate.on": 1, "ch01.gate.mode": "EXP2", "ch01.gate.thr": -40.0, "ch01.gate.range": 30.0,
    "ch01.eq.on": 1, "ch01.eq.1.type": "LShv", "ch01.eq.1.gain": 3.0, "ch01.eq.2.gain": -4.0,
    "ch01.dyn.on": 1, "ch01.dyn.thr": -24.0, "ch01.dyn.ratio": 4.0, "ch01.dyn.knee": 3.0, "ch01.dyn.attack": 5.0,
    "ch01.fader": -3.0,
}  # fmt: skip


def _in_blocks(x: np.ndarray, sizes: list[int]) -> np.ndarray:
    console = SoftConsole(RATE)
    for name, value in FULL_STRIP.items():
        console.set(name, value)
    out, start, turn = [], 0, 0
    while start < len(x):
        size = sizes[turn % len(sizes)]
        out.append(console.process(x[start : start + size], start / RATE))
        start, turn = start + size, turn + 1
    return np.concatenate(out)


def test_output_does_not_depend_on_block_size(shared_media) -> None:
    speech, _ = decode_audio(shared_media / "speech" / "librispeech_198-209-0000.ogg", RATE)
    x = speech[: 2 * RATE]
    reference = _in_blocks(x, [1024])
    # Blocks holding whole control periods (16 samples at 48 kHz) give the same output to float rounding...
    np.testing.assert_allclose(_in_blocks(x, [256, 4096, 16, 2048]), reference, rtol=0, atol=2e-6)
    np.testing.assert_allclose(_in_blocks(x, [len(x)]), reference, rtol=0, atol=2e-6)
    # ...and ragged blocks (ALSA periods of 441 or 1000 frames) differ only inside the control periods they cut,
    # by less than −60 dB of the peak: no drift, the detector state is committed on the stream's period grid.
    difference = np.abs(_in_blocks(x, [1000, 441, 7, 1500]) - reference)
    assert difference.max() < 1e-3 * np.abs(reference).max()
    assert np.count_nonzero(difference > 2e-6) < 0.01 * len(x)


def test_same_names_ranges_and_grid_as_the_x32_desk() -> None:
    """Every soft-console parameter the X32 firmware config knows snaps to the very same value there."""
    from liverec_edge.mixer.firmware import load_firmware

    firmware = load_firmware("x32")
    console = SoftConsole(RATE)
    compared = 0
    for name, spec in console.parameters().items():
        if name == "ch01.main":  # channel → main routing (/ch/NN/mix/st) is not in the desk's parameter set yet
            continue
        if not name.startswith(("ch01.", "main.")):
            continue
        law = firmware.resolve(name).law
        if spec.kind in ("name_enum", "number_enum"):
            values: list[object] = list(spec.choices)
        elif spec.kind == "switch":
            values = [0.0, 1.0]
        elif spec.kind == "logf":
            values = list(np.geomspace(spec.lo, spec.hi, 41))
        else:
            values = list(np.linspace(-95.0 if spec.kind == "level" else spec.lo, spec.hi, 41))
        for value in values:
            ours, desk = console.snap(name, value), law.snap(value)
            if isinstance(ours, str) or isinstance(desk, str):
                assert ours == desk, (name, value)
            else:
                assert ours == pytest.approx(desk, rel=1e-9, abs=1e-9), (name, value)
            compared += 1
    assert compared > 1000

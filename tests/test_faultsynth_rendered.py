"""Rendered fault-dataset sources: the MIDI writer, fluidsynth music, flite/espeak-ng talkers, and the split rules.

The rendering tests need the Debian packages fluidsynth, fluid-soundfont-gm and flite (``bash tools/setup.sh train``)
and skip without them; the MIDI writer and the split rules need nothing beyond the project.
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.faultsynth import rendered  # noqa: E402
from tools.faultsynth.sources import SPLITS, load_split  # noqa: E402
from tools.faultsynth.windows import _pick  # noqa: E402


def _read_varlen(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[at]
        at += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, at


def _parse_midi(data: bytes) -> tuple[tuple[int, int, int], list[list[tuple[int, bytes]]]]:
    """An independent reader: header (format, tracks, division) and per track its (absolute tick, message) events."""
    assert data[:4] == b"MThd"
    length, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    assert length == 6
    at = 14
    tracks: list[list[tuple[int, bytes]]] = []
    while at < len(data):
        assert data[at : at + 4] == b"MTrk"
        (size,) = struct.unpack(">I", data[at + 4 : at + 8])
        body, at = data[at + 8 : at + 8 + size], at + 8 + size
        assert len(body) == size
        events: list[tuple[int, bytes]] = []
        pos, tick = 0, 0
        while pos < size:
            delta, pos = _read_varlen(body, pos)
            tick += delta
            status = body[pos]
            assert status & 0x80, "the writer never uses running status"
            if status == 0xFF:
                meta_len, end = _read_varlen(body, pos + 2)
                message, pos = body[pos : end + meta_len], end + meta_len
            else:
                width = 2 if status & 0xF0 in (0xC0, 0xD0) else 3
                message, pos = body[pos : pos + width], pos + width
                assert all(b < 0x80 for b in message[1:])
            events.append((tick, message))
        assert events[-1][1] == b"\xff\x2f\x00", "every track ends with end-of-track"
        tracks.append(events)
    assert at == len(data) and len(tracks) == ntracks
    return (fmt, ntracks, division), tracks


def test_varlen_encoding_matches_the_standard_examples() -> None:
    for value, encoded in (
        (0, "00"),
        (0x40, "40"),
        (0x7F, "7F"),
        (0x80, "8100"),
        (0x2000, "C000"),
        (0x3FFF, "FF7F"),
        (0x4000, "818000"),
        (0x0FFFFFFF, "FFFFFF7F"),
    ):
        assert rendered._varlen(value) == bytes.fromhex(encoded)


def test_midi_writer_produces_a_file_that_parses_back() -> None:
    piece = rendered.compose(np.random.default_rng(7), seconds=8.0)
    (fmt, ntracks, division), tracks = _parse_midi(rendered.composition_midi(piece))
    assert (fmt, division) == (1, rendered.TICKS_PER_BEAT)
    assert ntracks == 1 + len({n.channel for n in piece.notes})
    assert tracks[0][0][1][:3] == b"\xff\x51\x03"  # tempo first
    tempo_us = int.from_bytes(tracks[0][0][1][3:], "big")
    assert abs(60e6 / tempo_us - piece.tempo_bpm) < 0.01
    note_ons = [m for track in tracks for _, m in track if m[0] & 0xF0 == 0x90 and m[2] > 0]
    note_offs = [m for track in tracks for _, m in track if m[0] & 0xF0 == 0x80]
    assert len(note_ons) == len(note_offs) == len(piece.notes)
    programs = {m[0] & 0x0F: m[1] for track in tracks for _, m in track if m[0] & 0xF0 == 0xC0}
    assert programs == piece.programs
    assert 1 <= len(piece.programs) <= 4


def test_compositions_are_deterministic_and_varied() -> None:
    first = [rendered.compose(rendered.item_rng("music", 0, "train", i)).description for i in range(12)]
    again = [rendered.compose(rendered.item_rng("music", 0, "train", i)).description for i in range(12)]
    assert first == again
    assert len(set(first)) == 12
    tempi = [rendered.compose(rendered.item_rng("music", 0, "train", i)).tempo_bpm for i in range(12)]
    assert all(60.0 <= t <= 160.0 for t in tempi)


def _harmonic_metrics(audio: np.ndarray) -> tuple[float, float, float]:
    """Spectral flatness and top-2 % bin energy share in 60–4000 Hz, and the median distance (cents) of the 20
    strongest spectral peaks from the equal-tempered A440 grid."""
    n = 1 << 16
    frames = (
        audio[: (audio.size // n) * n].reshape(-1, n) if audio.size >= n else np.pad(audio, (0, n - audio.size))[None]
    )
    spec = (np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(n, 1 / rendered.RATE)
    band = (freqs > 60) & (freqs < 4000)
    power, f = spec[band], freqs[band]
    flatness = float(np.exp(np.mean(np.log(power + 1e-20))) / np.mean(power))
    share = float(np.sort(power)[::-1][: power.size // 50].sum() / power.sum())
    peaks = np.flatnonzero((power[1:-1] > power[:-2]) & (power[1:-1] > power[2:])) + 1
    peaks = peaks[np.argsort(power[peaks])[::-1][:20]]
    cents = 1200 * np.log2(f[peaks] / 440.0)
    return flatness, share, float(np.median(np.abs((cents + 50) % 100 - 50)))


def test_harmonic_metrics_reject_noise() -> None:
    flatness, share, cents = _harmonic_metrics(np.random.default_rng(1).standard_normal(64_000).astype(np.float32))
    assert flatness > 0.3 and share < 0.2 and cents > 15


def _need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (bash tools/setup.sh train)")


def test_rendered_piece_is_deterministic_musical_audio() -> None:
    _need("fluidsynth")
    if not rendered.SOUNDFONTS["train"].is_file():
        pytest.skip(f"{rendered.SOUNDFONTS['train']} not installed (fluid-soundfont-gm)")
    audio, what = rendered.render_piece(0, "train", 0, seconds=4.0)
    again, _ = rendered.render_piece(0, "train", 0, seconds=4.0)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert np.array_equal(audio, again), "same seed must give bit-identical audio"
    assert 3.0 < audio.size / rendered.RATE < 12.0
    assert abs(float(np.max(np.abs(audio))) - 1.0) < 1e-6
    assert float(np.sqrt(np.mean(audio**2))) > 0.05, what
    flatness, share, cents = _harmonic_metrics(audio)
    assert flatness < 0.1 and share > 0.5, (what, flatness, share)  # energy sits on harmonic peaks, not spread
    assert cents < 15.0, (what, cents)  # and the peaks sit on (or near) the equal-tempered grid: tuned instruments


def test_rendered_sentence_is_deterministic_speech() -> None:
    _need("flite", "espeak-ng")
    for engine in ("flite", "espeak-ng"):
        index = next(i for i, talker in enumerate(rendered.TALKERS) if talker.engine == engine)
        audio, what = rendered.render_talker(0, "train", index, sentences=1)
        again, _ = rendered.render_talker(0, "train", index, sentences=1)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert np.array_equal(audio, again), what
        assert 1.0 < audio.size / rendered.RATE < 10.0, what
        assert abs(float(np.max(np.abs(audio))) - 1.0) < 1e-6
        assert float(np.sqrt(np.mean(audio**2))) > 0.03, what


def test_missing_tools_name_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendered.shutil, "which", lambda _: None)
    with pytest.raises(RuntimeError, match="fluidsynth"):
        rendered.render_piece(0, "train", 0, seconds=2.0)
    with pytest.raises(RuntimeError, match="flite"):
        rendered.render_talker(0, "train", 0, sentences=1)
    monkeypatch.setattr(rendered, "SOUNDFONTS", {"val": Path("/nonexistent/TimGM6mb.sf2")})
    with pytest.raises(RuntimeError, match="timgm6mb-soundfont"):
        rendered.soundfont("val")


def test_test_split_gets_only_real_recordings(
    shared_media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEREC_FAULTSYNTH_CACHE", str(tmp_path))
    sources = load_split(shared_media.resolve(), "test", True, 0)
    assert [name for name, _ in sources.speech] == list(SPLITS["test"]["speech"])
    assert [name for name, _ in sources.music] == list(SPLITS["test"]["music"])
    assert {name.split("#")[0] for name, _ in sources.keypresses} == set(SPLITS["test"]["keyboard"])
    assert not any(tmp_path.iterdir()), "nothing may be rendered for the test split"
    assert rendered.rendered_music("test") == [] and rendered.rendered_speech("test") == []
    assert rendered.rendered_speech("val") == []  # talkers are train-only


def test_pick_gives_real_and_rendered_half_each() -> None:
    silence = np.zeros(1, np.float32)
    real = [(f"speech/real_{i}.ogg", silence) for i in range(2)]
    synthetic = [(f"{rendered.RENDERED_PREFIX}speech/train/{i:02d}", silence) for i in range(12)]
    rng = np.random.default_rng(3)
    picks = [_pick(rng, real + synthetic)[0] for _ in range(4000)]
    real_share = sum(not p.startswith(rendered.RENDERED_PREFIX) for p in picks) / len(picks)
    assert 0.45 < real_share < 0.55
    # real recordings only: one draw, the same as the plain uniform pick (real-only splits are unchanged)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(50):
        assert _pick(a, real)[0] == real[int(b.integers(len(real)))][0]


def test_cache_renders_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def fake_talker(seed: int, split: str, index: int) -> tuple[np.ndarray, str]:
        calls.append(index)
        return np.linspace(-1, 1, 1600, dtype=np.float32), "fake"

    monkeypatch.setattr(rendered, "render_talker", fake_talker)
    first = rendered.rendered_speech("train", 0, count=2, directory=tmp_path)
    second = rendered.rendered_speech("train", 0, count=2, directory=tmp_path)
    assert calls == [0, 1]
    assert [n for n, _ in first] == ["rendered/speech/train/00", "rendered/speech/train/01"]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, second, strict=True))
    assert rendered.cache_key("speech", 0, "train", 0) != rendered.cache_key("speech", 1, "train", 0)

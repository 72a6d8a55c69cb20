"""The Debian game-soundtrack music of the fault dataset: the split by track, the excerpts, the missing-package error.

The split rules and the excerpt cutting run on a fake package tree (WAV files written here); the last test checks the
installed packages and skips without them (``bash tools/setup.sh train`` installs them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tools.faultsynth import soundtracks  # noqa: E402

RATE = 16_000


def _track(path: Path, seconds: float, lead_silence_s: float = 0.0, freq: float = 440.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.5 * np.sin(2 * np.pi * freq * t)
    audio = np.concatenate([np.zeros(int(lead_silence_s * RATE)), tone])
    wavfile.write(path, RATE, (audio * 32767).astype(np.int16))


@pytest.fixture
def fake_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two packages laid out like the Debian ones: flat Wesnoth tracks; Warzone albums, with Aftermath remakes."""
    wesnoth = tmp_path / "wesnoth"
    for i in range(10):
        _track(wesnoth / f"piece_{i:02d}.wav", 0.2)
    warzone = tmp_path / "warzone2100"
    _track(warzone / "menu.wav", 0.2)
    _track(warzone / "albums" / "original_soundtrack" / "track1.wav", 0.2)
    _track(warzone / "albums" / "original_soundtrack" / "track3.wav", 0.2)
    _track(warzone / "albums" / "aftermath_soundtrack" / "track20.wav", 0.2)
    _track(warzone / "albums" / "aftermath_soundtrack" / "track3_enhanced.wav", 0.2)
    _track(warzone / "albums" / "aftermath_soundtrack" / "menu_enhanced.wav", 0.2)
    monkeypatch.setattr(soundtracks, "PACKAGES", {"wesnoth": (wesnoth, "*.wav"),
                                                  "warzone2100": (warzone, "**/*.wav")})
    return tmp_path


def _splits() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"train": set(), "val": set()}
    for package in soundtracks.PACKAGES:
        for index, path in enumerate(soundtracks.track_paths(package)):
            out[soundtracks.split_of(package, path, index)].add(soundtracks.track_name(package, path))
    return out


def test_split_by_track_keeps_remakes_with_their_originals(fake_packages: Path) -> None:
    splits = _splits()
    assert not splits["train"] & splits["val"]
    val_warzone = {n for n in splits["val"] if "warzone2100" in n}
    assert val_warzone == {
        "soundtrack/warzone2100/albums/aftermath_soundtrack/track20",
        "soundtrack/warzone2100/albums/aftermath_soundtrack/track3_enhanced",
        "soundtrack/warzone2100/albums/aftermath_soundtrack/menu_enhanced",
        # the originals of the two remakes go with them: one composition must not straddle train and val
        "soundtrack/warzone2100/albums/original_soundtrack/track3",
        "soundtrack/warzone2100/menu",
    }
    assert "soundtrack/warzone2100/albums/original_soundtrack/track1" in splits["train"]
    val_wesnoth = sorted(n for n in splits["val"] if "wesnoth" in n)
    assert val_wesnoth == ["soundtrack/wesnoth/piece_02", "soundtrack/wesnoth/piece_07"]  # every fifth
    assert len([n for n in splits["train"] if "wesnoth" in n]) == 8


def test_excerpts_are_trimmed_cut_from_the_middle_and_cached(fake_packages: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    wesnoth = fake_packages / "wesnoth"
    for old in wesnoth.iterdir():
        old.unlink()
    monkeypatch.setattr(soundtracks, "EXCERPT_S", 2.0)
    monkeypatch.setattr(soundtracks, "MIN_TRACK_S", 1.0)
    # untrimmed, the middle 2 s of these 5.5 s would hold 1.25 s of the silent lead-in
    _track(wesnoth / "a_long.wav", 2.5, lead_silence_s=3.0)
    _track(wesnoth / "b_jingle.wav", 0.5)  # shorter than MIN_TRACK_S: no background music
    for i in range(3):
        _track(wesnoth / f"c_{i}.wav", 1.5)
    import liverec_edge.media

    decoded: list[str] = []
    real_decode = liverec_edge.media.decode_audio

    def counting_decode(path: Path, rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
        decoded.append(Path(path).name)
        return real_decode(path, rate, mono)

    monkeypatch.setattr(liverec_edge.media, "decode_audio", counting_decode)
    cache = tmp_path / "cache"
    train = dict(soundtracks.soundtracks("train", cache))
    assert "soundtrack/wesnoth/b_jingle" not in train
    long = train["soundtrack/wesnoth/a_long"]
    assert long.size == 2 * RATE  # EXCERPT_S from the middle of the 2.5 s tone
    assert abs(float(np.max(np.abs(long))) - 1.0) < 1e-6
    assert float(np.sqrt(np.mean(long**2))) > 0.65  # all tone (RMS 1/sqrt 2): the silent lead-in is trimmed
    assert len(decoded) == 5
    again = dict(soundtracks.soundtracks("train", cache))
    assert len(decoded) == 5, "the second call reads the cache, jingle included"
    assert again.keys() == train.keys() and np.array_equal(again["soundtrack/wesnoth/a_long"], long)
    assert soundtracks.soundtracks("test", cache) == []


def test_missing_packages_name_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soundtracks, "PACKAGES", {"wesnoth": (tmp_path / "none", "*.ogg")})
    with pytest.raises(soundtracks.SoundtracksMissing, match=r"wesnoth-1\.16-music"):
        soundtracks.soundtracks("train", tmp_path)


def test_installed_packages_give_disjoint_train_and_val_music() -> None:
    if not all(soundtracks.track_paths(p) for p in soundtracks.PACKAGES):
        pytest.skip("the Debian soundtrack packages are not installed (bash tools/setup.sh train)")
    splits = _splits()
    assert not splits["train"] & splits["val"]
    assert len(splits["train"]) >= 40 and len(splits["val"]) >= 15


# -- held-out word voices (tools/faultsynth/voices.py) ---------------------------------------------------------


def test_word_voices_one_talker_per_language_with_enough_words(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.faultsynth import voices

    root = tmp_path / "sounds"
    monkeypatch.setattr(voices, "MIN_WORDS", 3)
    monkeypatch.setattr(voices, "MIN_TALKER_S", 1.0)
    for i in range(4):
        _track(root / "en" / f"w{i}.ogg", 0.3, freq=213.0 + 37 * i)  # WAV inside: the decoder reads content
    for i in range(2):  # too few words: no talker
        _track(root / "xx" / f"w{i}.ogg", 0.3)
    t = np.arange(int(0.6 * RATE)) / RATE
    for i in range(4):  # every word hums (a 50 Hz comb under a tone): left out, and the talker with them
        comb = sum(0.05 / k * np.sin(2 * np.pi * 50.0 * k * t) for k in range(1, 6))
        audio = 0.3 * np.sin(2 * np.pi * (213.0 + 37 * i) * t) + comb
        (root / "gl").mkdir(parents=True, exist_ok=True)
        wavfile.write(root / "gl" / f"w{i}.ogg", RATE, (audio * 32767).astype(np.int16))
    (root / "en.soundtheme").write_text("not a folder")
    talkers = voices.word_voices(root, tmp_path / "cache")
    assert [name for name, _ in talkers] == ["voices/ktuberling/en"]
    audio = talkers[0][1]
    # four 0.3 s words and four 50–350 ms pauses, peak-normalised; a second call reads the cache, identical
    assert 4 * 0.35 * RATE <= audio.size <= 4 * 0.65 * RATE
    assert abs(float(np.max(np.abs(audio))) - 1.0) < 1e-6
    assert np.array_equal(voices.word_voices(root, tmp_path / "cache")[0][1], audio)


def test_word_voices_missing_package_names_it(tmp_path: Path) -> None:
    from tools.faultsynth import voices

    with pytest.raises(voices.VoicesMissing, match="ktuberling-data"):
        voices.word_voices(tmp_path / "none", tmp_path)

"""Held-out real voices for choosing a model: word recordings of ten speakers from Debian's ``ktuberling-data``.

Validation has one real talker (LibriSpeech 5703) and the test split one more (JFK). Session 4 found that a model's
false alarms on a *new* voice swing from 2 % to 24 % of fault-free windows between training runs, and that the one
validation voice does not show which run does well: choosing on it picked a run that fired on a quarter of the test
voice's fault-free windows. A second set of voices, in neither train nor test, makes the choice less a bet on one
talker. KTuberling (GPL-2+, KDE) ships the names of its stamps spoken by native speakers, one speaker per language,
recorded in their own rooms with their own microphones; that variety of voice, language, room and microphone is
what a check for "another person in another room" needs.

Each language with at least :data:`MIN_WORDS` recordings becomes one talker: its first :data:`MAX_WORDS` words
(sorted by file name) that carry no mains lines (``sources.carries_mains_lines``: some of these recordings hum,
the Galician one at 49.4–49.8 Hz, which 1 Hz notches at 50 Hz miss; and notching a word that has no lines makes
the notches ring in its silences, which measures as a comb of its own), each peak-normalised and given a −4…0 dB
level, joined by 50–350 ms pauses (a seeded draw, so the talkers are a pure function of the files) and
peak-normalised; a talker left with under :data:`MIN_TALKER_S` of speech is dropped (the Galician one: nearly all
its words hum), which leaves ten. Cached as ``.npy`` under the faultsynth cache.

``windows.build_split(..., voices=True)`` builds windows of a split with these talkers instead of the split's own
(``tools/fault_model_report.py --voice-check N`` does it with the validation split's other sources). They are
never used for training.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .rendered import cache_dir, cached_array

RATE = 16_000
ROOT = Path("/usr/share/ktuberling/sounds")
DEBIAN_PACKAGE = "ktuberling-data"
MIN_WORDS = 40
MIN_TALKER_S = 30.0  # a talker needs this much line-free speech
MAX_WORDS = 120
VOICE_PREFIX = "voices/ktuberling/"
CACHE_VERSION = 3  # 3: words with mains lines left out, nothing notched (1 notched everything, which rang)
SEED = 99


class VoicesMissing(RuntimeError):
    """The Debian package with the word recordings is not installed."""


def languages(root: Path | None = None) -> list[Path]:
    """The language folders with enough words to make a talker."""
    root = root or ROOT
    if not root.is_dir():
        return []
    return [d for d in sorted(root.iterdir()) if d.is_dir() and len(list(d.glob("*.ogg"))) >= MIN_WORDS]


def word_voices(root: Path | None = None, cache: Path | None = None) -> list[tuple[str, np.ndarray]]:
    """One ``(name, samples)`` talker per language, 16 kHz mono float32, peak 1.0."""
    folders = languages(root)
    if not folders:
        raise VoicesMissing(f"no word recordings under {root or ROOT}: install the Debian package {DEBIAN_PACKAGE} "
                            "(bash tools/setup.sh train)")
    folder_cache = (cache or cache_dir()) / "voices"
    out = []
    for folder in folders:
        files = sorted(folder.glob("*.ogg"))[:MAX_WORDS]
        fingerprint = "|".join(f"{f.name}:{f.stat().st_size}" for f in files)
        key = hashlib.sha256(f"{CACHE_VERSION}|{SEED}|{fingerprint}".encode()).hexdigest()[:16]
        talker = cached_array(folder_cache / f"{folder.name}-{key}.npy", lambda files=files: _talker(files))
        if talker.size < MIN_TALKER_S * RATE:  # most of its words hum (the Galician talker): no fault-free talker
            continue
        out.append((f"{VOICE_PREFIX}{folder.name}", talker))
    return out


def _talker(files: list[Path]) -> np.ndarray:
    from liverec_edge.media import MediaError, decode_audio

    from .sources import carries_mains_lines

    rng = np.random.default_rng(SEED)
    parts: list[np.ndarray] = []
    for path in files:
        gain = 10 ** (rng.uniform(-4.0, 0.0) / 20)
        pause = np.zeros(int(rng.uniform(0.05, 0.35) * RATE), np.float32)
        try:
            word, _ = decode_audio(path, RATE)
        except MediaError:  # a few files of the package do not decode; the talker goes on without them
            continue
        if carries_mains_lines(word):  # a talker for fault-free windows: its own hum would be a real fault
            continue
        parts += [word / max(1e-6, float(np.max(np.abs(word)))) * gain, pause]
    if not parts:
        return np.zeros(0, np.float32)
    talker = np.concatenate(parts).astype(np.float32)
    return (talker / max(1e-6, float(np.max(np.abs(talker))))).astype(np.float32)


#: Quietest share of a word recording's 25 ms frames that :func:`word_floors_db` takes as its noise floor.
FLOOR_SHARE = 0.2


def word_floors_db(root: Path | None = None) -> dict[str, float]:
    """Each language's recording noise floor under its own speech, in dB (also a language :func:`word_voices`
    drops as too short). Per word file it would use (the first :data:`MAX_WORDS`, none that carries lines): the
    RMS of its quietest :data:`FLOOR_SHARE` of 25 ms frames (the room and microphone before and after the word)
    over the word's active level (``generators.active_rms``, the level the dataset tool sets talkers and faults
    by); then the median over the words. The dataset labels broadband noise from 35 to 8 dB under the talker as
    ``hiss``, so a talker whose own floor sits in that range brings hiss of its own into windows the voice check
    calls fault-free."""
    from liverec_edge.media import MediaError, decode_audio

    from .generators import active_rms, frame_energies
    from .sources import carries_mains_lines

    out: dict[str, float] = {}
    for folder in languages(root):
        ratios = []
        for path in sorted(folder.glob("*.ogg"))[:MAX_WORDS]:
            try:
                word, _ = decode_audio(path, RATE)
            except MediaError:
                continue
            energy = frame_energies(word)
            if energy.size < 10 or carries_mains_lines(word):
                continue
            floor = np.sqrt(energy[: max(1, int(energy.size * FLOOR_SHARE))].mean() + 1e-20)
            ratios.append(20 * np.log10(floor / max(active_rms(word), 1e-10)))
        if ratios:
            out[f"{VOICE_PREFIX}{folder.name}"] = round(float(np.median(ratios)), 1)
    return out

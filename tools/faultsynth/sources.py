"""The real recordings the fault windows are built from, and their split by source recording.

Every file in ``../shared/media`` (see its CREDITS.md) belongs to exactly one of train / val / test, so no recording
that graded the model ever trained it. Speech and music have only a handful of files, so each split gets whole
files; the 8 keyboard and 20 mains recordings split roughly 5/1/2 and 14/3/3.

Two talkers and two tracks are too few to learn "a voice" and "music" from, so ``load_split(..., rendered=True)``
adds rendered material (``tools/faultsynth/rendered.py``, deterministic from the seed, cached outside the repo):
music composed at random and rendered from real-instrument soundfonts — 30 pieces for train (FluidR3_GM), 8 for val
(TimGM6mb, so no instrument sample is shared) — and 12 synthetic talkers (flite, espeak-ng) for train only. Their
names start with ``rendered/`` (e.g. ``rendered/music/train/07``). The test split never gets rendered material: it
grades the model on real recordings alone. SPLITS below lists the real recordings only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.signal import butter, hilbert, sosfiltfilt

from liverec_edge.media import decode_audio

from .rendered import RENDERED_PREFIX

RATE = 16_000
MAINS_RATE = 400
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")

SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "train": {
        "speech": ("speech/librispeech_198-209-0000.ogg", "speech/librispeech_3436-172162-0000.ogg"),
        "music": (
            "music/Kevin_MacLeod_-_Vibe_Ace.ogg",
            "music/Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg",
        ),
        "keyboard": tuple(f"keyboard/zoom_{k}.wav" for k in "abcde"),
        "hum": tuple(f"hum/enf_whu_h1_ref_{i:03d}.wav" for i in range(1, 15)),
    },
    "val": {
        "speech": ("speech/librispeech_5703-47212-0000.ogg",),
        "music": ("music/Karissa_Hobbs_-_Lets_Go_Fishin.ogg",),
        "keyboard": ("keyboard/zoom_f.wav",),
        "hum": tuple(f"hum/enf_whu_h1_ref_{i:03d}.wav" for i in range(15, 18)),
    },
    "test": {
        "speech": ("speech/jfk.wav",),
        "music": ("music/Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",),
        "keyboard": tuple(f"keyboard/zoom_{k}.wav" for k in "gh"),
        "hum": tuple(f"hum/enf_whu_h1_ref_{i:03d}.wav" for i in range(18, 21)),
    },
}


@dataclass
class MainsTrack:
    """A real mains recording reduced to its unwrapped fundamental phase (radians) at 400 Hz."""

    name: str
    phase: np.ndarray

    @property
    def seconds(self) -> float:
        return self.phase.size / MAINS_RATE


@dataclass
class SplitSources:
    """Decoded material of one split, all mono float32 at 16 kHz (mains: phase at 400 Hz)."""

    split: str
    speech: list[tuple[str, np.ndarray]] = field(default_factory=list)
    music: list[tuple[str, np.ndarray]] = field(default_factory=list)
    keypresses: list[tuple[str, np.ndarray]] = field(default_factory=list)  # one entry per isolated key press
    mains: list[MainsTrack] = field(default_factory=list)


def mains_phase(waveform_400hz: np.ndarray) -> np.ndarray:
    """Unwrapped phase of the mains fundamental: band-pass 40–70 Hz, analytic signal, unwrap.

    The recordings are ~50 Hz with natural wander (ENF); the phase carries that wander into the synthetic hum.
    """
    sos = butter(4, [40.0, 70.0], btype="bandpass", fs=MAINS_RATE, output="sos")
    fundamental = sosfiltfilt(sos, waveform_400hz.astype(np.float64))
    phase = np.unwrap(np.angle(hilbert(fundamental)))
    edge = 2 * MAINS_RATE  # the filter and the analytic signal are unreliable at the ends: drop 2 s each side
    return phase[edge:-edge] if phase.size > 4 * edge + MAINS_RATE else phase


def remove_mains_lines(samples: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Notch out 50/60 Hz and their harmonics up to 360 Hz (1 Hz wide, zero-phase).

    The speech recordings carry hum of their own (LibriSpeech 198-209: a 60 Hz line 25 dB under the speech; JFK:
    120–240 Hz lines ~30 dB under): left in, every "clean" window of them would teach or grade hum as clean.
    Notches 1 Hz wide take it out; they remove 2 % of the energy of 198-209, most of it the hum lines themselves.
    """
    from scipy.signal import filtfilt, iirnotch

    out = samples.astype(np.float64)
    for mains in (50.0, 60.0):
        for k in range(1, int(360 // mains) + 1):
            b, a = iirnotch(k * mains, k * mains / 1.0, fs=rate)  # 1 Hz wide: the mains lines are that steady
            out = filtfilt(b, a, out)
    return out.astype(np.float32)


#: A recording carries mains lines when a comb is measurable in at least this share of its 1 s windows.
LINES_PRESENT_SHARE = 0.2


def carries_mains_lines(samples: np.ndarray, rate: int = RATE) -> bool:
    """Whether a 50/60 Hz comb (``liverec_edge.audio.measure.measure_hum``) is measurable in at least
    :data:`LINES_PRESENT_SHARE` of the recording's 1 s windows (hop 0.5 s; a shorter recording is one window)."""
    from scipy.signal import resample_poly

    from liverec_edge.audio.measure import measure_hum

    x = np.asarray(samples, np.float64)
    if rate != 16_000:
        x = resample_poly(x, 16_000, rate)
    second = 16_000
    starts = range(0, max(1, x.size - second + 1), second // 2)
    found = sum(measure_hum(x[a : a + second]) is not None for a in starts)
    return found >= LINES_PRESENT_SHARE * len(starts)


def remove_mains_lines_where_present(samples: np.ndarray, rate: int = RATE) -> np.ndarray:
    """:func:`remove_mains_lines` for a recording that carries mains lines; any other comes back unchanged.

    The 1 Hz notches ring: each one subtracts a narrow band-pass of the signal, which after every transient (a word
    onset) is a tone at the line frequency decaying over ~0.3 s, before and after it (zero-phase). In the pauses of a
    recording without lines that ringing measures as a comb of its own: notched, LibriSpeech 3436 and 5703 (no
    lines) showed a measurable comb in 2–3 of their 1 s windows (none before), and the word recordings of the
    held-out voices, digital silence between words, in up to 46 % (the Danish talker: 204 of 442 windows, 1
    before). Recordings that carry lines (JFK, LibriSpeech 198-209) are still notched: their lines are the larger
    error.
    """
    if not carries_mains_lines(samples, rate):
        return np.asarray(samples, np.float32)
    return remove_mains_lines(samples, rate)


def extract_keypresses(samples: np.ndarray, rate: int = RATE) -> list[np.ndarray]:
    """Cut each key press out of a recording of isolated presses: energy onsets, 10 ms before to 150 ms after.

    The Zoom recordings hold 25 presses of one key with quiet gaps; a press is a 5 ms-frame energy peak 12 dB over
    the recording's median frame energy, at least 200 ms after the previous one.
    """
    hop = rate // 200
    n = samples.size // hop
    energy = (samples[: n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12
    level = 10 * np.log10(energy)
    threshold = np.median(level) + 12.0
    presses: list[np.ndarray] = []
    last = -(10**9)
    pre, post = int(0.010 * rate), int(0.150 * rate)
    for i in np.flatnonzero(level > threshold):
        start = i * hop
        if start - last < int(0.2 * rate):
            continue
        last = start
        if start - pre < 0 or start + post > samples.size:
            continue
        snippet = samples[start - pre : start + post].astype(np.float32).copy()
        fade = int(0.005 * rate)
        snippet[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
        snippet[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        presses.append(snippet)
    return presses


def _read_mains(path: Path) -> tuple[np.ndarray, int]:
    """The ENF files are plain PCM WAV: scipy reads them ~1000× faster than a generic decoder (8 min at 400 Hz
    arrives as tiny packets); anything else falls back to the project's decoder."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError):
        return decode_audio(path)
    data = data.astype(np.float32)
    if data.ndim > 1:
        data = data.mean(axis=1)
    return data, int(rate)


@lru_cache(maxsize=6)
def load_split(media_dir: Path, split: str, rendered: bool = False, seed: int = 0,
               soundtracks: bool = False, voices: bool = False) -> SplitSources:
    """Decode every recording of ``split`` (cached per process: the sources are read-only afterwards).

    ``soundtracks`` appends the Debian game soundtracks (``soundtracks.py``: real produced music, train and val)
    after the shared recordings, ``rendered`` the rendered music (train, val) and talkers (train) of ``seed``; the
    test split ignores both. ``voices`` replaces the split's talkers with the held-out word voices of ``voices.py``
    (for choosing between models; never for training).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLIT_NAMES}")
    files = SPLITS[split]
    sources = SplitSources(split=split)
    for rel in files["speech"]:
        audio = remove_mains_lines_where_present(decode_audio(media_dir / rel, RATE)[0])
        sources.speech.append((rel, audio / max(1e-6, float(np.max(np.abs(audio))))))
    for rel in files["music"]:
        audio, _ = decode_audio(media_dir / rel, RATE)
        sources.music.append((rel, audio / max(1e-6, float(np.max(np.abs(audio))))))
    for rel in files["keyboard"]:
        audio, _ = decode_audio(media_dir / rel, RATE)
        for index, press in enumerate(extract_keypresses(audio)):
            sources.keypresses.append((f"{rel}#{index}", press / max(1e-6, float(np.max(np.abs(press))))))
    for rel in files["hum"]:
        wave, rate = _read_mains(media_dir / rel)
        if rate != MAINS_RATE:
            raise ValueError(f"{rel}: expected the ENF recordings at {MAINS_RATE} Hz, got {rate}")
        sources.mains.append(MainsTrack(rel, mains_phase(wave)))
    if soundtracks and split != "test":
        from .soundtracks import soundtracks as soundtrack_music

        # real produced music: it joins the real group of `windows._pick`, the renders the rendered one
        sources.music.extend(soundtrack_music(split))
    if rendered and split != "test":
        from .rendered import rendered_music, rendered_speech

        # already peak-normalised; rendered speech has no mains hum, so no notches
        sources.music.extend(rendered_music(split, seed))
        sources.speech.extend(rendered_speech(split, seed))
    if voices:
        from .voices import word_voices

        sources.speech = word_voices()
    return sources


def is_rendered(name: str) -> bool:
    """Whether a source name belongs to the rendered material (see tools/faultsynth/rendered.py)."""
    return name.startswith(RENDERED_PREFIX)

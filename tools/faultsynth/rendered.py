"""Rendered sources that widen the train (and val) material: real-instrument music and synthetic talkers.

The real recordings give only two talkers and two music tracks to train on, so the classifier learnt *those* voices
as "clean" and *those* tracks as music. This module adds, deterministically from ``(seed, split, index)``:

* **Music** (train and val): short random compositions — key and scale, 60–160 bpm, a chord progression, melody,
  bass line, sometimes drums, 1–4 General MIDI instruments from strings, piano, guitars, organ, brass, woodwinds,
  synth pads/leads, choir, mallets and plucked instruments, sustained or staccato, with dynamics — written as a
  standard MIDI file by the tiny writer below and rendered from sampled real instruments with the ``fluidsynth`` CLI.
  Each split uses its own soundfont (train FluidR3_GM, val TimGM6mb), so no instrument sample is shared between
  splits. The test split never gets rendered material: it grades the model on real recordings only.
* **Speech** (train only): ``flite`` and ``espeak-ng`` talkers with varied pitch and rate reading the broadcast-style
  sentences of ``SENTENCES`` (written for this project) with 0.2–0.8 s pauses, 45–60 s per voice.

Everything is mono float32 at 16 kHz, peak-normalised to 1.0 and trimmed of leading/trailing silence, and cached as
WAV under ``$LIVEREC_FAULTSYNTH_CACHE`` (default ``~/.cache/liverec-edge/faultsynth``) keyed by a hash of
``GENERATOR_VERSION``, kind, seed, split and index — bump the version whenever the output would change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16_000
GENERATOR_VERSION = 1
RENDERED_PREFIX = "rendered/"
SOUNDFONTS: dict[str, Path] = {
    "train": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # Debian fluid-soundfont-gm (MIT)
    "val": Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),  # Debian timgm6mb-soundfont (GPL-2)
}
SOUNDFONT_PACKAGES = {"train": "fluid-soundfont-gm", "val": "timgm6mb-soundfont"}
MUSIC_COUNTS: dict[str, int] = {"train": 30, "val": 8}
MUSIC_SECONDS = 25.0
TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # GM channel 10

SENTENCES: tuple[str, ...] = (
    "Good evening and welcome back to the late programme.",
    "We have a packed hour ahead of us, so let's get straight into it.",
    "Joining me in the studio tonight are two guests who know this subject inside out.",
    "Before the break we were talking about the new bridge across the river.",
    "Can you hear me clearly? Give me a wave if the level is fine.",
    "Let's run that clip one more time, from the top of the second verse.",
    "The phones have been busy all morning, and we will take a few of your calls shortly.",
    "That was the weather for the north of the region; the south stays dry until Thursday.",
    "Thanks for staying with us through the technical trouble earlier.",
    "I want to come back to something you said a moment ago about the budget.",
    "Our next guest has travelled a long way to be here, so please make her welcome.",
    "If you are just tuning in, we are talking about how small towns keep their libraries open.",
    "Microphone two sounds a little quiet from here; could someone bring it up a touch?",
    "We will be right back after a short message from the station.",
    "The committee meets again next Tuesday, and we will report on what they decide.",
    "So tell me, how did the idea for the festival start in the first place?",
    "It was a simple question, really, but nobody had a good answer for it.",
    "Traffic is moving slowly on the ring road because of roadworks near the stadium.",
    "Let me read out a message that came in from a listener a few minutes ago.",
    "She says the concert on Saturday was the best one the hall has seen in years.",
    "Right, we are coming up to the top of the hour, so a quick summary first.",
    "I think the honest answer is that it depends on who you ask.",
    "We tried the same recipe three times before the bread finally rose properly.",
    "The match was level at half time, but the second half was a different story.",
    "Please keep your questions short so that everybody gets a chance to speak.",
    "For those of you watching the stream, the slides are now on the screen behind me.",
    "That brings us to the last item on this evening's agenda.",
    "One, two, three, testing, this is the presenter microphone on channel four.",
    "The museum reopens next month with a new room dedicated to old radio sets.",
    "Honestly, I did not expect the audience to react the way they did.",
    "Let's welcome our panel, who have kindly given up their Sunday afternoon.",
    "We asked a dozen people on the high street what they thought of the plan.",
    "The train was twenty minutes late, which is why I am a little out of breath.",
    "There are still a few tickets left for Friday, but they are going fast.",
    "Could we have the lights a bit lower on the left side of the stage, please?",
    "My grandfather used to fix radios in a small shop behind the market square.",
    "That is all we have time for today; thank you for listening and see you next week.",
    "Now, a quick reminder that the lecture starts fifteen minutes earlier tomorrow.",
    "When the rain stopped, the whole crowd came back out of the tents at once.",
    "The recording you are about to hear was made on a summer evening by the lake.",
    "I will hand over to my colleague, who has the latest from the council meeting.",
    "Let's pause there for a moment and take a breath before the next segment.",
)


@dataclass(frozen=True)
class Talker:
    engine: str  # "flite" or "espeak-ng"
    voice: str
    pitch: tuple[float, float]  # flite: mean f0 in Hz (None-like 0 = the voice's own); espeak-ng: -p 0..99
    rate: tuple[float, float]  # flite: duration stretch; espeak-ng: -s words per minute


TALKERS: tuple[Talker, ...] = (
    Talker("flite", "awb", (95.0, 125.0), (0.9, 1.15)),
    Talker("flite", "rms", (90.0, 120.0), (0.9, 1.15)),
    Talker("flite", "slt", (160.0, 200.0), (0.9, 1.15)),
    Talker("flite", "kal16", (95.0, 130.0), (0.9, 1.15)),
    Talker("espeak-ng", "en-us+m3", (30.0, 55.0), (140.0, 180.0)),
    Talker("espeak-ng", "en+f2", (45.0, 75.0), (140.0, 175.0)),
    Talker("espeak-ng", "en-gb+m1", (30.0, 55.0), (145.0, 185.0)),
    Talker("espeak-ng", "en-gb-scotland+m4", (30.0, 55.0), (140.0, 175.0)),
    Talker("espeak-ng", "en-us+f4", (45.0, 75.0), (145.0, 180.0)),
    Talker("espeak-ng", "en-029+m2", (30.0, 55.0), (140.0, 175.0)),
    Talker("espeak-ng", "en-gb-x-rp+f3", (45.0, 75.0), (140.0, 175.0)),
    Talker("espeak-ng", "en-us+m7", (25.0, 50.0), (135.0, 170.0)),
)
SPEECH_COUNTS: dict[str, int] = {"train": len(TALKERS)}

# General MIDI programs (0-based) per role; wide on purpose: music in general, not a few timbres.
# fmt: off
MELODY_PROGRAMS = (0, 1, 4, 6, 11, 12, 13, 22, 24, 26, 40, 41, 56, 57, 60, 64, 65, 66, 68, 69, 71, 73, 74, 75, 79,
                   80, 81, 85, 104, 105, 107, 108, 53)
CHORD_PROGRAMS = (0, 1, 2, 4, 5, 16, 17, 19, 24, 25, 27, 29, 46, 48, 49, 50, 52, 54, 61, 88, 89, 90, 91, 92, 94, 95,
                  8, 11, 45)
BASS_PROGRAMS = (32, 33, 34, 35, 36, 38, 39, 42, 43, 58, 70)
ARPEGGIO_PROGRAMS = (0, 6, 8, 9, 10, 11, 12, 24, 25, 45, 46, 98, 104, 105, 107, 108)
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
PROGRESSIONS: tuple[tuple[int, ...], ...] = (  # scale degrees, 0 = tonic
    (0, 4, 5, 3), (0, 3, 4, 3), (1, 4, 0, 0), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 0, 4), (0, 6, 5, 4),
    (0, 5, 1, 4), (0, 2, 3, 4), (3, 4, 2, 5), (0, 0, 3, 4), (5, 4, 3, 4),
)
# fmt: on


# --- MIDI writer ----------------------------------------------------------------------------------------------------


def _varlen(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits per byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _track_chunk(events: list[tuple[int, int, bytes]]) -> bytes:
    """One MTrk chunk from (absolute tick, order, message) events; ties at a tick keep ``order`` (note-offs first)."""
    body = bytearray()
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        body += _varlen(tick - now) + message
        now = tick
    body += _varlen(0) + b"\xff\x2f\x00"  # end of track
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def midi_file(tracks: list[list[tuple[int, int, bytes]]], ticks_per_beat: int = TICKS_PER_BEAT) -> bytes:
    """A format-1 standard MIDI file: a header chunk and one MTrk chunk per event list."""
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), ticks_per_beat)
    return header + b"".join(_track_chunk(track) for track in tracks)


@dataclass
class Note:
    start: float  # beats
    length: float  # beats
    pitch: int
    velocity: int
    channel: int


@dataclass
class Composition:
    tempo_bpm: float
    beats: float
    programs: dict[int, int]  # channel -> GM program (the drum channel has none)
    notes: list[Note]
    controls: dict[int, tuple[int, int]]  # channel -> (pan, reverb send)
    description: str


def composition_midi(piece: Composition) -> bytes:
    """Tempo track + one track per channel; the file ends one beat after the last note so the release rings."""
    ticks = TICKS_PER_BEAT
    tempo_us = round(60_000_000 / piece.tempo_bpm)
    conductor = [(0, 0, b"\xff\x51\x03" + tempo_us.to_bytes(3, "big"))]
    tracks: list[list[tuple[int, int, bytes]]] = [conductor]
    end = round((piece.beats + 1.0) * ticks)
    for channel in sorted({n.channel for n in piece.notes}):
        track: list[tuple[int, int, bytes]] = []
        if channel in piece.programs:
            track.append((0, 0, bytes([0xC0 | channel, piece.programs[channel]])))
        pan, reverb = piece.controls.get(channel, (64, 40))
        track += [(0, 0, bytes([0xB0 | channel, 10, pan])), (0, 0, bytes([0xB0 | channel, 91, reverb]))]
        for note in (n for n in piece.notes if n.channel == channel):
            on = round(note.start * ticks)
            off = max(on + 1, round((note.start + note.length) * ticks))
            track.append((on, 2, bytes([0x90 | channel, note.pitch, note.velocity])))
            track.append((off, 1, bytes([0x80 | channel, note.pitch, 0])))
        track.append((end, 3, bytes([0xB0 | channel, 123, 0])))  # all notes off at the end
        tracks.append(track)
    return midi_file(tracks, ticks)


# --- composition ----------------------------------------------------------------------------------------------------


def compose(rng: np.random.Generator, seconds: float = MUSIC_SECONDS) -> Composition:
    """A random short piece: harmony from a common progression, then each chosen role writes its part over it."""
    root = int(rng.integers(0, 12))
    scale_name = str(rng.choice(list(SCALES)))
    scale = SCALES[scale_name]
    tempo = float(rng.uniform(60.0, 160.0))
    meter = 3 if rng.random() < 0.2 else 4
    bars = max(2, round(seconds * tempo / 60.0 / meter))
    progression = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    chords_per_bar = 2 if (tempo < 90 and meter == 4 and rng.random() < 0.5) else 1
    chord_beats = meter / chords_per_bar
    n_chords = bars * chords_per_bar
    sevenths = rng.random() < 0.3

    def degree_pitch(degree: int, octave: int) -> int:
        return 12 * octave + root + scale[degree % 7] + 12 * (degree // 7)

    chords = [progression[i % len(progression)] for i in range(n_chords)]
    if rng.random() < 0.7:
        chords[-1] = 0  # end home most of the time
    chord_tones = [[d, d + 2, d + 4] + ([d + 6] if sevenths else []) for d in chords]

    n_instruments = int(rng.choice([1, 2, 3, 4], p=[0.2, 0.3, 0.3, 0.2]))
    roles = {
        1: ["solo"],
        2: [["melody", "chords"], ["chords", "bass"], ["melody", "arpeggio"]][int(rng.integers(3))],
        3: ["melody", "chords", "bass"],
        4: ["melody", "chords", "bass", "arpeggio"],
    }[n_instruments]
    drums = n_instruments >= 2 and rng.random() < 0.45
    base_velocity = float(rng.uniform(55, 105))
    shape = str(rng.choice(["flat", "crescendo", "decrescendo", "swell"]))
    total = bars * meter

    def velocity(beat: float, accent: float = 0.0) -> int:
        x = beat / max(total, 1.0)
        curve = {
            "flat": 0.0,
            "crescendo": -15 + 30 * x,
            "decrescendo": 15 - 30 * x,
            "swell": 20 * np.sin(np.pi * x) - 8,
        }[shape]
        return int(np.clip(base_velocity + curve + accent + rng.normal(0.0, 5.0), 20, 127))

    notes: list[Note] = []
    programs: dict[int, int] = {}
    controls: dict[int, tuple[int, int]] = {}
    described: list[str] = []
    for channel, role in enumerate(roles):
        pool = {
            "solo": MELODY_PROGRAMS + CHORD_PROGRAMS,
            "melody": MELODY_PROGRAMS,
            "chords": CHORD_PROGRAMS,
            "bass": BASS_PROGRAMS,
            "arpeggio": ARPEGGIO_PROGRAMS,
        }[role]
        programs[channel] = int(pool[int(rng.integers(len(pool)))])
        controls[channel] = (int(rng.integers(30, 98)), int(rng.integers(10, 90)))
        staccato = rng.random() < 0.35
        articulation = float(rng.uniform(0.3, 0.55)) if staccato else float(rng.uniform(0.85, 1.0))

        def held(length: float, articulation: float = articulation) -> float:
            # staccato shortens beats and shorter notes only: a staccato whole note would be mostly silence
            return length * (articulation if length <= 1.0 else max(articulation, 0.85))

        described.append(f"{role}:{programs[channel]}{'.stacc' if staccato else ''}")
        if role in ("chords", "solo"):
            octave = 4 if role == "chords" else int(rng.integers(3, 5))
            pattern = [chord_beats] if rng.random() < 0.5 else [1.0] * int(chord_beats)
            if role == "solo" or rng.random() < 0.3:
                pattern = [0.5] * int(2 * chord_beats) if rng.random() < 0.5 else pattern
            for i, tones in enumerate(chord_tones):
                beat = i * chord_beats
                for k, step in enumerate(pattern):
                    at = beat + sum(pattern[:k])
                    pitches = [degree_pitch(t, octave) for t in tones]
                    if role == "solo" and len(pattern) > 1:  # a keyboard/guitar player: broken chords
                        pitches = [pitches[k % len(pitches)]]
                    for p in pitches:
                        notes.append(Note(at, held(step), min(p, 108), velocity(at, 8.0 * (k == 0)), channel))
        elif role == "bass":
            style = str(rng.choice(["whole", "root_fifth", "walking", "eighths"]))
            for i, tones in enumerate(chord_tones):
                beat = i * chord_beats
                bass_root = degree_pitch(tones[0], 2)
                if style == "whole":
                    steps = [(0.0, chord_beats, bass_root)]
                elif style == "root_fifth":
                    half = chord_beats / 2
                    steps = [(0.0, half, bass_root), (half, half, degree_pitch(tones[0] + 4, 2))]
                elif style == "walking":
                    walk = [tones[0], tones[0] + 2, tones[0] + 4, tones[0] + 5]
                    steps = [(float(b), 1.0, degree_pitch(walk[b % 4], 2)) for b in range(int(chord_beats))]
                else:
                    steps = [(b / 2, 0.5, bass_root + 12 * (b % 4 == 3)) for b in range(int(2 * chord_beats))]
                for offset, length, p in steps:
                    notes.append(Note(beat + offset, held(length), max(p, 28), velocity(beat + offset), channel))
        elif role == "arpeggio":
            step = 0.25 if tempo < 100 and rng.random() < 0.5 else 0.5
            up_down = rng.random() < 0.5
            for i, tones in enumerate(chord_tones):
                seq = [degree_pitch(t, 4) for t in tones] + [degree_pitch(tones[0] + 7, 4)]
                if up_down:
                    seq = seq + seq[-2:0:-1]
                for k in range(int(chord_beats / step)):
                    at = i * chord_beats + k * step
                    notes.append(Note(at, held(step), seq[k % len(seq)], velocity(at, -10.0), channel))
        else:  # melody: a random walk over the scale that lands on chord tones on strong beats
            rhythms = (
                [1.0, 1.0, 1.0, 1.0],
                [0.5, 0.5, 1.0, 2.0],
                [1.5, 0.5, 1.0, 1.0],
                [2.0, 2.0],
                [0.5, 0.5, 0.5, 0.5, 1.0, 1.0],
                [1.0, 0.5, 0.5, 2.0],
                [3.0, 1.0],
                [4.0],
            )
            degree = int(rng.choice([0, 2, 4])) + 7 * int(rng.integers(0, 2))
            octave = 5 if programs[channel] not in (57, 58, 70, 32, 42) else 4
            beat = 0.0
            while beat < total - 1e-6:
                bar_rhythm = list(rhythms[int(rng.integers(len(rhythms)))])
                if meter == 3:
                    bar_rhythm = [1.0, 1.0, 1.0] if rng.random() < 0.5 else [2.0, 1.0]
                for length in bar_rhythm:
                    if beat >= total - 1e-6:
                        break
                    tones = chord_tones[min(int(beat // chord_beats), n_chords - 1)]
                    if abs(beat % 1.0) < 1e-6 and rng.random() < 0.6:
                        targets = [t + 7 * k for t in tones for k in (-1, 0, 1, 2)]
                        degree = min(targets, key=lambda t: abs(t - degree))
                    else:
                        degree += int(rng.choice([-2, -1, -1, 1, 1, 2, 3, -3]))
                    degree = int(np.clip(degree, -3, 12))
                    if rng.random() > 0.1:  # an occasional rest
                        pitch = degree_pitch(degree, octave)
                        notes.append(Note(beat, held(length), pitch, velocity(beat, 6.0), channel))
                    beat += length
    if drums:
        described.append("drums")
        controls[DRUM_CHANNEL] = (64, int(rng.integers(10, 60)))
        hat = 42 if rng.random() < 0.7 else 51  # closed hi-hat or ride
        half_time = rng.random() < 0.3
        for bar in range(bars):
            start = bar * meter
            if bar == 0 and rng.random() < 0.7:
                notes.append(Note(start, 1.0, 49, velocity(start, 10.0), DRUM_CHANNEL))
            for b in range(meter):
                at = start + b
                if b == 0 or (meter == 4 and b == 2 and not half_time):
                    notes.append(Note(at, 0.25, 36, velocity(at, 10.0), DRUM_CHANNEL))
                if (meter == 4 and b in ((2,) if half_time else (1, 3))) or (meter == 3 and b in (1, 2)):
                    notes.append(Note(at, 0.25, 38, velocity(at, 4.0), DRUM_CHANNEL))
                for h in (0.0, 0.5):
                    notes.append(Note(at + h, 0.25, hat, velocity(at + h, -18.0 + 6.0 * (h == 0.0)), DRUM_CHANNEL))
            if bar % 4 == 3 and rng.random() < 0.5:
                notes.append(Note(start + meter - 0.5, 0.25, 46, velocity(start, -5.0), DRUM_CHANNEL))
    description = f"{scale_name} root {root} {tempo:.0f} bpm {meter}/4 {bars} bars {shape}: " + " ".join(described)
    return Composition(tempo, float(total), programs, notes, controls, description)


# --- rendering ------------------------------------------------------------------------------------------------------


def _require(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(
            f"rendered sources need `{tool}`: install the Debian package {package} "
            f"(apt-get install {package}), or build the dataset with --no-rendered"
        )
    return path


def soundfont(split: str) -> Path:
    if split not in SOUNDFONTS:
        raise ValueError(f"no rendered music for split {split!r}")
    path = SOUNDFONTS[split]
    if not path.is_file():
        package = SOUNDFONT_PACKAGES[split]
        raise RuntimeError(
            f"rendered {split} music needs the soundfont {path}: install the Debian package {package} "
            f"(apt-get install {package}), or build the dataset with --no-rendered"
        )
    return path


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import warnings

    from scipy.io import wavfile

    with warnings.catch_warnings():  # libsndfile's PEAK chunk in fluidsynth's float WAV: harmless, scipy skips it
        warnings.simplefilter("ignore", wavfile.WavFileWarning)
        rate, data = wavfile.read(path)
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    data = data.astype(np.float32)
    if data.ndim > 1:
        data = data.mean(axis=1)
    return data, int(rate)


def trim_silence(audio: np.ndarray, floor_db: float = -50.0, rate: int = RATE) -> np.ndarray:
    """Cut leading/trailing 10 ms frames quieter than ``floor_db`` under the peak (keeps one frame of margin)."""
    hop = rate // 100
    n = audio.size // hop
    if n == 0:
        return audio
    peak = float(np.max(np.abs(audio)))
    if peak <= 0.0:
        return audio[:0]
    frames = np.abs(audio[: n * hop].reshape(n, hop)).max(axis=1)
    loud = np.flatnonzero(frames > peak * 10 ** (floor_db / 20))
    first, last = max(0, int(loud[0]) - 1), min(n, int(loud[-1]) + 2)
    return audio[first * hop : last * hop]


def _normalise(audio: np.ndarray) -> np.ndarray:
    return (audio / max(1e-6, float(np.max(np.abs(audio))))).astype(np.float32)


def item_rng(kind: str, seed: int, split: str, index: int) -> np.random.Generator:
    kinds = ("music", "speech")
    return np.random.default_rng([int(seed), kinds.index(kind), ("train", "val", "test").index(split), int(index)])


def render_piece(seed: int, split: str, index: int, seconds: float = MUSIC_SECONDS) -> tuple[np.ndarray, str]:
    """Compose piece ``index`` of ``split`` and render it with the split's soundfont: (mono float32 16 kHz, what)."""
    fluidsynth = _require("fluidsynth", "fluidsynth")
    font = soundfont(split)
    piece = compose(item_rng("music", seed, split, index), seconds)
    with tempfile.TemporaryDirectory(prefix="faultsynth_midi_") as tmp:
        mid, wav = Path(tmp) / "piece.mid", Path(tmp) / "piece.wav"
        mid.write_bytes(composition_midi(piece))
        # float output: no s16 dither (random) and no clipping; the gain only sets the reverb/voice headroom
        cmd = [
            fluidsynth,
            "-ni",
            "-q",
            "-F",
            str(wav),
            "-T",
            "wav",
            "-O",
            "float",
            "-r",
            str(RATE),
            "-g",
            "0.5",
            "-o",
            "synth.cpu-cores=1",
            str(font),
            str(mid),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"fluidsynth failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        audio, rate = _read_wav(wav)
    if rate != RATE:
        raise RuntimeError(f"fluidsynth rendered at {rate} Hz, expected {RATE}")
    return _normalise(trim_silence(audio)), piece.description


def _say(talker: Talker, text: str, pitch: float, rate: float, tmp: Path) -> np.ndarray:
    from scipy.signal import resample_poly

    wav = tmp / "sentence.wav"
    if talker.engine == "flite":
        cmd = [
            _require("flite", "flite"),
            "-voice",
            talker.voice,
            "--setf",
            f"duration_stretch={rate:.3f}",
            "--setf",
            f"int_f0_target_mean={pitch:.1f}",
            "-t",
            text,
            "-o",
            str(wav),
        ]
    else:
        cmd = [
            _require("espeak-ng", "espeak-ng"),
            "-v",
            talker.voice,
            "-p",
            str(round(pitch)),
            "-s",
            str(round(rate)),
            "-w",
            str(wav),
            text,
        ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if done.returncode != 0 or not wav.is_file():
        raise RuntimeError(f"{talker.engine} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    audio, sr = _read_wav(wav)
    if sr != RATE:
        g = np.gcd(sr, RATE)
        audio = resample_poly(audio.astype(np.float64), RATE // g, sr // g).astype(np.float32)
    return trim_silence(audio)


def render_talker(
    seed: int, split: str, index: int, seconds: float | None = None, sentences: int | None = None
) -> tuple[np.ndarray, str]:
    """Talker ``index`` reading shuffled sentences with 0.2–0.8 s pauses until ``seconds`` (default 45–60 s drawn)
    or ``sentences`` sentences: (mono float32 16 kHz, what)."""
    talker = TALKERS[index % len(TALKERS)]
    rng = item_rng("speech", seed, split, index)
    pitch = float(rng.uniform(*talker.pitch))
    rate = float(rng.uniform(*talker.rate))
    target = float(rng.uniform(45.0, 60.0)) if seconds is None else float(seconds)
    order = rng.permutation(len(SENTENCES))
    parts: list[np.ndarray] = []
    total = 0
    with tempfile.TemporaryDirectory(prefix="faultsynth_tts_") as tmp:
        for k in range(10 * len(SENTENCES)):
            if (sentences is not None and k >= sentences) or (sentences is None and total >= target * RATE):
                break
            if parts:
                pause = np.zeros(int(rng.uniform(0.2, 0.8) * RATE), np.float32)
                parts.append(pause)
                total += pause.size
            said = _say(talker, SENTENCES[int(order[k % len(order)])], pitch, rate, Path(tmp))
            parts.append(said)
            total += said.size
    audio = np.concatenate(parts)
    return _normalise(audio), f"{talker.engine} {talker.voice} pitch {pitch:.0f} rate {rate:.2f}"


# --- cache ----------------------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    env = os.environ.get("LIVEREC_FAULTSYNTH_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "liverec-edge" / "faultsynth"


def cached_array(path: Path, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``path`` (.npy) if it exists, else ``compute()`` saved there first (atomically: several build processes may
    compute the same entry, and a killed build must not leave half a file)."""
    if path.is_file():
        return np.load(path)
    data = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(partial, data)
    os.replace(partial, path)
    return data


def cache_key(kind: str, seed: int, split: str, index: int) -> str:
    extra = SOUNDFONTS[split].name if kind == "music" else ""
    text = f"v{GENERATOR_VERSION}|{kind}|{seed}|{split}|{index}|{extra}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _cached(kind: str, seed: int, split: str, index: int, directory: Path | None) -> np.ndarray:
    from scipy.io import wavfile

    folder = cache_dir() if directory is None else Path(directory)
    path = folder / f"{cache_key(kind, seed, split, index)}.wav"
    if path.is_file():
        return _read_wav(path)[0]
    audio = render_piece(seed, split, index)[0] if kind == "music" else render_talker(seed, split, index)[0]
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")  # rename is atomic: a killed build never leaves half a file
    wavfile.write(partial, RATE, audio)
    os.replace(partial, path)
    return audio


def rendered_music(
    split: str, seed: int = 0, count: int | None = None, directory: Path | None = None
) -> list[tuple[str, np.ndarray]]:
    """The rendered music of ``split`` (train and val; nothing for test), rendered once and then read from cache."""
    return _rendered("music", MUSIC_COUNTS, split, seed, count, directory)


def rendered_speech(
    split: str, seed: int = 0, count: int | None = None, directory: Path | None = None
) -> list[tuple[str, np.ndarray]]:
    """The synthetic talkers of ``split`` (train only), rendered once and then read from cache."""
    return _rendered("speech", SPEECH_COUNTS, split, seed, count, directory)


def _rendered(
    kind: str, counts: dict[str, int], split: str, seed: int, count: int | None, directory: Path | None
) -> list[tuple[str, np.ndarray]]:
    if split not in counts:
        return []
    count = counts[split] if count is None else count
    names = (f"{RENDERED_PREFIX}{kind}/{split}/{i:02d}" for i in range(count))
    return [(name, _cached(kind, seed, split, i, directory)) for i, name in enumerate(names)]

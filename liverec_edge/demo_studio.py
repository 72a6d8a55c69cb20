"""The demo studio's media: a presenter's voice track whose faults line up with what the scene camera shows.

The scene camera (``capture/scene.py``) animates a still portrait on a 24 s script: seated, leaning in to the mic
(6–10 s), seated, out of the frame (14–18 s), back. The voice track is built to match, from assets a fresh machine
has after set-up — Debian's espeak-ng for the voice, generated signals for the faults — and never from
``../shared`` (the demo must run anywhere the README's command runs):

- while the presenter leans in, the voice carries plosive pops (a low-frequency pressure pulse on word onsets),
  which is what a close mic does and what the pre-emptive ``plosive`` strategy anticipates;
- while the presenter is away, the mic hears only the room;
- from 20 s to 29 s a 50 Hz ground-loop hum with harmonics comes and goes: the camera cannot see it, so only the
  audio path (level gate → fault model) can catch it;
- at 45 s a cough-like burst.

The timeline is returned with the audio so the demo can say what it expected and what the daemon found.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverec_edge.media import decode_audio, write_wav

SENTENCES = (
    "Good evening, and welcome back to the stream.",
    "Tonight we put a camera-aware sound engineer on a small desk.",
    "Please keep your hands away from the microphone while you talk.",
    "Pop filters help, but people still lean in when they get excited.",
    "A ground loop can hum for an hour before anybody notices it.",
    "The best mix is the one nobody has to think about.",
    "Let us look at the questions from the chat.",
    "Keyboards, coughs and music from the next room all find their way in.",
)


@dataclass(frozen=True)
class DemoEvent:
    """Something the demo put into the studio on purpose, in seconds of media time."""

    what: str
    start: float
    end: float


def _espeak(text: str, rate: int, workdir: Path, index: int) -> np.ndarray:
    path = workdir / f"sentence-{index}.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "155", "-w", str(path), text], check=True,
                   capture_output=True, timeout=60)
    samples, _ = decode_audio(path, rate)
    return samples


def _voice(rate: int, seconds: float, workdir: Path) -> np.ndarray:
    """Sentences one after another with natural pauses, until ``seconds`` are filled."""
    rng = np.random.default_rng(7)
    track = np.zeros(int(seconds * rate), np.float32)
    sentences = [_espeak(text, rate, workdir, i) for i, text in enumerate(SENTENCES)]
    pos = int(0.5 * rate)
    i = 0
    while pos < track.size:
        sentence = sentences[i % len(sentences)]
        n = min(sentence.size, track.size - pos)
        track[pos:pos + n] = 0.5 * sentence[:n] / max(1e-6, float(np.max(np.abs(sentence))))
        pos += n + int(rng.uniform(0.35, 0.8) * rate)
        i += 1
    return track


def _plosive(rate: int) -> np.ndarray:
    """A close-mic 'p': a ~25 ms low-frequency pressure pulse, the thump a pop filter exists for."""
    t = np.arange(int(0.09 * rate)) / rate
    return (0.8 * np.sin(2 * np.pi * 35 * t) * np.exp(-t / 0.025)).astype(np.float32)


def _hum(rate: int, n: int, mains_hz: float = 50.0) -> np.ndarray:
    t = np.arange(n) / rate
    wander = 0.05 * np.sin(2 * np.pi * 0.2 * t)  # real mains frequency drifts a little
    phase = 2 * np.pi * np.cumsum(mains_hz + wander) / rate
    hum = np.sin(phase) + 0.5 * np.sin(2 * phase + 0.3) + 0.3 * np.sin(3 * phase + 1.1)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.3)
    return (0.03 * hum * fade).astype(np.float32)


def _cough(rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.35 * rate)
    t = np.arange(n) / rate
    noise = rng.standard_normal(n).astype(np.float32)
    envelope = np.exp(-t / 0.06) * (1 - np.exp(-t / 0.004))
    return (0.7 * noise * envelope).astype(np.float32)


def build_voice_track(out_dir: Path, seconds: float = 60.0, rate: int = 48_000,
                      cycle_s: float = 24.0) -> tuple[Path, list[DemoEvent]]:
    """Write the demo's voice track (16-bit WAV) to ``out_dir`` and return it with the timeline of faults."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed (Debian package espeak-ng): the demo's presenter has no voice")
    rng = np.random.default_rng(11)
    with tempfile.TemporaryDirectory() as scratch:
        track = _voice(rate, seconds, Path(scratch))
    events: list[DemoEvent] = []
    room = (0.0015 * rng.standard_normal(track.size)).astype(np.float32)
    for base in (float(b) for b in np.arange(0.0, seconds, cycle_s)):
        # Away from the desk (scene 14–18 s): nobody talks into the mic.
        if base + 14.2 < seconds:
            a0, a1 = int((base + 14.2) * rate), int((base + 18.2) * rate)
            track[a0:a1] = 0.0
            events.append(DemoEvent("absent (silence)", base + 14.2, min(base + 18.2, seconds)))
        # Leaning in (scene 6–10 s): plosives on word onsets.
        pops = 0
        for at in (float(a) for a in np.arange(base + 6.6, base + 9.8, 0.7)):
            i = int(at * rate)
            pop = _plosive(rate)
            if i + pop.size < track.size:
                track[i:i + pop.size] += pop
                pops += 1
        if pops:
            events.append(DemoEvent("plosive pops", base + 6.6, min(base + 9.8, seconds)))
    h0, h1 = 20.0, 29.0
    if h1 < seconds:
        i0, i1 = int(h0 * rate), int(h1 * rate)
        track[i0:i1] += _hum(rate, i1 - i0)
        events.append(DemoEvent("hum 50 Hz", h0, h1))
    if seconds > 45.5:
        cough = _cough(rate, rng)
        i = int(45.0 * rate)
        track[i:i + cough.size] += cough
        events.append(DemoEvent("cough", 45.0, 45.35))
    track = np.clip(track + room, -1.0, 1.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "presenter.wav"
    write_wav(path, track, rate)
    return path, sorted(events, key=lambda e: e.start)

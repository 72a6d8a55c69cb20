"""Physically motivated generators for the background faults, at 16 kHz.

Real material drives what it can (hum follows real mains phase; keyboard uses real key presses; music, speech and
clipping use real recordings). For what no licensed recording exists, the signals are synthesised from the physics
of the fault; each generator says how. Every function takes a ``numpy.random.Generator`` and returns float32.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, sosfilt

from .sources import MAINS_RATE, RATE, MainsTrack


def db(x: float) -> float:
    return float(10.0 ** (x / 20.0))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def frame_energies(x: np.ndarray, frame: int = 400) -> np.ndarray:
    """Mean square of each whole ``frame``-sample frame (25 ms at 16 kHz), sorted quietest first."""
    n = x.size // frame
    return np.sort((x[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1))


def active_rms(x: np.ndarray, frame: int = 400) -> float:
    """RMS over the loudest 50 % of 25 ms frames: the level of speech while it is speaking, not of its pauses."""
    energies = frame_energies(x, frame)
    if energies.size == 0:
        return rms(x)
    return float(np.sqrt(energies[energies.size // 2 :].mean() + 1e-20))


def bandpass_noise(rng: np.random.Generator, n: int, lo: float, hi: float, order: int = 4) -> np.ndarray:
    sos = butter(order, [lo, min(hi, RATE / 2 - 100)], btype="bandpass", fs=RATE, output="sos")
    return sosfilt(sos, rng.standard_normal(n)).astype(np.float32)


def lowpass(x: np.ndarray, cutoff: float, order: int = 4) -> np.ndarray:
    sos = butter(order, cutoff, btype="lowpass", fs=RATE, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def bandlimit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """2nd-order high-pass at ``lo`` and 4th-order low-pass at ``hi`` (a band-limited channel)."""
    sos = np.vstack([butter(2, lo, btype="highpass", fs=RATE, output="sos"),
                     butter(4, min(hi, RATE / 2 - 100), btype="lowpass", fs=RATE, output="sos")])
    return sosfilt(sos, x).astype(np.float32)


def peaking_eq(x: np.ndarray, freq: float, gain_db: float, q: float) -> np.ndarray:
    """RBJ-cookbook peaking filter: a broad boost/cut like a different voice, microphone or room position."""
    amp = 10.0 ** (gain_db / 40.0)
    w0 = 2 * np.pi * freq / RATE
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * amp, -2 * np.cos(w0), 1 - alpha * amp])
    a = np.array([1 + alpha / amp, -2 * np.cos(w0), 1 - alpha / amp])
    return lfilter(b / a[0], a / a[0], x).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n: int, slope_db_per_octave: float) -> np.ndarray:
    """Gaussian noise with a power-law spectrum (0 = white, −3 = pink, −6 = brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / RATE)
    freqs[0] = freqs[1]
    spectrum *= (freqs / 1000.0) ** (slope_db_per_octave / (20.0 * np.log10(2.0)))
    out = np.fft.irfft(spectrum, n)
    return (out / rms(out)).astype(np.float32)


def synthetic_rir(rng: np.random.Generator, rt60: float, length_s: float, direct_delay_s: float = 0.0) -> np.ndarray:
    """A room impulse response: direct path, then exponentially decaying noise (decay set by ``rt60``)."""
    n = max(16, int(length_s * RATE))
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)
    start = int(direct_delay_s * RATE)
    rir = np.zeros(n + start)
    rir[start:] = 0.3 * tail
    rir[start] += 1.0
    return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)


def reverberate(rng: np.random.Generator, x: np.ndarray, wet: float, max_rt60: float = 0.8) -> np.ndarray:
    """Add room reverberation (RT60 0.2 s to ``max_rt60``) with the given wet fraction; same length as ``x``."""
    rt60 = float(rng.uniform(0.2, max_rt60))
    rir = synthetic_rir(rng, rt60=rt60, length_s=min(1.0, max(0.4, rt60 / 2)))
    tail = fftconvolve(x, rir)[: x.size]
    out = (1.0 - wet) * x + wet * tail * (rms(x) / max(rms(tail), 1e-9))
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------- hum
def hum(rng: np.random.Generator, track: MainsTrack, n: int, mains_hz: float) -> tuple[np.ndarray, float]:
    """Mains hum driven by a real mains recording: its wandering fundamental phase, upsampled from 400 Hz to 16 kHz,
    scaled to 50 or 60 Hz, with harmonics of random weight (odd-heavy buzz or smooth hum). Unit RMS.

    Returns the signal and its mean fundamental frequency (Hz).
    """
    span = n / RATE
    start = float(rng.uniform(0.0, max(0.0, track.seconds - span - 0.1)))
    t_mains = np.arange(track.phase.size) / MAINS_RATE
    t = start + np.arange(n) / RATE
    # the phase is smooth (50 Hz ± 0.05), so linear interpolation of it is an exact upsampling of the fundamental
    phase = np.interp(t, t_mains, track.phase) * (mains_hz / 50.0)
    fundamental = float((phase[-1] - phase[0]) / (2 * np.pi * (t[-1] - t[0])))
    n_harmonics = int(rng.integers(1, 13))
    buzz = rng.random() < 0.4  # rectifier/ground-loop buzz: odd harmonics and a slow roll-off
    rolloff = float(rng.uniform(0.0, 1.0) if buzz else rng.uniform(0.8, 2.5))
    out = np.zeros(n)
    for k in range(1, n_harmonics + 1):
        if k * mains_hz > 2000:
            break
        weight = rng.uniform(0.3, 1.0) * k ** (-rolloff)
        if buzz and k % 2 == 0:
            weight *= 0.2
        if k == 1 and rng.random() < 0.25:  # small speakers cannot reproduce 50 Hz: the 2nd/3rd dominate
            weight *= 0.1
        out += weight * np.cos(k * phase + rng.uniform(0, 2 * np.pi))
    return (out / rms(out)).astype(np.float32), fundamental


# --------------------------------------------------------------------------------------------------------- hiss
def hiss(rng: np.random.Generator, n: int) -> np.ndarray:
    """Broadband noise: preamp hiss (white to slightly pink) or fan noise (pinker, a rumble band, broad resonances,
    blade-rate amplitude modulation). Unit RMS."""
    if rng.random() < 0.5:
        out = coloured_noise(rng, n, float(rng.uniform(-2.0, 1.0)))
        if rng.random() < 0.5:
            out = out + 0.5 * bandpass_noise(rng, n, float(rng.uniform(3000, 5000)), 7800.0) / 0.3
    else:
        out = coloured_noise(rng, n, float(rng.uniform(-5.0, -1.5)))
        for _ in range(int(rng.integers(0, 3))):
            centre = float(rng.uniform(150, 2500))
            out = out + float(rng.uniform(0.2, 0.8)) * bandpass_noise(rng, n, centre / 1.3, centre * 1.3, 2)
        t = np.arange(n) / RATE
        blade = float(rng.uniform(8, 60))
        out = out * (1.0 + float(rng.uniform(0.0, 0.25)) * np.sin(2 * np.pi * blade * t))
    return (out / rms(out)).astype(np.float32)


def room_tone(rng: np.random.Generator, n: int) -> np.ndarray:
    """Quiet ambience of a treated room (pinkish noise, unit RMS); scaled far below speech it is 'clean'."""
    return coloured_noise(rng, n, float(rng.uniform(-6.0, -2.0)))


# ------------------------------------------------------------------------------------------------- mic handling
def mic_handling(rng: np.random.Generator, n: int, start: int, end: int) -> np.ndarray:
    """Handling noise between ``start`` and ``end``: thumps (a sharp pressure step exciting the capsule/stand
    resonance: damped low-frequency sinusoids, 20–150 Hz, 15–80 ms decay, with a short broadband click) and rustle
    (bursts of band-limited noise with an irregular envelope, fingers/cloth on the body). Peak 1."""
    out = np.zeros(n)
    span = max(1, end - start)
    n_thumps = int(rng.integers(1, 4))
    for _ in range(n_thumps):
        at = start + int(rng.uniform(0, 0.7) * span)
        length = min(n - at, int(0.3 * RATE))
        if length <= 16:
            continue
        t = np.arange(length) / RATE
        thump = np.zeros(length)
        for _ in range(int(rng.integers(1, 3))):
            f = rng.uniform(20, 150)
            thump += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * f * t) * np.exp(-t / rng.uniform(0.015, 0.08))
        click_len = min(length, int(rng.uniform(0.001, 0.004) * RATE))
        thump[:click_len] += rng.uniform(0.1, 0.5) * rng.standard_normal(click_len)
        out[at : at + length] += rng.uniform(0.5, 1.0) * thump * rng.choice([-1.0, 1.0])
    if rng.random() < 0.7:
        for _ in range(int(rng.integers(1, 3))):
            at = start + int(rng.uniform(0, 0.6) * span)
            length = min(n - at, int(rng.uniform(0.1, 0.5) * RATE))
            if length <= 64:
                continue
            lo = rng.uniform(200, 2000)
            burst = bandpass_noise(rng, length, lo, rng.uniform(lo * 2, 7500), 2)
            envelope = np.abs(lowpass(rng.standard_normal(length).astype(np.float32), rng.uniform(8, 30), 2))
            envelope *= np.hanning(length)
            burst = burst * envelope
            out[at : at + length] += rng.uniform(0.1, 0.4) * burst / max(1e-9, np.max(np.abs(burst)))
    if rng.random() < 0.5:  # low rumble of the stand/cable being moved
        rumble = lowpass(rng.standard_normal(span).astype(np.float32), float(rng.uniform(60, 200)))
        out[start:end] += rng.uniform(0.05, 0.3) * rumble * np.hanning(span) / max(1e-9, np.max(np.abs(rumble)))
    peak = np.max(np.abs(out))
    return (out / peak).astype(np.float32) if peak > 0 else out.astype(np.float32)


# ---------------------------------------------------------------------------------------------------- plosive
def plosive(rng: np.random.Generator, n: int, at: int) -> np.ndarray:
    """A plosive pop at sample ``at``: the air burst of a /p/ or /b/ hitting the capsule is a one-sided low-frequency
    pressure pulse (gamma-like, 3–15 ms rise) plus the diaphragm's damped ring, all below ~150 Hz. Peak 1."""
    length = min(n - at, int(0.2 * RATE))
    out = np.zeros(n)
    if length <= 8:
        return out.astype(np.float32)
    t = np.arange(length) / RATE
    tau = rng.uniform(0.003, 0.015)
    pulse = (t / tau) * np.exp(1.0 - t / tau)
    ring = rng.uniform(0.0, 0.6) * np.sin(2 * np.pi * rng.uniform(30, 120) * t) * np.exp(-t / rng.uniform(0.02, 0.06))
    burst = lowpass((pulse + ring).astype(np.float32), float(rng.uniform(100, 150)), 4)
    out[at : at + length] = burst * rng.choice([-1.0, 1.0])
    return (out / max(1e-9, np.max(np.abs(out)))).astype(np.float32)


def speech_onsets(speech: np.ndarray, min_gap_s: float = 0.15) -> np.ndarray:
    """Samples where speech starts after a pause: 10 ms energy rising > 15 dB above the preceding 50 ms."""
    hop = RATE // 100
    n = speech.size // hop
    if n < 8:
        return np.zeros(0, dtype=int)
    level = 10 * np.log10((speech[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    loud = level > np.max(level) - 30
    onsets = []
    for i in range(5, n):
        if loud[i] and level[i] - np.mean(level[i - 5 : i]) > 15 and (not onsets or i * hop - onsets[-1] > min_gap_s):
            onsets.append(i * hop)
    return np.asarray(onsets, dtype=int)


# ------------------------------------------------------------------------------------------------------- cough
def cough(rng: np.random.Generator, n: int, at: int) -> np.ndarray:
    """A SYNTHETIC cough from ``at``: 1–3 explosive broadband bursts (3–10 ms attack, 40–120 ms body of noise
    through 2–3 random vocal-tract formants, partly voiced at 100–300 Hz) each followed by a short noisy tail.
    No licensed cough recording was available. Peak 1."""
    out = np.zeros(n)
    pos = at
    for _ in range(int(rng.integers(1, 4))):
        body = int(rng.uniform(0.04, 0.12) * RATE)
        tail = int(rng.uniform(0.08, 0.25) * RATE)
        length = min(n - pos, body + tail)
        if length <= 32:
            break
        noise = rng.standard_normal(length)
        shaped = np.zeros(length)
        for _ in range(int(rng.integers(2, 4))):
            centre = rng.uniform(400, 3500)
            shaped += rng.uniform(0.4, 1.0) * bandpass_noise(rng, length, centre / 1.25, centre * 1.25, 2)
        shaped += 0.3 * noise
        t = np.arange(length) / RATE
        f0 = rng.uniform(100, 300)
        shaped += rng.uniform(0.0, 0.6) * np.sign(np.sin(2 * np.pi * f0 * t)) * rng.uniform(0.2, 0.5)
        attack = max(1, min(length // 2, int(rng.uniform(0.003, 0.010) * RATE)))
        envelope = np.ones(length)
        envelope[:attack] = np.linspace(0, 1, attack)
        envelope[attack:] = np.exp(-(t[attack:] - t[attack]) / rng.uniform(0.03, 0.08))
        envelope = np.maximum(envelope, rng.uniform(0.05, 0.2) * np.exp(-t / rng.uniform(0.08, 0.2)) * (t > 0.02))
        burst = shaped * envelope
        out[pos : pos + length] += rng.uniform(0.6, 1.0) * burst / max(1e-9, np.max(np.abs(burst)))
        pos += length + int(rng.uniform(0.05, 0.25) * RATE)
        if pos >= n:
            break
    peak = np.max(np.abs(out))
    return (out / peak).astype(np.float32) if peak > 0 else out.astype(np.float32)


# ---------------------------------------------------------------------------------------------------- feedback
def feedback(rng: np.random.Generator, excitation: np.ndarray, onset: int) -> tuple[np.ndarray, float]:
    """Acoustic feedback from ``onset``: the excitation (talker + room) runs through a loop of speaker response
    (band-pass), a synthetic room impulse response and the desk gain set just past instability (max loop gain
    1.005–1.10), so the mode at the loop response's peak grows into a howl; the power amplifier's soft
    saturation bounds it. Returns the howl (closed-loop output minus the direct excitation), peak-normalised, and
    its measured frequency (Hz).
    """
    n = excitation.size
    out = np.zeros(n, np.float32)
    rir = synthetic_rir(rng, rt60=float(rng.uniform(0.15, 0.5)), length_s=float(rng.uniform(0.04, 0.09)),
                        direct_delay_s=float(rng.uniform(0.001, 0.008)))
    lo, hi = float(rng.uniform(150, 700)), float(rng.uniform(2500, 6000))
    speaker = butter(2, [lo, hi], btype="bandpass", fs=RATE, output="ba")
    loop = lfilter(*speaker, np.concatenate([rir, np.zeros(256, np.float32)]))
    loop = np.concatenate([[0.0], loop])  # at least one sample of delay: the loop is causal
    response = np.abs(np.fft.rfft(loop, 8192))
    freqs = np.fft.rfftfreq(8192, 1.0 / RATE)
    peak_bin = int(np.argmax(response))
    gain = float(rng.uniform(1.005, 1.10)) / response[peak_bin]
    denominator = np.concatenate([[1.0], -gain * loop[1:]])
    drive = np.zeros(n)
    drive[onset:] = excitation[onset:] + 1e-3 * rng.standard_normal(n - onset)
    closed = lfilter([1.0], denominator, drive)
    howl = closed - drive
    peak = np.max(np.abs(howl[onset:])) if onset < n else 0.0
    if peak <= 0 or not np.isfinite(peak):
        return out, float(freqs[peak_bin])
    howl = howl / peak
    knee = float(rng.uniform(0.3, 0.9))  # amplifier saturation: the last part of the growth is compressed
    howl = np.tanh(howl / knee) / np.tanh(1.0 / knee)
    out[:] = howl
    # The mode that wins is not always the loop's largest peak (excitation and neighbouring modes race): report the
    # frequency the howl actually has over its last 250 ms.
    tail = out[-min(n - onset, int(0.25 * RATE)) :]
    if tail.size >= 256:
        spectrum = np.abs(np.fft.rfft(tail * np.hanning(tail.size), 16384))
        return out, float(np.argmax(spectrum) * RATE / 16384)
    return out, float(freqs[peak_bin])


# ---------------------------------------------------------------------------------------------------- clipping
def clip(x: np.ndarray, rng: np.random.Generator, hard: bool) -> np.ndarray:
    """Overload at full scale (1.0): hard clipping (ADC) or a soft tanh-like knee (analogue preamp)."""
    if hard:
        return np.clip(x, -1.0, 1.0).astype(np.float32)
    drive = float(rng.uniform(1.0, 2.0))
    return (np.tanh(drive * x) / np.tanh(drive)).clip(-1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------- keyboard
def keyboard(rng: np.random.Generator, presses: list[tuple[str, np.ndarray]], n: int, start: int, end: int
             ) -> np.ndarray:
    """Typing or clicking between ``start`` and ``end`` built from real key presses: a burst of presses 60–300 ms
    apart (typing) or 1–3 isolated presses (mouse/key clicks), each with ±4 dB gain variation. Peak 1."""
    out = np.zeros(n)
    typing = rng.random() < 0.75
    pos = start + int(rng.uniform(0.0, 0.05) * RATE)
    count = 0
    while pos < end and (typing or count < int(rng.integers(1, 4))):
        _, press = presses[int(rng.integers(len(presses)))]
        length = min(n - pos, press.size)
        out[pos : pos + length] += db(float(rng.uniform(-4, 4))) * press[:length]
        count += 1
        gap = rng.uniform(0.06, 0.30) if typing else rng.uniform(0.15, 0.5)
        pos += int(gap * RATE)
    peak = np.max(np.abs(out))
    return (out / peak).astype(np.float32) if peak > 0 else out.astype(np.float32)

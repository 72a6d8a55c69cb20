"""Deterministic measurements of an audio window: levels, clipping, mains-hum frequency, feedback (howl) frequency,
and per-band energy curves for locating events.

These are physics, not learning: they give the strategy table numbers it can act on (where to put a notch, how
many trim steps) and let the analysis refuse a model verdict it cannot measure (a "hum" without a harmonic comb is
not notched).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EPS = 1e-12


def db(power_or_amplitude: np.ndarray | float, power: bool = False) -> np.ndarray:
    scale = 10.0 if power else 20.0
    return scale * np.log10(np.maximum(np.asarray(power_or_amplitude, dtype=np.float64), EPS))


# --- levels ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Levels:
    """Window levels in dBFS (full scale = 1.0): RMS, sample peak, loud-frame level and quiet-frame floor."""

    rms_dbfs: float
    peak_dbfs: float
    level_dbfs: float  # 95th percentile of 10 ms frame RMS: how loud the talker is
    floor_dbfs: float  # 10th percentile of 10 ms frame RMS: the noise floor between words


def measure_levels(samples: np.ndarray, rate: int) -> Levels:
    x = np.asarray(samples, dtype=np.float32)
    if x.size == 0:
        return Levels(-240.0, -240.0, -240.0, -240.0)
    hop = max(1, rate // 100)
    n = x.size // hop
    squares = x * x
    mean_square = float(np.mean(squares, dtype=np.float64))
    if n >= 1:
        frame_db = db(np.sqrt(squares[: n * hop].reshape(n, hop).mean(axis=1, dtype=np.float64)))
        level, floor = (float(v) for v in np.percentile(frame_db, [95, 10]))
    else:
        level = floor = float(db(np.sqrt(mean_square)))
    return Levels(
        rms_dbfs=float(db(np.sqrt(mean_square))),
        peak_dbfs=float(db(float(np.max(np.abs(x))))),
        level_dbfs=level,
        floor_dbfs=floor,
    )


# --- clipping -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clipping:
    """Flat runs at full scale: ``runs`` (start, end) sample indices (end exclusive), and the reconstructed peak."""

    runs: list[tuple[int, int]]
    clipped_samples: int
    true_peak_dbfs: float

    @property
    def clipped(self) -> bool:
        return bool(self.runs)


UPSTREAM_CLIP_MIN_DBFS = -20.0  # plateaus below full scale are looked for down to this peak level
UPSTREAM_CLIP_MIN_RUN = 6


def find_clipping(samples: np.ndarray, clip_dbfs: float = -0.3, min_run: int = 3) -> Clipping:
    """Runs of at least ``min_run`` consecutive samples at or above ``clip_dbfs``, each run flat (one value); when
    nothing reaches ``clip_dbfs``, runs of ``UPSTREAM_CLIP_MIN_RUN`` flat samples at the window's own peak.

    Flatness is what separates a clipped converter or gain stage from a loud but intact peak or a brick-wall limiter
    (whose samples still move). The true peak is reconstructed by fitting a parabola to the intact samples either side
    of each plateau (capped at +12 dB over full scale), so the trim strategy can take enough steps at once.
    """
    x = np.asarray(samples, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    level = 10.0 ** (clip_dbfs / 20.0)
    if peak < level:
        # Clipped upstream, then turned down (a preamp overloaded before the fader): the plateaus sit at the
        # window's own peak. Below full scale, a slow waveform's quantised crest can repeat a sample three or four
        # times, so such a plateau must be longer to count.
        if peak < 10.0 ** (UPSTREAM_CLIP_MIN_DBFS / 20.0):
            return Clipping([], 0, float(db(peak)))
        level = peak * (1.0 - 1e-4)
        min_run = max(min_run, UPSTREAM_CLIP_MIN_RUN)
    if x.size < min_run:
        return Clipping([], 0, float(db(peak)))
    hot = np.abs(x) >= level
    # A sample continues a plateau when it equals its predecessor to within the 16-bit step.
    flat = np.zeros_like(hot)
    flat[1:] = hot[1:] & hot[:-1] & (np.abs(np.diff(x)) <= 4e-5)
    runs: list[tuple[int, int]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        run_start = start - 1  # the first sample of the plateau has no flat predecessor
        if end - run_start >= min_run:
            runs.append((int(run_start), int(end)))
    if not runs:
        return Clipping([], 0, float(db(peak)))
    # The longest plateaus hide the biggest overshoots: reconstruct those (bounded work on a badly clipped take).
    longest = sorted(runs, key=lambda r: r[1] - r[0], reverse=True)[:16]
    estimates = [_plateau_peak(x, s, e) for s, e in longest]
    true_peak = float(np.percentile(estimates, 90))
    return Clipping(runs, int(sum(e - s for s, e in runs)), float(db(true_peak)))


def _plateau_peak(x: np.ndarray, start: int, end: int, side: int = 4) -> float:
    plateau = abs(float(x[start]))
    sign = 1.0 if x[start] > 0 else -1.0
    left = np.arange(max(0, start - side), start)
    right = np.arange(end, min(x.size, end + side))
    idx = np.concatenate([left, right])
    if left.size < 2 or right.size < 2:
        return plateau
    values = sign * x[idx]
    try:
        a, b, _ = np.polyfit(idx - start, values, 2)
    except (np.linalg.LinAlgError, ValueError):
        return plateau
    if a >= 0:  # not a cap: cannot extrapolate
        return plateau
    vertex = float(np.polyval([a, b, _], -b / (2 * a)))
    return float(min(max(vertex, plateau), plateau * 4.0))


# --- spectra --------------------------------------------------------------------------------------------------------


def _spectrum_db(x: np.ndarray, rate: int, pad: int) -> tuple[np.ndarray, float]:
    """Blackman-windowed, zero-padded magnitude spectrum in dB and its bin spacing (Hz)."""
    from scipy.fft import next_fast_len, rfft

    n_fft = next_fast_len(max(x.size * pad, 256))
    window = np.blackman(x.size)
    spectrum = np.abs(rfft((x - np.mean(x)) * window, n=n_fft))
    return db(spectrum / (np.sum(window) / 2.0)), rate / n_fft


def _parabolic_peak(spec_db: np.ndarray, index: int) -> tuple[float, float]:
    """Sub-bin position and height of a spectral peak from the parabola through it and its neighbours."""
    if index <= 0 or index >= spec_db.size - 1:
        return float(index), float(spec_db[index])
    a, b, c = spec_db[index - 1], spec_db[index], spec_db[index + 1]
    denom = a - 2 * b + c
    if denom >= 0:
        return float(index), float(b)
    offset = 0.5 * (a - c) / denom
    return float(index + offset), float(b - 0.25 * (a - c) * offset)


def _climb(spec_db: np.ndarray, index: int) -> int:
    """The local maximum reached by climbing from ``index``."""
    while 0 < index < spec_db.size - 1:
        if spec_db[index + 1] > spec_db[index]:
            index += 1
        elif spec_db[index - 1] > spec_db[index]:
            index -= 1
        else:
            break
    return index


def _local_floor(spec_db: np.ndarray, width_bins: int) -> np.ndarray:
    """Median of the spectrum over a sliding band: what a peak must stand out of."""
    from scipy.ndimage import median_filter

    return median_filter(spec_db, size=max(3, width_bins | 1), mode="nearest")


# --- mains hum ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hum:
    """A mains harmonic comb: fundamental (Hz), harmonics found (numbers), their prominence (dB) and level (dBFS)."""

    freq: float
    harmonics: tuple[int, ...]
    prominence_db: float
    level_dbfs: float


MAINS_TOLERANCE_HZ = 0.8
HUM_MEMBER_DB = 6.0  # a harmonic counts as a comb member this far above the local median
HUM_COMB_DB = 20.0  # summed prominence a comb of two or more members needs
HUM_RATE = 4000  # hum lives below 1 kHz: analyse a 4 kHz copy, 12× cheaper than 48 kHz and as precise
HOWL_MAX_FADE_DB = 1.5  # a howl holds or grows from one sixth of a second to the next; a struck note fades


def measure_hum(
    samples_16k: np.ndarray, mains_hz: float | None = None, max_harmonic: int = 8, min_prominence_db: float = 10.0
) -> Hum | None:
    """Find a mains hum comb and measure its fundamental.

    The fundamental is searched within ±0.8 Hz of 50 and 60 Hz (or of ``mains_hz``) by scoring a harmonic comb
    on a zero-padded Blackman spectrum (peaks must stand ``min_prominence_db`` above the local median). Each harmonic
    that stands out is then located by parabolic interpolation and the fundamental is their average of ``f_k / k``,
    weighted by ``k`` and prominence: higher harmonics pin the fundamental down ``k`` times more finely, the
    prominence keeps speech-masked harmonics from pulling it. Returns None when no comb stands out.
    """
    from scipy.signal import resample_poly

    x = resample_poly(np.asarray(samples_16k, dtype=np.float64), 1, 16000 // HUM_RATE)
    if x.size < HUM_RATE // 4:  # under 250 ms: too short to resolve 50 from 60 Hz and their wander
        return None
    spec, bin_hz = _spectrum_db(x, HUM_RATE, pad=16)
    top = (mains_hz or 63.0) + 3.0
    spec = spec[: int((top * max_harmonic + 20.0) / bin_hz)]  # only the comb's range is needed
    floor = _local_floor(spec, round(12.0 / bin_hz))
    prominence = spec - floor
    # Grids hold their frequency within a few tenths of a hertz; ±0.8 Hz keeps bass notes out (G1 is 49.0 Hz,
    # B♭1 58.3 Hz, B1 61.7 Hz) while leaving room for a generator-fed studio.
    centres = (mains_hz,) if mains_hz is not None else (50.0, 60.0)
    grid = np.concatenate([np.arange(c - MAINS_TOLERANCE_HZ, c + MAINS_TOLERANCE_HZ + 1e-9, 0.02) for c in centres])
    ks = np.arange(1, max_harmonic + 1)
    # Coarse fundamental from the first four harmonics, the lower ones trusted more: above ~150 Hz speech partials
    # are everywhere and would drag a full comb onto themselves.
    low = np.arange(1, 5)
    positions = grid[:, None] * low[None, :] / bin_hz
    comb = np.interp(positions, np.arange(prominence.size), prominence)
    comb_score = np.clip(comb, 0.0, 60.0) @ np.array([1.0, 0.8, 0.6, 0.4])
    f0_coarse = float(grid[int(np.argmax(comb_score))])
    # The comb score is flat across a strong comb's main lobes: re-centre on the most prominent of the first four.
    tops = [_climb(spec, round(f0_coarse * k / bin_hz)) for k in low]
    best = int(np.argmax([prominence[i] for i in tops]))
    if abs(tops[best] * bin_hz / (best + 1) - f0_coarse) <= MAINS_TOLERANCE_HZ:
        f0_coarse = _parabolic_peak(spec, tops[best])[0] * bin_hz / (best + 1)

    estimates: list[tuple[float, float]] = []
    found: list[int] = []
    proms: list[float] = []
    level_power = 0.0
    for k in ks:
        centre = f0_coarse * k / bin_hz
        if centre < 2 or centre >= spec.size - 2:
            continue
        index = _climb(spec, round(centre))
        # Mains wander within one window is hundredths of a hertz: the peak climbed to must be the harmonic's own,
        # within the coarse grid's error times k, not a neighbouring speech partial.
        if abs(index - centre) * bin_hz > 0.15 * k + 0.3:
            continue
        if prominence[index] < HUM_MEMBER_DB:
            continue
        position, height = _parabolic_peak(spec, index)
        # Weight: k (a harmonic pins the fundamental k times more finely, capped: the upper ones are the most
        # speech-masked) × how far it stands out (dB).
        estimates.append((position * bin_hz / k, min(int(k), 4) * float(prominence[index])))
        found.append(int(k))
        proms.append(float(prominence[index]))
        level_power += 10.0 ** (height / 10.0)
    # Mains hum always shows among its first three harmonics (the fundamental, the rectifier's 2nd, the
    # transformer's 3rd); a comb of upper partials alone is music.
    if not any(k <= 3 for k in found):
        return None
    # The evidence is the comb as a whole: members that each stand only a little out of loud speech add up; one
    # lonely peak must be a clear fundamental (speech has next to nothing at 50/60 Hz, a bass note is rarely there).
    evidence = float(np.sum(np.clip(proms, 0.0, 30.0)))
    lone_fundamental = found == [1] and proms[0] >= 1.8 * min_prominence_db
    if not lone_fundamental and (len(found) < 2 or evidence < HUM_COMB_DB or max(proms) < min_prominence_db):
        return None
    freqs = np.array([e[0] for e in estimates])
    weights = np.array([e[1] for e in estimates])
    # The consensus: the largest-weight set of members whose f_k / k agree within 0.1 Hz. A speech partial sitting
    # on a harmonic pulls that member away from the others and falls out of the set.
    agree = np.abs(freqs[:, None] - freqs[None, :]) <= 0.1
    keep = agree[int(np.argmax(agree.astype(np.float64) @ weights))]
    f0 = float(np.sum(freqs[keep] * weights[keep]) / np.sum(weights[keep]))
    best_prom = max(proms)
    if min(abs(f0 - c) for c in centres) > MAINS_TOLERANCE_HZ:  # the comb slid onto a musical note
        return None
    return Hum(f0, tuple(found), best_prom, float(10.0 * math.log10(max(level_power, EPS))))


# --- feedback -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Howl:
    """The dominant stationary narrow peak: frequency (Hz), prominence over its neighbourhood (dB), level (dBFS)."""

    freq: float
    prominence_db: float
    level_dbfs: float


def measure_howl(
    samples: np.ndarray, rate: int, fmin: float = 150.0, fmax: float = 12000.0, min_prominence_db: float = 20.0,
    mains_hz: float | None = None,
) -> Howl | None:
    """The acoustic-feedback peak: the loudest narrow peak of the (native-rate) spectrum that holds its pitch.

    A howl is a near-pure tone that holds its pitch, so it stands tens of dB above the spectrum around it, and it is
    there in every part of the span; a sung or held vowel's partial glides and fades, and a peak on a mains harmonic
    (of ``mains_hz``, the measured hum, when given) is hum, not a loop. Candidates are checked in the last two of
    three consecutive thirds of the span (each must show a peak within 2 Hz standing ``min_prominence_db / 2``
    out; the first third is left out because a howl grows) and must not fade from one to the next (a struck or
    plucked note decays, a loop does not). A peak with a strong octave partner is a note. The frequency comes from
    parabolic interpolation on a zero-padded Blackman spectrum of the whole span (well under 1 Hz on a steady tone).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size < rate // 5:  # under 200 ms: thirds too short to tell a howl from a vowel
        return None
    spec, bin_hz = _spectrum_db(x, rate, pad=4)
    floor = _local_floor(spec, round(max(60.0, 8.0 * rate / x.size) / bin_hz))
    prominence = spec - floor
    lo = max(1, int(fmin / bin_hz))
    hi = min(spec.size - 2, int(min(fmax, 0.45 * rate) / bin_hz))
    if hi <= lo:
        return None
    narrow = lo + np.flatnonzero(prominence[lo:hi] >= min_prominence_db)
    if narrow.size == 0:
        return None
    thirds = [x[i * (x.size // 3): (i + 1) * (x.size // 3)] for i in range(1, 3)]
    third_spectra = [_spectrum_db(part, rate, pad=4) for part in thirds]
    third_floors = [_local_floor(sp, round(max(60.0, 8.0 * rate / part.size) / bh))
                    for (sp, bh), part in zip(third_spectra, thirds, strict=True)]
    mains = (mains_hz, 50.0, 60.0) if mains_hz else (50.0, 60.0)
    # Loudest first: the howl is the loudest narrow peak (its distortion products stand out too, but lower).
    for index in narrow[np.argsort(spec[narrow])[::-1]][:8]:
        index = int(index) - 2 + int(np.argmax(spec[int(index) - 2: int(index) + 3]))  # the top of that peak
        position, height = _parabolic_peak(spec, index)
        freq = position * bin_hz
        if any(round(freq / m) <= 12 and abs(freq - round(freq / m) * m) < 0.6 * max(1.0, round(freq / m) / 4)
               for m in mains):
            continue  # a mains harmonic (of the measured hum when there is one): hum, not a loop
        steady = True
        levels = []
        # The newest two thirds: a howl grows, so its first third may still be under the talker.
        for (sp, bh), fl in zip(third_spectra, third_floors, strict=True):
            near = slice(max(0, int((freq - 2.0) / bh)), int((freq + 2.0) / bh) + 2)
            levels.append(float(np.max(sp[near])))
            if float(np.max(sp[near] - fl[near])) < min_prominence_db / 2:
                steady = False
                break
        if steady and levels[1] < levels[0] - HOWL_MAX_FADE_DB:
            steady = False  # fading: a note dying away
        if steady and not _has_octave_partner(spec, prominence, bin_hz, freq, height):
            return Howl(freq, float(prominence[index]), height)
    return None


def _has_octave_partner(spec: np.ndarray, prominence: np.ndarray, bin_hz: float, freq: float, height: float) -> bool:
    """Whether a peak an octave above or below stands within 15 dB of the candidate: a played or sung note (a
    harmonic series), not a loop, which rings on one frequency (its distortion products are odd and far lower)."""
    for partner in (2.0 * freq, 0.5 * freq):
        lo, hi = int(partner * 0.99 / bin_hz), int(partner * 1.01 / bin_hz) + 1
        if lo < 1 or hi >= spec.size:
            continue
        index = lo + int(np.argmax(spec[lo:hi]))
        if prominence[index] >= 10.0 and spec[index] >= height - 15.0:
            return True
    return False


# --- band energy curves from the log-mel frames ---------------------------------------------------------------------

#: Frequency bands (Hz) whose energy curves locate each kind of fault in time.
BANDS: dict[str, tuple[float, float]] = {
    "low": (0.0, 250.0),  # thumps, plosive pops, hum
    "mid": (250.0, 2500.0),
    "high": (2500.0, 8000.0),  # key clicks, hiss
    "all": (0.0, 8000.0),
}


def band_weights(mel_centres_hz: np.ndarray) -> dict[str, np.ndarray]:
    return {
        name: ((mel_centres_hz >= lo) & (mel_centres_hz < hi)).astype(np.float64) for name, (lo, hi) in BANDS.items()
    }


#: The log-mel holds un-normalised |rfft|² of Hann-windowed 25 ms frames: by Parseval a signal of mean power P
#: (full scale = 1) sums to (n_fft / 2) · win_length · mean(hann²) · P = 256 · 400 · 0.375 · P over the half
#: spectrum, and the peak-normalised mel triangles sum to about one across bins. Subtracting this gives dBFS.
LOGMEL_DBFS_OFFSET = 10.0 * math.log10(256 * 400 * 0.375)


def band_energy_db(logmel_frames: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-frame power (dBFS) in the mel bands selected by ``weights`` (the log-mel is natural-log power)."""
    if logmel_frames.shape[0] == 0:
        return np.zeros(0)
    power = np.exp(logmel_frames.astype(np.float64)) @ weights
    return db(power, power=True) - LOGMEL_DBFS_OFFSET

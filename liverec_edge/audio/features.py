"""Log-mel features of the analysis signal: one numpy (+ scipy.fft) implementation shared by training and the daemon.

The analysis signal is mono float32 at 16 kHz in [-1, 1] (full scale = 1.0). A frame is 25 ms (400 samples, periodic
Hann window, zero-padded to a 512-point FFT) every 10 ms (160 samples); frame ``i`` covers samples
``[i * 160, i * 160 + 400)`` of the stream, so there is no centre padding and a stream of ``n`` samples has
``1 + (n - 400) // 160`` complete frames. Each frame is the natural log of the power spectrum (``|rfft|^2``, not
normalised by the window) pooled by 64 triangular **HTK-mel** filters spanning 0–8 kHz (peak-normalised triangles,
weights evaluated at the FFT bin centres), floored at :data:`LOG_FLOOR` before the log.

The absolute level is kept on purpose (no per-window normalisation): clipping, hum and hiss are partly questions of
level. A 1 kHz full-scale sine gives about +8.9 in its band; digital silence gives ``ln(1e-10) ≈ -23.0``.

Two ways to compute the same frames:

* :func:`logmel` — a whole signal at once (training, offline ``analyze``);
* :class:`StreamingLogMel` — chunks of any size as audio arrives (the daemon): each frame is computed once and kept in
  a bounded history, so overlapping analysis windows reuse frames. It gives the same numbers as :func:`logmel` to
  float precision.

48 kHz capture reaches 16 kHz through :func:`resample_to_16k` (whole signals) or :class:`StreamingResampler`
(blocks as they arrive; the same filter, so the same samples).

Non-finite samples (NaN/inf from a broken driver) are replaced by 0 before any arithmetic, so one bad block gives
quiet frames instead of poisoning the history.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

ANALYSIS_RATE = 16_000
LOG_FLOOR = 1e-10


@dataclass(frozen=True)
class FeatureParams:
    """Parameters of the log-mel front end (stored in ``model.json`` so a model and its features never disagree)."""

    rate: int = ANALYSIS_RATE
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_fft: int = 512
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8000.0
    mel_scale: str = "htk"
    log_floor: float = LOG_FLOOR

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FeatureParams:
        """Parameters from ``model.json``; ``ValueError`` naming the key for an unknown key (features this code would
        not compute as trained), a value of the wrong type, or values that do not make a front end."""
        fields = cls.__dataclass_fields__
        unknown = sorted(k for k in data if k not in fields)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown feature parameter; known: {sorted(fields)}")
        defaults = cls()
        for name, given in data.items():
            default = getattr(defaults, name)
            if isinstance(default, str):
                ok = isinstance(given, str)
            elif isinstance(default, int):  # bool is an int: `true` must not pass as 1
                ok = isinstance(given, int) and not isinstance(given, bool)
            else:
                ok = isinstance(given, (int, float)) and not isinstance(given, bool) and math.isfinite(given)
            if not ok:
                wanted = "a finite number" if isinstance(default, float) else type(default).__name__
                raise ValueError(f"{name}: expected {wanted}, got {given!r}")
        params = cls(**data)
        params.validate()
        return params

    def validate(self) -> None:
        if self.rate <= 0 or self.n_mels < 1:
            raise ValueError(f"need rate > 0 and n_mels >= 1, got rate={self.rate} n_mels={self.n_mels}")
        if not self.log_floor > 0:  # the log of the floor: 0 gives -inf in every silent band
            raise ValueError(f"log_floor: must be > 0, got {self.log_floor}")
        if self.mel_scale != "htk":
            raise ValueError(f"unsupported mel scale {self.mel_scale!r} (only 'htk')")
        if not (0 < self.hop_length <= self.win_length <= self.n_fft):
            raise ValueError(f"need 0 < hop_length <= win_length <= n_fft, got {self}")
        if not (0 <= self.fmin < self.fmax <= self.rate / 2):
            raise ValueError(f"need 0 <= fmin < fmax <= rate/2, got fmin={self.fmin} fmax={self.fmax}")

    def n_frames(self, n_samples: int) -> int:
        """Complete frames in ``n_samples`` samples."""
        if n_samples < self.win_length:
            return 0
        return 1 + (n_samples - self.win_length) // self.hop_length

    def n_samples(self, n_frames: int) -> int:
        """Samples spanned by ``n_frames`` consecutive frames (a 100-frame window is 16 240 samples, 1.015 s)."""
        if n_frames <= 0:
            return 0
        return self.win_length + (n_frames - 1) * self.hop_length

    @property
    def window(self) -> np.ndarray:
        """Periodic Hann of ``win_length`` samples (the usual STFT analysis window)."""
        return _analysis_tables(self)[0]

    @property
    def mel_matrix(self) -> np.ndarray:
        """(n_fft // 2 + 1, n_mels) float32 filter bank."""
        return _analysis_tables(self)[1]


@lru_cache(maxsize=8)
def _analysis_tables(params: FeatureParams) -> tuple[np.ndarray, np.ndarray, object]:
    """Window, filter bank and its sparse transpose, built once per parameter set (immutable, read-only)."""
    from scipy.sparse import csr_matrix

    n = np.arange(params.win_length)
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / params.win_length)).astype(np.float32)
    bank = mel_filterbank(params.rate, params.n_fft, params.n_mels, params.fmin, params.fmax)
    window.flags.writeable = False
    bank.flags.writeable = False
    return window, bank, csr_matrix(bank.T)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel: 2595 · log10(1 + f / 700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular HTK-mel filters (peak 1) evaluated at the FFT bin centres, shape (n_fft // 2 + 1, n_mels).

    The lowest HTK bands are narrower than one FFT bin (31.25 Hz at 512 points), so a triangle can fall between two
    bins; such a band takes the nearest bin instead of staying empty, which keeps every output informative (the
    lowest bands are where mains hum and handling thumps live).
    """
    bin_hz = np.arange(n_fft // 2 + 1) * rate / n_fft
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    weights = np.zeros((bin_hz.size, n_mels), dtype=np.float64)
    for band in range(n_mels):
        lo, mid, hi = edges_hz[band], edges_hz[band + 1], edges_hz[band + 2]
        rising = (bin_hz - lo) / max(mid - lo, 1e-9)
        falling = (hi - bin_hz) / max(hi - mid, 1e-9)
        weights[:, band] = np.maximum(0.0, np.minimum(rising, falling))
        if not weights[:, band].any():
            weights[int(np.argmin(np.abs(bin_hz - mid))), band] = 1.0
    return weights.astype(np.float32)


def _sanitize(samples: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono 1-D samples, got shape {x.shape}")
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return x


def _rows(x: np.ndarray, width: int, step: int, count: int, start: int = 0) -> np.ndarray:
    """``count`` rows of ``width`` samples of the contiguous 1-D ``x``, row ``r`` starting at ``start + r*step``: a
    view, no copy. The same rows as ``sliding_window_view(x[start:], width)[::step][:count]`` at a thirtieth of its
    cost (its argument checks take ~35 µs, and every model window makes five such views)."""
    if count <= 0:
        return np.zeros((0, width), x.dtype)
    if start < 0 or start + (count - 1) * step + width > x.size:
        raise ValueError(f"{count} rows of {width} every {step} from {start} need more than {x.size} samples")
    item = x.itemsize
    return np.ndarray((count, width), x.dtype, x, start * item, (step * item, item))


def _frames_to_logmel(frames: np.ndarray, params: FeatureParams) -> np.ndarray:
    """(n, win_length) raw sample frames → (n, n_mels) float32 log-mel. The single arithmetic path for both APIs."""
    from scipy.fft import rfft  # float32 in → complex64 out: twice as fast as numpy's complex128 path

    window, _, bank_sparse_t = _analysis_tables(params)
    spectrum = rfft(frames * window, n=params.n_fft, axis=1)
    power = np.ascontiguousarray(spectrum.real**2 + spectrum.imag**2, dtype=np.float32)
    # Sparse pooling (≈500 non-zero weights): single-threaded and as fast as BLAS, which on a shared 2-core box
    # spins its threads against the other stages and was seen taking 40× longer.
    mel = np.asarray(bank_sparse_t @ power.T).T
    return np.log(np.maximum(mel, params.log_floor)).astype(np.float32)


def logmel(samples_16k: np.ndarray, params: FeatureParams | None = None) -> np.ndarray:
    """Log-mel frames of a whole mono 16 kHz signal: ``(n_frames, 64)`` float32 (zero rows if shorter than 25 ms)."""
    params = params or FeatureParams()
    x = _sanitize(samples_16k)
    n = params.n_frames(x.size)
    if n == 0:
        return np.zeros((0, params.n_mels), np.float32)
    return _frames_to_logmel(_rows(x, params.win_length, params.hop_length, n), params)


# -- mains lines -------------------------------------------------------------------------------------------------

#: Mains fundamentals and harmonics the line features look at: 50 and 60 Hz, harmonics 1–8 (up to 480 Hz).
MAINS_BASES_HZ: tuple[float, ...] = (50.0, 60.0)
MAINS_HARMONICS = 8
#: Names of the extra per-frame channels, in order (``model.json`` ``extra_features`` names this set).
MAINS_LINE_CHANNELS: tuple[str, ...] = tuple(
    f"line_{int(base)}x{k}" for base in MAINS_BASES_HZ for k in range(1, MAINS_HARMONICS + 1)
)
LINE_DECIMATION = 8  # 16 kHz → 2 kHz: the lines and their neighbours lie below 550 Hz
LINE_SPAN = 512  # 256 ms at 2 kHz: 4 Hz resolution, enough to separate a steady line from a moving voice
LINE_TAPS = 63
#: Line power below this share of a full-scale line counts as nothing (≈ −90 dBFS): contrast 0 in silence.
LINE_FLOOR = 1e-9
LINE_CLIP = (-5.0, 15.0)
#: The reference either side of a line: 3 bins of the 256 ms span away, outside a steady line's Hann main lobe
#: (±2 bins) but close enough that a voice's gliding harmonics, which smear over tens of Hz, read about the same.
LINE_NEIGHBOUR_HZ = 12.0


@lru_cache(maxsize=2)
def _line_tables(rate: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Decimation low-pass (Hann-windowed sinc, 800 Hz), the windowed DFT basis at every line and its two
    neighbours (cos and sin columns), and the power of a full-scale line through it."""
    n = np.arange(LINE_TAPS) - (LINE_TAPS - 1) / 2
    cutoff = 800.0 / rate
    taps = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hanning(LINE_TAPS)
    taps /= taps.sum()
    low_rate = rate / LINE_DECIMATION
    hann = np.hanning(LINE_SPAN + 2)[1:-1]
    t = np.arange(LINE_SPAN) / low_rate
    freqs = [k * base + offset for base in MAINS_BASES_HZ for k in range(1, MAINS_HARMONICS + 1)
             for offset in (-LINE_NEIGHBOUR_HZ, 0.0, LINE_NEIGHBOUR_HZ)]
    phase = 2 * np.pi * np.outer(t, freqs)
    basis = np.concatenate([np.cos(phase), np.sin(phase)], axis=1) * hann[:, None]
    full_scale = float((hann.sum() / 2) ** 2)
    taps, basis = taps.astype(np.float32), basis.astype(np.float32)
    for table in (taps, basis):  # cached and shared by every call
        table.flags.writeable = False
    return taps, basis, full_scale


@lru_cache(maxsize=2)
def _polyphase_taps(rate: int) -> np.ndarray:
    """The decimation filter, time-reversed and split into rows of ``LINE_DECIMATION`` taps (zero-padded):
    ``phases[b, p]`` weighs input sample ``p`` of the ``b``-th block of a causal output's span."""
    taps = _line_tables(rate)[0]
    n_phases = -(-LINE_TAPS // LINE_DECIMATION)
    phases = np.zeros(n_phases * LINE_DECIMATION, np.float32)
    phases[:LINE_TAPS] = taps[::-1]
    phases = phases.reshape(n_phases, LINE_DECIMATION)
    phases.flags.writeable = False
    return phases


def mains_lines(samples_16k: np.ndarray, n_frames: int, params: FeatureParams | None = None) -> np.ndarray:
    """How far each 50/60 Hz harmonic stands out of the spectrum, per log-mel frame: ``(n_frames, 16)`` float32.

    The 25 ms mel frames (31 Hz bins) cannot tell a 50 Hz line from the low end of a voice; a 256 ms span can. For
    frame ``i`` (samples ``[i*hop, i*hop + win)`` of ``samples_16k``) the signal is decimated to 2 kHz and the 256 ms
    ending with the frame is Hann-windowed; channel ``(base, k)`` is the natural log of the power at ``k·base`` over
    the mean power ``LINE_NEIGHBOUR_HZ`` either side, clipped to [-5, 15]. A steady line alone gives up to ~+9 (the
    floor limits quiet ones), a voice whose harmonics glide ~0, and hum under a voice something in between. The
    features are local to ``samples_16k``: before its first sample the span reads zeros (training windows and the
    analysis's model windows are both cut this way).
    """
    params = params or FeatureParams()
    x = _sanitize(samples_16k)
    need = params.n_samples(n_frames)
    if x.size < need:
        raise ValueError(f"{n_frames} frames need {need} samples, got {x.size}")
    if params.hop_length % LINE_DECIMATION or params.win_length % LINE_DECIMATION:
        raise ValueError("hop and window must be multiples of the line decimation")
    _, basis, full_scale = _line_tables(params.rate)
    phases = _polyphase_taps(params.rate)
    step = params.hop_length // LINE_DECIMATION
    end0 = params.win_length // LINE_DECIMATION  # decimated samples up to the end of frame 0
    # Causal FIR, one output every D = LINE_DECIMATION input samples: y[j] = sum_i taps[TAPS-1-i] * p[j*D + i] with
    # p = x after TAPS-1 zeros. In blocks of D samples, B[q] = p[q*D : q*D + D], that is
    # y[j] = sum_b B[j+b] . phases[b], so one small product C = B @ phases.T and the sum of C's shifted diagonals
    # give it: 2 numpy calls instead of a strided (n_low × 63) product, same values to float32 rounding.
    n_low = (need + LINE_DECIMATION - 1) // LINE_DECIMATION
    n_phases = phases.shape[0]
    padded = np.zeros((n_low + n_phases) * LINE_DECIMATION, np.float32)
    padded[LINE_TAPS - 1 : LINE_TAPS - 1 + need] = x[:need]
    # the last block holds only samples no output reaches
    per_phase = padded[: (n_low + n_phases - 1) * LINE_DECIMATION].reshape(-1, LINE_DECIMATION) @ phases.T
    item = per_phase.itemsize
    diagonals = np.ndarray((n_low, n_phases), np.float32, per_phase, 0,
                           (per_phase.strides[0], per_phase.strides[0] + item))
    lead = max(0, LINE_SPAN - end0)
    low = np.zeros(lead + n_low, np.float32)
    np.sum(diagonals, axis=1, out=low[lead:])
    spectrum = _rows(low, LINE_SPAN, step, n_frames) @ basis
    half = basis.shape[1] // 2
    power = spectrum[:, :half] ** 2 + spectrum[:, half:] ** 2  # (n_frames, lines × (below, at, above))
    power = power.reshape(n_frames, len(MAINS_BASES_HZ) * MAINS_HARMONICS, 3)
    floor = LINE_FLOOR * full_scale
    beside = 0.5 * (power[:, :, 0] + power[:, :, 2])
    contrast = np.log((power[:, :, 1] + floor) / (beside + floor))
    return np.clip(contrast.reshape(n_frames, -1), *LINE_CLIP).astype(np.float32)


# -- clipping shape --------------------------------------------------------------------------------------------

#: Per-frame channels of :func:`clip_shape`.
CLIP_SHAPE_CHANNELS: tuple[str, ...] = ("at_peak", "near_peak", "flat_pairs", "crest")
#: A window whose peak is below this (≈ −60 dBFS) has no overload shape to speak of: all channels read 0.
CLIP_MIN_PEAK = 1e-3


def clip_shape(samples_16k: np.ndarray, n_frames: int, params: FeatureParams | None = None) -> np.ndarray:
    """How much each frame looks overloaded, gain-independently: ``(n_frames, 4)`` float32.

    A clipped signal piles its samples up at one level, which a later trim moves but does not spread; the 25 ms
    mel frames see only the added harmonics, which music and buzz share. Per frame ``i`` (samples
    ``[i*hop, i*hop + win)``) and relative to the peak magnitude of the whole window: ``at_peak``, the square root
    of the share of samples within 0.1 % of it (hard clipping sits exactly there); ``near_peak``, the same within
    10 % (soft clipping flattens the top without a flat run); ``flat_pairs``, the square root of the share of
    the frame's samples that equal the next sample while above half the peak (a flat run); ``crest``, the frame's
    peak over its RMS in dB / 10 (a squashed waveform has a low crest). Ratios only, so a gain does not move them;
    a window quieter than :data:`CLIP_MIN_PEAK` reads all zeros.
    """
    params = params or FeatureParams()
    x = _sanitize(samples_16k)
    need = params.n_samples(n_frames)
    if x.size < need:
        raise ValueError(f"{n_frames} frames need {need} samples, got {x.size}")
    out = np.zeros((n_frames, len(CLIP_SHAPE_CHANNELS)), np.float32)
    x = x[:need]
    mag = np.abs(x)
    peak = float(mag.max(initial=0.0))
    if peak < CLIP_MIN_PEAK:
        return out
    # Statistics of blocks of gcd(hop, win) samples, summed over the blocks of each frame: every sample is looked
    # at once instead of win/hop times. A pair (n, n+1) belongs to the block of n.
    block = math.gcd(params.hop_length, params.win_length)
    blocks = mag.reshape(-1, block)
    flat = np.zeros(x.size, bool)
    flat[:-1] = (x[1:] == x[:-1]) & (mag[1:] > 0.5 * peak)
    summed = np.zeros((blocks.shape[0] + 1, 4))  # row q + 1: the sums of blocks 0..q
    np.sum(blocks >= peak * 0.999, axis=1, out=summed[1:, 0])
    np.sum(blocks >= peak * 0.9, axis=1, out=summed[1:, 1])
    np.sum(flat.reshape(-1, block), axis=1, out=summed[1:, 2])
    summed[1:, 3] = np.einsum("ij,ij->i", blocks, blocks)
    np.cumsum(summed, axis=0, out=summed)
    span, step = params.win_length // block, params.hop_length // block
    starts = np.arange(n_frames) * step
    per_frame = (summed[starts + span] - summed[starts]) / params.win_length
    out[:, :3] = np.sqrt(per_frame[:, :3])
    frame_peak = _rows(blocks.max(axis=1), span, step, n_frames).max(axis=1)
    rms = np.sqrt(per_frame[:, 3])
    audible = frame_peak > CLIP_MIN_PEAK * 1e-2
    out[audible, 3] = 2.0 * np.log10(frame_peak[audible] / np.maximum(rms[audible], 1e-12))
    return out


# -- held tonal peaks -------------------------------------------------------------------------------------------

TONAL_FFT = 1024  # 64 ms at 16 kHz: 15.6 Hz bins, fine enough to follow one partial of a note or of a howl
#: Band edges (Hz) of the held-peak channels. Below 150 Hz is mains and handling territory (the line channels).
TONAL_BANDS_HZ: tuple[float, ...] = (150.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
TONAL_STEP = 2  # a 64 ms spectrum every 20 ms: partials move slower than that, and it halves the cost
TONAL_HOLD_FRAMES = 20  # "held" looks back 200 ms
TONAL_HOLD_SHARE = 0.7
TONAL_MIN_PROMINENCE = 2.5  # natural-log power over the mean 3 bins either side (≈ 11 dB)
TONAL_GROWTH_FRAMES = 10
#: Per-frame channels of :func:`tonal_peaks`.
TONAL_CHANNELS: tuple[str, ...] = (
    *(f"held_{int(lo)}_{int(hi)}" for lo, hi in pairwise(TONAL_BANDS_HZ)),
    *(f"held_prominence_{int(lo)}_{int(hi)}" for lo, hi in pairwise(TONAL_BANDS_HZ)),
    "held_dominance",
    "held_growth",
)


@lru_cache(maxsize=2)
def _tonal_tables(rate: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Analysis window, the first bin of each band and the end of the last, and the power of a full-scale tone."""
    window = np.hanning(TONAL_FFT + 2)[1:-1].astype(np.float32)
    edges = np.round(np.asarray(TONAL_BANDS_HZ) * TONAL_FFT / rate).astype(np.intp)
    edges[-1] = min(edges[-1], TONAL_FFT // 2 - 3)  # keep 3 bins above the last band for its prominence
    full_scale = float((window.sum() / 2) ** 2)
    for table in (window, edges):
        table.flags.writeable = False
    return window, edges, full_scale


def tonal_peaks(samples_16k: np.ndarray, n_frames: int, params: FeatureParams | None = None) -> np.ndarray:
    """Partials held at one frequency, per log-mel frame: ``(n_frames, 12)`` float32.

    A howl is one partial that stays put and grows; music holds several partials for a note's length; a voice's
    harmonics glide with its pitch, and noise has none. The 31 Hz mel bins cannot follow a partial; a 64 ms
    spectrum (15.6 Hz bins) of the samples ending with a frame can. It is taken every :data:`TONAL_STEP` frames
    (counted back from the window's last frame, which is always fresh) and repeated between. A bin is a peak when
    it tops both neighbours and stands :data:`TONAL_MIN_PROMINENCE` above the mean of the bins 3 away; it is
    **held** when a peak sat within one bin of it in :data:`TONAL_HOLD_SHARE` of the spectra of the last
    :data:`TONAL_HOLD_FRAMES` frames (a talker's harmonics crossing a note interrupt it without ending it). Per
    band of :data:`TONAL_BANDS_HZ`: ``held_*``, log(1 + held peaks); ``held_prominence_*``, the largest held peak's
    prominence / 5. Then ``held_dominance``: the strongest held peak's share of the frame's power above 150 Hz
    (log, +8, clipped to [0, 8], / 8: a howl that drowns the talker reads near 1), and ``held_growth``: how much
    that bin grew over the last 100 ms (log power / 5, clipped to ±1). Ratios only, so a gain does not move them.
    Window-local like :func:`mains_lines`: before the first sample the spectrum reads zeros.
    """
    from scipy.fft import rfft

    params = params or FeatureParams()
    x = _sanitize(samples_16k)
    need = params.n_samples(n_frames)
    if x.size < need:
        raise ValueError(f"{n_frames} frames need {need} samples, got {x.size}")
    window, edges, full_scale = _tonal_tables(params.rate)
    lead = max(0, TONAL_FFT - params.win_length)
    padded = np.concatenate([np.zeros(lead, np.float32), x[:need]])
    first = (n_frames - 1) % TONAL_STEP
    n = len(range(first, n_frames, TONAL_STEP))
    # the frames of every TONAL_STEP-th log-mel frame from `first`: a strided view, no copy
    frames = _rows(padded, TONAL_FFT, TONAL_STEP * params.hop_length, n, start=first * params.hop_length)
    spectrum = rfft(frames * window, axis=1)
    # bins edges[0]-3 .. edges[-1]+3: the banded bins and the neighbours their prominence needs. In-place arithmetic
    # below: the same values as the plain expressions, with fewer temporaries (this runs for every model window).
    lo, hi = int(edges[0]) - 3, int(edges[-1]) + 3
    band = spectrum[:, lo:hi]
    power = band.real**2
    power += band.imag**2
    level = np.log(power + np.float32(LINE_FLOOR * full_scale))
    inner = level[:, 3:-3]  # the banded bins
    prominence = level[:, :-6] + level[:, 6:]
    prominence *= -0.5
    prominence += inner  # inner - 0.5 * (left + right)
    is_peak = inner >= level[:, 2:-4]
    is_peak &= inner >= level[:, 4:-2]
    is_peak &= prominence >= TONAL_MIN_PROMINENCE
    near = is_peak.copy()
    near[:, 1:] |= is_peak[:, :-1]
    near[:, :-1] |= is_peak[:, 1:]
    # spectra with a peak near each bin among the last hold span (spectra before the window count as none)
    span = TONAL_HOLD_FRAMES // TONAL_STEP
    # shifted sums, not a cumulative sum: numpy accumulates along axis 0 element by element (2.5× slower here)
    near_count = near.view(np.uint8)
    counts = near_count.copy()
    for lag in range(1, min(span, n)):
        counts[lag:] += near_count[:-lag]
    held = counts >= TONAL_HOLD_SHARE * span
    held &= is_peak
    n_bands = len(TONAL_BANDS_HZ) - 1
    out = np.zeros((n, len(TONAL_CHANNELS)), np.float32)
    starts = edges[:-1] - edges[0]
    out[:, :n_bands] = np.log1p(np.add.reduceat(held, starts, axis=1, dtype=np.float32))
    held_prominence = np.where(held, prominence, np.float32(0.0))
    out[:, n_bands : 2 * n_bands] = np.maximum.reduceat(held_prominence, starts, axis=1) / 5.0
    rows = np.arange(n)
    held_level = np.where(held, inner, -np.inf)
    strongest = np.argmax(held_level, axis=1)
    any_held = np.isfinite(held_level[rows, strongest])
    banded = power[:, 3:-3]
    total = banded.sum(axis=1) + LINE_FLOOR * full_scale
    dominance = np.log(banded[rows, strongest] / total + 1e-12) + 8.0
    out[:, 2 * n_bands] = np.where(any_held, np.clip(dominance, 0.0, 8.0) / 8.0, 0.0)
    back = TONAL_GROWTH_FRAMES // TONAL_STEP
    earlier = np.maximum(rows - back, 0)
    growth = (inner[rows, strongest] - inner[earlier, strongest]) / 5.0
    out[:, 2 * n_bands + 1] = np.where(any_held & (rows >= back), np.clip(growth, -1.0, 1.0), 0.0)
    return out[_spectrum_of_frame(n_frames)]


@lru_cache(maxsize=8)
def _spectrum_of_frame(n_frames: int) -> np.ndarray:
    """Which of :func:`tonal_peaks`' spectra stands for each frame: spectrum ``k`` is taken at frame
    ``first + k * TONAL_STEP`` and stands for it and the ``TONAL_STEP - 1`` frames before the next; frames before
    the first spectrum take the first."""
    first = (n_frames - 1) % TONAL_STEP
    n = len(range(first, n_frames, TONAL_STEP))
    index = np.clip((np.arange(n_frames) - first) // TONAL_STEP, 0, n - 1)
    index.flags.writeable = False
    return index

#: Extra per-frame feature sets a model may take besides the log-mel (``model.json`` ``extra_features``): name →
#: channel count, and name → function ``(samples_16k, n_frames, params) -> (n_frames, channels)``.
EXTRA_FEATURES: dict[str, int] = {
    "mains_lines": len(MAINS_LINE_CHANNELS),
    "clip_shape": len(CLIP_SHAPE_CHANNELS),
    "tonal_peaks": len(TONAL_CHANNELS),
}
EXTRA_FEATURE_FUNCTIONS = {"mains_lines": mains_lines, "clip_shape": clip_shape, "tonal_peaks": tonal_peaks}


def resample_to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample mono audio to 16 kHz with ``scipy.signal.resample_poly`` (zero-phase polyphase FIR, Kaiser window).

    48 kHz → 16 kHz is an exact 1:3 decimation; other rates use the reduced integer ratio.
    """
    from math import gcd

    from scipy.signal import resample_poly

    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    x = _sanitize(samples)
    if rate == ANALYSIS_RATE:
        return x
    g = gcd(ANALYSIS_RATE, int(rate))
    return resample_poly(x, ANALYSIS_RATE // g, int(rate) // g).astype(np.float32)


class StreamingResampler:
    """Block-wise decimation to 16 kHz for capture rates that are integer multiples of it (32, 48, 96 kHz).

    Uses exactly the filter of ``scipy.signal.resample_poly(x, 1, factor)`` (Kaiser-windowed FIR of
    ``20 * factor + 1`` taps, zero-phase), evaluated as samples arrive: output ``m`` is
    ``sum_j h[j] * x[factor * m + 10 * factor - j]``, so the stream equals :func:`resample_to_16k` of the whole
    signal (to float precision) except for its last few samples, at a latency of ``10 * factor`` input samples
    (0.2 ms at 48 kHz). Blocks of any size, including 0.
    """

    def __init__(self, rate: int) -> None:
        from scipy.signal import firwin

        if rate <= 0 or rate % ANALYSIS_RATE:
            raise ValueError(f"streaming resampling needs a multiple of {ANALYSIS_RATE} Hz, got {rate}; "
                             "use resample_to_16k for a whole signal at other rates")
        self.rate = int(rate)
        self.factor = self.rate // ANALYSIS_RATE
        half = 10 * self.factor
        # conceptual zeros before the first sample, as resample_poly's zero padding
        self._buffer = np.zeros(half, np.float64)
        self._taps_reversed = np.ones(1)
        if self.factor > 1:  # 16 kHz passes through untouched
            self._taps_reversed = firwin(2 * half + 1, 1.0 / self.factor, window=("kaiser", 5.0))[::-1].copy()

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Feed a block at ``rate``; returns the 16 kHz samples that became computable (float32)."""
        x = _sanitize(samples)
        if self.factor == 1:
            return x
        self._buffer = np.concatenate([self._buffer, x.astype(np.float64)])
        taps = self._taps_reversed.size
        if self._buffer.size < taps:
            return np.zeros(0, np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(self._buffer, taps)[:: self.factor]
        out = windows @ self._taps_reversed
        self._buffer = self._buffer[out.size * self.factor :]
        return out.astype(np.float32)


class StreamingLogMel:
    """Log-mel frames computed once as 16 kHz audio arrives, with a bounded history for overlapping windows.

    ``push(chunk)`` accepts any number of samples (including 0) and returns how many new frames became complete.
    Frames are numbered from the start of the stream (frame ``i`` starts at stream sample ``i * hop``); ``window``
    returns any run of frames still in the history. Memory is ``history_frames × 64 × 4`` bytes plus under one
    frame of samples.
    """

    def __init__(self, history_frames: int = 1000, params: FeatureParams | None = None) -> None:
        self.params = params or FeatureParams()
        self.params.validate()
        if history_frames < 1:
            raise ValueError("history_frames must be at least 1")
        self.history_frames = int(history_frames)
        self._ring = np.zeros((self.history_frames, self.params.n_mels), np.float32)
        self._pending = np.zeros(0, np.float32)  # samples not yet consumed by a complete frame
        self._frames_total = 0
        self._samples_total = 0

    @property
    def frames_total(self) -> int:
        """Frames computed since the start of the stream."""
        return self._frames_total

    @property
    def samples_total(self) -> int:
        return self._samples_total

    @property
    def oldest_frame(self) -> int:
        """Index of the oldest frame still held."""
        return max(0, self._frames_total - self.history_frames)

    def frame_start_sample(self, index: int) -> int:
        return index * self.params.hop_length

    def push(self, samples_16k: np.ndarray) -> int:
        chunk = _sanitize(samples_16k)
        self._samples_total += chunk.size
        buffer = np.concatenate([self._pending, chunk]) if self._pending.size else chunk
        n_new = self.params.n_frames(buffer.size)
        if n_new:
            frames = _rows(buffer, self.params.win_length, self.params.hop_length, n_new)
            feats = _frames_to_logmel(frames, self.params)
            self._store(feats)
            buffer = buffer[n_new * self.params.hop_length :]
        self._pending = np.array(buffer, dtype=np.float32, copy=True)
        return n_new

    def _store(self, feats: np.ndarray) -> None:
        if feats.shape[0] > self.history_frames:  # only the newest fit
            skipped = feats.shape[0] - self.history_frames
            self._frames_total += skipped
            feats = feats[skipped:]
        pos = self._frames_total % self.history_frames
        first = min(feats.shape[0], self.history_frames - pos)
        self._ring[pos : pos + first] = feats[:first]
        self._ring[: feats.shape[0] - first] = feats[first:]
        self._frames_total += feats.shape[0]

    def window(self, start_frame: int, n_frames: int) -> np.ndarray:
        """Frames ``[start_frame, start_frame + n_frames)`` as a new (n_frames, 64) array.

        Raises ``IndexError`` if part of the run has left the history or is not computed yet.
        """
        if n_frames < 0:
            raise ValueError("n_frames must be non-negative")
        end = start_frame + n_frames
        if start_frame < self.oldest_frame or end > self._frames_total:
            raise IndexError(
                f"frames [{start_frame}, {end}) not available (held: [{self.oldest_frame}, {self._frames_total}))"
            )
        idx = np.arange(start_frame, end) % self.history_frames
        return self._ring[idx].copy()

    def latest(self, n_frames: int) -> np.ndarray:
        """The newest ``n_frames`` frames."""
        return self.window(self._frames_total - n_frames, n_frames)

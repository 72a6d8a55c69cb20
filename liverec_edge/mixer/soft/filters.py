"""Filter design (Butterworth high-pass cascades, RBJ Audio-EQ-Cookbook biquads) and a stateful biquad cascade.

Every design is the bilinear transform of an analog prototype with the frequency pre-warped at the corner/centre
frequency, so the digital magnitude at ω equals the analog prototype's at ``tan(ω/2)/tan(ω0/2)``: that is the
analytic curve the tests compare the measured responses against.

Sections are rows ``[b0, b1, b2, 1, a1, a2]`` (scipy's ``sos`` layout), normalised so a0 = 1.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

try:  # scipy's compiled kernel behind sosfilt; see _run_sos for why it is called directly.
    from scipy.signal._sosfilt import _sosfilt as _sosfilt_kernel
except ImportError:  # pragma: no cover - a scipy that moved it: the public function is the fallback
    _sosfilt_kernel = None

#: Design frequencies are kept below this fraction of the sample rate: a corner at or above Nyquist has no
#: bilinear image (tan(π/2) = ∞), e.g. an EQ band at 20 kHz on a 16 kHz stream.
MAX_DESIGN_FRACTION = 0.49

IDENTITY_SOS = np.zeros((0, 6))


def _clamp_freq(freq: float, rate: int) -> float:
    return min(max(freq, 1e-3), MAX_DESIGN_FRACTION * rate)


def butterworth_highpass(freq: float, slope_db_per_oct: float, rate: int) -> np.ndarray:
    """Butterworth high-pass of order slope/6 (12 → 2, 18 → 3, 24 → 4) as cascaded sections, −3 dB at ``freq``.

    Order 2 and 4 are cascades of second-order high-passes with the Butterworth pole Qs (1/(2 sin((2k−1)π/2N)):
    0.7071; 1.3066 and 0.5412); order 3 is a first-order high-pass followed by a second-order one with Q = 1.
    """
    order = round(slope_db_per_oct / 6.0)
    if order not in (2, 3, 4):
        raise ValueError(f"HPF slope must be 12, 18 or 24 dB/oct, not {slope_db_per_oct}")
    w0 = 2.0 * math.pi * _clamp_freq(freq, rate) / rate
    sections = []
    if order % 2:
        sections.append(_first_order_highpass(w0))
    for k in range(1, order // 2 + 1):
        q = 1.0 / (2.0 * math.sin((2 * k - 1) * math.pi / (2 * order)))
        sections.append(_rbj(w0, q, "LCut"))
    return np.array(sections)


def _first_order_highpass(w0: float) -> np.ndarray:
    # H(s) = s / (s + 1), bilinear with pre-warp: K = tan(w0/2).
    k = math.tan(w0 / 2.0)
    norm = 1.0 / (1.0 + k)
    return np.array([norm, -norm, 0.0, 1.0, (k - 1.0) * norm, 0.0])


def veq_q(q: float, gain_db: float) -> float:
    """The effective Q of the VEQ ("vintage", proportional-Q) bell: broad for small gains, narrow for large ones.

    The knob's Q is reached at ±7.5 dB (half travel); at ±15 dB the bell is 1.5× narrower, near 0 dB twice as broad,
    as on analog EQs whose bandwidth follows the amount of boost/cut. Q_eff = q · (0.5 + |g|/15).
    """
    return q * (0.5 + abs(gain_db) / 15.0)


def eq_band(eq_type: str, freq: float, gain_db: float, q: float, rate: int) -> np.ndarray:
    """One EQ band as one section (``LCut``/``HCut`` are 12 dB/oct RBJ high/low-pass with the band's Q)."""
    w0 = 2.0 * math.pi * _clamp_freq(freq, rate) / rate
    if eq_type == "VEQ":
        return _rbj(w0, veq_q(q, gain_db), "PEQ", gain_db)
    return _rbj(w0, q, eq_type, gain_db)


def is_identity_band(eq_type: str, gain_db: float) -> bool:
    """A bell or shelf at 0 dB is exactly flat and can be left out of the cascade."""
    return eq_type in ("PEQ", "VEQ", "LShv", "HShv") and gain_db == 0.0


def _rbj(w0: float, q: float, kind: str, gain_db: float = 0.0) -> np.ndarray:
    """RBJ cookbook biquad (Q form): LCut = cookbook HPF, HCut = LPF, PEQ = peakingEQ, LShv/HShv = shelves."""
    cos_w0 = math.cos(w0)
    alpha = math.sin(w0) / (2.0 * q)
    a = 10.0 ** (gain_db / 40.0)
    if kind == "LCut":
        b = [(1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2]
        den = [1 + alpha, -2 * cos_w0, 1 - alpha]
    elif kind == "HCut":
        b = [(1 - cos_w0) / 2, 1 - cos_w0, (1 - cos_w0) / 2]
        den = [1 + alpha, -2 * cos_w0, 1 - alpha]
    elif kind == "PEQ":
        b = [1 + alpha * a, -2 * cos_w0, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cos_w0, 1 - alpha / a]
    elif kind in ("LShv", "HShv"):
        root = 2.0 * math.sqrt(a) * alpha
        sign = 1.0 if kind == "LShv" else -1.0
        b = [
            a * ((a + 1) - sign * (a - 1) * cos_w0 + root),
            sign * 2 * a * ((a - 1) - sign * (a + 1) * cos_w0),
            a * ((a + 1) - sign * (a - 1) * cos_w0 - root),
        ]
        den = [
            (a + 1) + sign * (a - 1) * cos_w0 + root,
            -sign * 2 * ((a - 1) + sign * (a + 1) * cos_w0),
            (a + 1) + sign * (a - 1) * cos_w0 - root,
        ]
    else:
        raise ValueError(f"unknown EQ type {kind!r}")
    a0 = den[0]
    return np.array([b[0] / a0, b[1] / a0, b[2] / a0, 1.0, den[1] / a0, den[2] / a0])


def slowest_decay_samples(sos: np.ndarray) -> float:
    """Time constant (samples) of the slowest pole of a cascade: how long its state remembers the input."""
    if len(sos) == 0:
        return 0.0
    radii = [np.abs(np.roots(section[3:])).max(initial=0.0) for section in sos]
    radius = min(max(radii), 1.0 - 1e-12)
    return -1.0 / math.log(radius) if radius > 0.0 else 0.0


def run_sos(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """Filter ``x`` through ``sos`` updating ``zi`` ((sections, 2)) in place; returns the output (sos's dtype).

    On 1024-sample blocks scipy.signal.sosfilt spends ~4× longer validating its arguments than filtering, so the
    compiled kernel it wraps is called directly (same arithmetic, bit-identical; see the tests) when present.
    """
    if len(sos) == 0:
        return x  # identity (a stage switched out); callers never modify their input in place
    if _sosfilt_kernel is not None:
        out = np.array(x, dtype=sos.dtype, order="C", ndmin=2)
        state = zi.reshape(1, *zi.shape)
        _sosfilt_kernel(sos, out, state)
        return out[0]
    out, zi[...] = scipy.signal.sosfilt(sos, x, zi=zi)
    return out


class InputHistory:
    """A ring of the last ``capacity`` input samples of a filter, read back in order to prime a new filter."""

    def __init__(self, capacity: int) -> None:
        self._ring = np.zeros(max(capacity, 1))
        self._write = 0
        self._filled = 0

    def push(self, x: np.ndarray) -> None:
        size = len(self._ring)
        if len(x) >= size:
            self._ring[:] = x[-size:]
            self._write = 0
            self._filled = size
            return
        end = self._write + len(x)
        if end <= size:
            self._ring[self._write : end] = x
        else:
            split = size - self._write
            self._ring[self._write :] = x[:split]
            self._ring[: end - size] = x[split:]
        self._write = end % size
        self._filled = min(self._filled + len(x), size)

    def last(self, count: int) -> np.ndarray:
        count = min(count, self._filled)
        start = (self._write - count) % len(self._ring)
        if start + count <= len(self._ring):
            return self._ring[start : start + count].copy()
        return np.concatenate((self._ring[start:], self._ring[: self._write]))


class SosFilter:
    """A biquad cascade with its state carried across calls."""

    def __init__(self, sos: np.ndarray) -> None:
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self._state = np.zeros((1, len(self.sos), 2))  # the kernel's (channels, sections, 2) layout
        self.zi = self._state[0]  # (sections, 2), a view
        self._decay_samples: float | None = None

    @property
    def decay_samples(self) -> float:
        """Time constant (samples) of the slowest pole; computed when first needed (priming a filter switched in
        while audio runs), not for the many designs made while a console is set up."""
        if self._decay_samples is None:
            self._decay_samples = slowest_decay_samples(self.sos)
        return self._decay_samples

    def process(self, x: np.ndarray) -> np.ndarray:
        if _sosfilt_kernel is not None and len(self.sos):  # run_sos, minus a reshape per call
            out = np.array(x, dtype=np.float64, order="C", ndmin=2)
            _sosfilt_kernel(self.sos, out, self._state)
            return out[0]
        return run_sos(self.sos, x, self.zi)

    def prime(self, history: np.ndarray) -> None:
        """Bring the state to where it would be had this filter been running on ``history`` (the input so far).

        The input older than ``history`` is forgotten; its contribution has decayed by exp(−len/decay_samples).
        """
        self.zi[...] = 0.0
        if len(history) and len(self.sos):
            run_sos(self.sos, history, self.zi)


def magnitude_response(sos: np.ndarray, freqs: np.ndarray, rate: int) -> np.ndarray:
    """|H| of a cascade at ``freqs`` (Hz); identity for an empty cascade."""
    if len(sos) == 0:
        return np.ones_like(freqs, dtype=np.float64)
    _, h = scipy.signal.sosfreqz(sos, worN=freqs, fs=rate)
    return np.abs(h)

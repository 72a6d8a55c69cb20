"""Gate/expander/ducker and feed-forward compressor: static gain computers and a vectorised log-domain detector.

Both processors follow the log-domain feed-forward design of Giannoulis, Massberg & Reiss, "Digital Dynamic Range
Compressor Design — A Tutorial and Analysis" (JAES 2012): the level is measured in dB (peak sensing), a static gain
computer turns it into an *active quantity* in dB that is ≥ 0, and a smoothing detector gives that quantity attack,
hold and release ballistics before it becomes a gain:

==========  ===================================  ================================  ================
processor   active quantity (dB, ≥ 0)            rises (attack) when               gain (dB)
==========  ===================================  ================================  ================
compressor  gain reduction x_G − y_G             the level goes over threshold     make-up − GR
gate/EXPn   openness = range − attenuation       the level goes over threshold     openness − range
duck        attenuation                          the level goes over threshold     −attenuation
==========  ===================================  ================================  ================

**Control rate.** Level, gain computer and ballistics run once per *control period* of K samples (the power of two
nearest rate/3000: 16 at 44.1/48 kHz, 0.33 ms), on the exact peak |x| of each period; the resulting gain is
interpolated linearly back to audio rate. No peak is missed: every gain computer here is monotonic in level, so the
gain computed from a period's peak is the most protective gain any sample of that period asks for. The ballistics
use the exact exponential coefficients for the elapsed time (α^K per period), so time constants are exact at the
control instants; what is quantised is *when* a change starts (≤ one period, 0.33 ms: an attack of 0 ms acts as a
0.33 ms ramp; holds are counted in whole periods). This block-wise computation is what lets a full strip run at
hundreds of times real time in numpy: per-sample work is only |x|, a period max, the interpolation and the multiply.

The detector is the "decoupled" peak detector of that paper with a hold stage, evaluated without a Python loop::

    h[k] = max(a[k−H … k])                   hold: sliding maximum over the hold time (H periods)
    z[k] = max(h[k], α_R^Δk · z[k−1])        instant rise, exponential release (time constant ``release``)
    y[k] = α_A^Δk · y[k−1] + (1 − α_A^Δk) · z[k]   attack smoothing (time constant ``attack``)

The release recursion is a running maximum in the log domain: ln z[k] = c·t_k + max_{j≤k}(ln h[j] − c·t_j) with
c = ln α_R per sample and t the period end times, i.e. one ``np.maximum.accumulate``; it is exact because max and
multiplication by α_R > 0 commute. Releasing exponentially *in dB* is the classic log-domain smoothing: the gain
recovers with one time constant whatever the depth of gain reduction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liverec_edge.mixer.soft.filters import run_sos

#: Control periods per second, roughly (see the module docstring); periods are a power of two long so that the usual
#: power-of-two blocks hold whole periods.
CONTROL_RATE_HZ = 3000.0
#: Below this many dB of activity the detector is considered at rest (state snapped to exactly 0, inaudible).
REST_DB = 1e-4
#: Added to |x| before the logarithm: digital silence reads −400 dBFS, far below any threshold, never −inf.
_LEVEL_FLOOR = 1e-20
#: Added to the active quantity before its logarithm in the release recursion (0 dB of activity stays ~0).
_ACTIVE_FLOOR = 1e-30
_DB_PER_NEPER = 20.0 / math.log(10.0)


def control_period(rate: int) -> int:
    return 1 << max(0, round(math.log2(rate / CONTROL_RATE_HZ)))


class ControlGrid:
    """Where the control periods of a segment of ``size`` samples start and end (cached per segment length)."""

    def __init__(self, size: int, period: int) -> None:
        self.size = size
        self.starts = np.arange(0, size, period)
        self.ends = np.minimum(self.starts + period, size).astype(np.float64)  # samples since the segment start
        self.knots = np.concatenate(([0.0], self.ends))
        self.positions = np.arange(1, size + 1, dtype=np.float64)
        self.period = period


class ControlLevels:
    """The peak level (dBFS) of each control period of one segment, and the interpolation back to audio rate."""

    def __init__(self, x: np.ndarray, grid: ControlGrid) -> None:
        self.grid = grid
        self.ends = grid.ends
        peaks = np.maximum.reduceat(np.abs(x), grid.starts)
        peaks += _LEVEL_FLOOR
        self.peak_db = np.log(peaks, out=peaks)
        self.peak_db *= _DB_PER_NEPER

    @property
    def max_db(self) -> float:
        return float(self.peak_db.max())

    def to_audio_rate(self, previous: float, values: np.ndarray) -> np.ndarray:
        """Per-sample values going linearly from ``previous`` (before the segment) to values[k] at period k's end."""
        return np.interp(self.grid.positions, self.grid.knots, np.concatenate(([previous], values)))


def time_constant_coefficient(ms: float, rate: int) -> float:
    """Per-sample one-pole coefficient exp(−1/(τ·fs)) for time constant τ = ms; 0 ms means instantaneous (0)."""
    if ms <= 0.0:
        return 0.0
    return math.exp(-1000.0 / (ms * rate))


def sliding_max(history: np.ndarray, block: np.ndarray) -> np.ndarray:
    """max(ext[n : n+H+1]) for each block element n, where ext = history (H values) followed by the block."""
    hold = len(history)
    size = len(block)
    if hold == 0:
        return block
    if hold >= size:
        # The window reaches back past the block start: history[n:] ∪ block[:n+1], split at the history's B-th value.
        older = history[size:].max(initial=0.0)
        recent = np.maximum.accumulate(history[:size][::-1])[::-1]
        return np.maximum(np.maximum.accumulate(block), np.maximum(recent, older))
    # van Herk / Gil-Werman: prefix and suffix maxima within chunks of the window length.
    window = hold + 1
    ext = np.concatenate((history, block))
    chunks = -(-len(ext) // window)
    padded = np.full(chunks * window, -np.inf)
    padded[: len(ext)] = ext
    grid = padded.reshape(chunks, window)
    prefix = np.maximum.accumulate(grid, axis=1).ravel()
    suffix = np.maximum.accumulate(grid[:, ::-1], axis=1)[:, ::-1].ravel()
    return np.maximum(suffix[:size], prefix[hold : hold + size])


class Detector:
    """Hold → exponential release → attack smoothing of an active quantity in dB, at control rate."""

    def __init__(self, rate: int, attack_ms: float, hold_ms: float, release_ms: float) -> None:
        self.rate = rate
        self.period = control_period(rate)
        self.hold_history = np.zeros(0)
        self._ramps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.held = 0.0  # z at the end of the last segment (dB)
        self.smoothed = 0.0  # y at the end of the last segment (dB)
        self.set_times(attack_ms, hold_ms, release_ms)

    def set_times(self, attack_ms: float, hold_ms: float, release_ms: float) -> None:
        self.attack_coeff = time_constant_coefficient(attack_ms, self.rate)
        self.period_attack = self.attack_coeff**self.period
        self.log_release = math.log(time_constant_coefficient(max(release_ms, 1e-3), self.rate))
        hold = round(hold_ms * self.rate / 1000.0 / self.period)
        if hold > len(self.hold_history):
            # A longer hold than before: the older past is unknown, count it as inactive (no spurious holding).
            self.hold_history = np.concatenate((np.zeros(hold - len(self.hold_history)), self.hold_history))
        else:
            self.hold_history = self.hold_history[len(self.hold_history) - hold :]
        self._attack_sos = np.array([[1.0 - self.period_attack, 0.0, 0.0, 1.0, -self.period_attack, 0.0]])
        self._ramps.clear()

    def retimed(self, attack_ms: float, hold_ms: float, release_ms: float) -> Detector:
        """A copy of this detector's state with new time constants."""
        new = Detector(self.rate, attack_ms, 0.0, release_ms)
        new.hold_history = self.hold_history.copy()
        new.held = self.held
        new.smoothed = self.smoothed
        new.set_times(attack_ms, hold_ms, release_ms)
        return new

    def reset(self, value: float) -> None:
        """Put the detector at rest on ``value`` dB (used when a processor is switched in)."""
        self.hold_history[:] = value
        self.held = value
        self.smoothed = value

    def map_state(self, convert) -> None:
        """Apply an elementwise conversion to the whole state (e.g. openness → attenuation on a mode change)."""
        self.hold_history = np.asarray(convert(self.hold_history), dtype=np.float64)
        self.held = float(convert(np.float64(self.held)))
        self.smoothed = float(convert(np.float64(self.smoothed)))

    def at_rest(self, value: float) -> bool:
        return self.held == value and self.smoothed == value and bool((self.hold_history == value).all())

    def process(self, active: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Ballistics for the active quantity of each control period (period k ends ``ends[k]`` samples into the
        segment); returns the smoothed quantity at each period end."""
        held_in = sliding_max(self.hold_history, active)
        if len(self.hold_history):
            self.hold_history = np.concatenate((self.hold_history, active))[-len(self.hold_history) :]
        ramp = self._ramps.get(len(ends))
        if ramp is None or ramp[1] is not ends:  # c·t_k, cached per control grid
            ramp = self._ramps[len(ends)] = (self.log_release * ends, ends)
        shifted = held_in + _ACTIVE_FLOOR
        np.log(shifted, out=shifted)
        shifted -= ramp[0]
        if self.held > 0.0:
            shifted[0] = max(shifted[0], math.log(self.held))
        released = np.maximum.accumulate(shifted)
        released += ramp[0]
        np.exp(released, out=released)
        self.held = float(released[-1]) if released[-1] > REST_DB else 0.0
        out = released if self.attack_coeff == 0.0 else self._attack(released, ends)
        self.smoothed = float(out[-1]) if out[-1] > REST_DB else 0.0
        return out

    def _attack(self, released: np.ndarray, ends: np.ndarray) -> np.ndarray:
        # One-pole over the whole periods (DF2T state of y[k] = α·y[k−1] + (1−α)·x[k] is α·y[k−1]); a last, shorter
        # period gets its own coefficient α^len.
        last_length = int(ends[-1] - (ends[-2] if len(ends) > 1 else 0.0))
        whole = len(released) if last_length == self.period else len(released) - 1
        out = np.empty_like(released)
        previous = self.smoothed
        if whole:
            state = np.array([[previous * self.period_attack, 0.0]])
            out[:whole] = run_sos(self._attack_sos, released[:whole], state)
            previous = float(out[whole - 1])
        if whole < len(released):
            coeff = self.attack_coeff**last_length
            out[-1] = coeff * previous + (1.0 - coeff) * released[-1]
        return out


@dataclass(frozen=True, slots=True)
class GateSettings:
    mode: str  # EXP2, EXP3, EXP4, GATE, DUCK
    threshold_db: float
    range_db: float
    attack_ms: float
    hold_ms: float
    release_ms: float


class Gate:
    """Downward expander (EXPn: 1:n below threshold), gate (GATE: −range below threshold) or ducker (DUCK: −range
    above threshold), attenuation limited to ``range``. Self-keyed on the peak level of its input."""

    def __init__(self, rate: int, settings: GateSettings) -> None:
        self.settings = settings
        self.detector = Detector(rate, settings.attack_ms, settings.hold_ms, settings.release_ms)
        # Switched in at rest: a gate starts open, a ducker starts un-ducked (gain 0 dB either way).
        self.detector.reset(self._rest)
        self.last_gain = 1.0

    @property
    def _rest(self) -> float:
        """The active value at which the gain is 0 dB."""
        return 0.0 if self.settings.mode == "DUCK" else self.settings.range_db

    def retuned(self, settings: GateSettings) -> Gate:
        """A gate with new settings that continues from this one's state (same gain at the switch point)."""
        new = Gate.__new__(Gate)
        new.settings = settings
        new.last_gain = self.last_gain
        new.detector = self.detector.retimed(settings.attack_ms, settings.hold_ms, settings.release_ms)
        old_duck = self.settings.mode == "DUCK"
        new_duck = settings.mode == "DUCK"
        old_range, new_range = self.settings.range_db, settings.range_db

        def convert(active: np.ndarray) -> np.ndarray:
            gain = -active if old_duck else active - old_range  # the gain (dB) each state value stands for
            converted = -gain if new_duck else gain + new_range
            return np.clip(converted, 0.0, new_range)

        new.detector.map_state(convert)
        return new

    def active(self, level: np.ndarray) -> np.ndarray:
        """Static curve: the active quantity (dB) for levels (dB)."""
        settings = self.settings
        if settings.mode in ("DUCK", "GATE"):  # attenuation (DUCK) or openness (GATE): all or nothing
            return np.where(level >= settings.threshold_db, settings.range_db, 0.0)
        expansion = float(settings.mode[3]) - 1.0  # EXPn: each dB under the threshold costs n−1 more dB
        openness = level - settings.threshold_db
        openness *= expansion
        openness += settings.range_db
        np.maximum(openness, 0.0, out=openness)
        return np.minimum(openness, settings.range_db, out=openness)

    def static_gain_db(self, level: np.ndarray) -> np.ndarray:
        active = self.active(level)
        return -active if self.settings.mode == "DUCK" else active - self.settings.range_db

    def gain(self, levels: ControlLevels) -> np.ndarray | float:
        """Linear gain per sample of the segment whose control levels are given."""
        settings = self.settings
        active = self.active(levels.peak_db)
        rest = self._rest
        if self.last_gain == 1.0 and self.detector.at_rest(rest) and (active == rest).all():
            return 1.0  # un-attenuated and staying so: nothing to compute
        smoothed = self.detector.process(active, levels.ends)
        if settings.mode != "DUCK":  # snap to rest (exp∘log is not exact) so the fast path can take over
            detector = self.detector
            if detector.held >= settings.range_db - REST_DB:
                detector.held = settings.range_db
            if detector.smoothed >= settings.range_db - REST_DB:
                detector.smoothed = settings.range_db
        gain_db = -smoothed if settings.mode == "DUCK" else smoothed - settings.range_db
        gains = np.exp(gain_db / _DB_PER_NEPER, out=gain_db)
        if self.detector.at_rest(rest):
            gains[-1] = 1.0
        out = levels.to_audio_rate(self.last_gain, gains)
        self.last_gain = float(gains[-1])
        return out


@dataclass(frozen=True, slots=True)
class CompressorSettings:
    threshold_db: float
    ratio: float
    knee_db: float
    makeup_db: float
    attack_ms: float
    hold_ms: float
    release_ms: float
    mix_percent: float


class Compressor:
    """Feed-forward peak compressor with a quadratic soft knee, make-up gain and a dry/compressed mix.

    The gain computer (Giannoulis et al., eq. 4) with threshold T, ratio R and knee width W gives the gain
    reduction GR = (1 − 1/R)·(u²/(2W) + max(x − T − W/2, 0)), u = clip(x − T + W/2, 0, W); hard knee when W = 0.
    Being a pure gain (no look-ahead, no latency) the parallel mix is exact as a gain blend:
    g = mix·10^((makeup − GR)/20) + (1 − mix); make-up applies to the compressed share only.
    """

    def __init__(self, rate: int, settings: CompressorSettings) -> None:
        self.settings = settings
        self.detector = Detector(rate, settings.attack_ms, settings.hold_ms, settings.release_ms)
        self.last_gain = self._resting_gain()

    def retuned(self, settings: CompressorSettings) -> Compressor:
        """New settings continuing from this state: gain reduction means the same thing under any settings."""
        new = Compressor.__new__(Compressor)
        new.settings = settings
        new.detector = self.detector.retimed(settings.attack_ms, settings.hold_ms, settings.release_ms)
        new.last_gain = self.last_gain
        return new

    def _resting_gain(self) -> float:
        mix = self.settings.mix_percent / 100.0
        return mix * 10.0 ** (self.settings.makeup_db / 20.0) + (1.0 - mix)

    def reduction(self, level: np.ndarray) -> np.ndarray:
        """Static gain reduction (dB, ≥ 0) for levels (dB)."""
        settings = self.settings
        slope = 1.0 - 1.0 / settings.ratio
        over = level - settings.threshold_db
        if settings.knee_db <= 0.0:
            return slope * np.maximum(over, 0.0)
        half = settings.knee_db / 2.0
        inside = over + half
        np.maximum(inside, 0.0, out=inside)
        np.minimum(inside, settings.knee_db, out=inside)
        inside *= inside
        inside *= slope / (2.0 * settings.knee_db)
        over -= half
        np.maximum(over, 0.0, out=over)
        over *= slope
        inside += over
        return inside

    def gain(self, levels: ControlLevels) -> np.ndarray | float:
        """Linear gain per sample of the segment whose control levels are given."""
        settings = self.settings
        resting = self._resting_gain()
        below_knee = levels.max_db < settings.threshold_db - settings.knee_db / 2.0
        if below_knee and self.last_gain == resting and self.detector.at_rest(0.0):
            return resting  # below the knee and nothing to release: constant gain
        smoothed = self.detector.process(self.reduction(levels.peak_db), levels.ends)
        mix = settings.mix_percent / 100.0
        gains = settings.makeup_db - smoothed
        gains /= _DB_PER_NEPER
        np.exp(gains, out=gains)
        if mix < 1.0:
            gains *= mix
            gains += 1.0 - mix
        if self.detector.at_rest(0.0):
            gains[-1] = resting
        out = levels.to_audio_rate(self.last_gain, gains)
        self.last_gain = float(gains[-1])
        return out

"""Gate/expander/ducker and feed-forward compressor: static gain computers and a log-domain peak detector.

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
0.33 ms ramp). This block-wise computation is what lets a full strip run at hundreds of times real time in numpy:
per-sample work is only |x|, a period max, the interpolation and the multiply.

The detector is the "decoupled" peak detector of that paper with a hold stage, per control period k of Δk samples::

    z[k] = a[k]                                   if a[k] ≥ z[k−1]: instant rise, hold timer restarted
    z[k] = z[k−1]                                 while the hold timer runs (``hold``)
    z[k] = max(a[k], α_R^Δk · z[k−1])              then exponential release (time constant ``release``)
    y[k] = α_A^Δk · y[k−1] + (1 − α_A^Δk) · z[k]   attack smoothing (time constant ``attack``)

with α = exp(−1/(τ·fs)) per sample. The hold timer restarts whenever the quantity reaches the held value: a gate
stays open ``hold`` after the last period above threshold, a compressor keeps its reduction ``hold`` after the last
peak that asked for it. Releasing exponentially *in dB* is the classic log-domain smoothing: the gain recovers with
one time constant whatever the depth of gain reduction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Control periods per second, roughly (see the module docstring); periods are a power of two long so that the usual
#: power-of-two blocks hold whole periods.
CONTROL_RATE_HZ = 3000.0
#: Below this many dB of activity the detector is considered at rest (state snapped to exactly 0, inaudible).
REST_DB = 1e-4
#: Added to |x| before the logarithm: digital silence reads −400 dBFS, far below any threshold, never −inf.
_LEVEL_FLOOR = 1e-20
_DB_PER_NEPER = 20.0 / math.log(10.0)
#: Relative margin of the quick level tests on linear peaks (1e-9 ≈ 1e-8 dB, far above the rounding of the log).
_MARGIN = 1e-9


def control_period(rate: int) -> int:
    return 1 << max(0, round(math.log2(rate / CONTROL_RATE_HZ)))


class ControlGrid:
    """The control periods met by a segment of ``size`` samples that starts ``phase`` samples into a period.

    Periods sit on the stream's own grid (multiples of K samples from the first sample), not on block edges, so the
    result does not depend on how the stream is cut into blocks or where automation splits it: a period cut by a
    segment end is *open* — it is evaluated on what has been seen of it (so its samples get a gain now) but the
    detector's state is committed only at whole-period boundaries, and the next segment evaluates the whole period
    again from there (its peak carried over).
    """

    def __init__(self, size: int, period: int, phase: int) -> None:
        self.size = size
        self.period = period
        first_end = period - phase
        ends = np.minimum(np.arange(first_end, size + period, period), size)
        self.ends = np.unique(ends).astype(np.float64)  # period ends, in samples since the segment start
        self.starts = np.concatenate(([0], self.ends[:-1])).astype(np.intp)
        self.continues = phase > 0  # the first period began in an earlier segment
        self.open = (phase + size) % period != 0  # the last period goes on into the next segment
        # Length of each period since its own start, for the ballistics: whole periods K, an open one what has been
        # seen of it (including its part in earlier segments when it is also the first).
        lengths = np.full(len(self.ends), period)
        if self.open:
            lengths[-1] = (phase + size) % period
        self.lengths = lengths.tolist()
        # A segment of whole periods on the grid (the usual power-of-two block): every period is K samples long and
        # the interpolation back to audio rate is one small matrix product (see ControlLevels.to_audio_rate).
        self.uniform = not self.continues and not self.open
        # Scratch for the gains at the knots: [gain before the segment, gain at each period end]. Filled and consumed
        # within one call of ControlLevels.gain_to_audio_rate (the result is a new array), so processors sharing
        # this grid may all use it.
        self.gain_knots = np.empty(len(self.ends) + 1)
        self.gain_values = self.gain_knots[1:]
        if self.uniform:
            ramp = np.arange(1, period + 1, dtype=np.float64) / period
            self.weights = np.stack((1.0 - ramp, ramp))  # (2, K): weights of the previous and this period's value
            # (periods, 2) rows (gain before, gain at the end) of each period: a view on gain_knots, no copy.
            self.gain_pairs = np.lib.stride_tricks.as_strided(
                self.gain_knots, shape=(len(self.ends), 2), strides=(self.gain_knots.strides[0],) * 2, writeable=False
            )
        else:
            self.knots = np.concatenate(([0.0], self.ends))
            self.positions = np.arange(1, size + 1, dtype=np.float64)


class ControlLevels:
    """The peak level (dBFS) of each control period of one segment, and the interpolation back to audio rate.

    ``carried`` is the peak |x| already seen of a period this segment continues; ``carry`` is what this segment
    passes on for its own open period.
    """

    def __init__(self, x: np.ndarray, grid: ControlGrid, carried: float) -> None:
        self.grid = grid
        self.peaks = peaks = np.maximum.reduceat(np.abs(x), grid.starts)  # linear peak |x| per period
        if grid.continues and carried > peaks[0]:
            peaks[0] = carried
        self.carry = float(peaks[-1]) if grid.open else 0.0
        self._peak_db: np.ndarray | None = None

    @property
    def peak_db(self) -> np.ndarray:
        """Peak level (dBFS) per period; computed on first use (a processor at rest may decide without it)."""
        if self._peak_db is None:
            peak_db = self.peaks + _LEVEL_FLOOR
            np.log(peak_db, out=peak_db)
            peak_db *= _DB_PER_NEPER
            self._peak_db = peak_db
        return self._peak_db

    def surely_all_above(self, level_db: float) -> bool:
        """True when every period's peak level is certainly ≥ ``level_db`` (decided on the linear peaks with a
        margin far above rounding error; False near the edge, where the caller decides on the exact dB levels)."""
        return float(np.minimum.reduce(self.peaks)) >= 10.0 ** (level_db / 20.0) * (1.0 + _MARGIN)

    def surely_reaching(self, level_db: float) -> np.ndarray | None:
        """Which periods' peak level is ≥ ``level_db``, decided on the linear peaks (see :meth:`surely_all_above`);
        None when a period lies within the margin of it (then the caller decides on the exact dB levels)."""
        line = 10.0 ** (level_db / 20.0)
        reaching = self.peaks >= line * (1.0 + _MARGIN)
        below = self.peaks < line * (1.0 - _MARGIN) - _LEVEL_FLOOR
        if np.count_nonzero(reaching) + np.count_nonzero(below) != len(reaching):
            return None
        return reaching

    def surely_all_below(self, level_db: float) -> bool:
        """True when every period's peak level is certainly < ``level_db`` (see :meth:`surely_all_above`)."""
        return float(np.maximum.reduce(self.peaks)) < 10.0 ** (level_db / 20.0) * (1.0 - _MARGIN) - _LEVEL_FLOOR

    @property
    def max_db(self) -> float:
        return float(self.peak_db.max())

    def gain_to_audio_rate(
        self,
        previous: float,
        smoothed: list[float],
        shift: float,
        sign: float,
        scale: float,
        offset: float,
        last: float | None,
    ) -> tuple[np.ndarray, float]:
        """Per-sample linear gain for the segment: the knot values g[k] = scale·10^(sign·(smoothed[k] + shift)/20) +
        offset (g[−1] replaced by ``last`` when given), linearly from ``previous`` (the gain before the segment)
        to g[k] at period k's end. Returns (gains, g[−1])."""
        grid = self.grid
        values = grid.gain_values
        values[:] = smoothed
        if shift != 0.0:
            values += shift
        values /= sign * _DB_PER_NEPER
        np.exp(values, out=values)
        if scale != 1.0:
            values *= scale
        if offset != 0.0:
            values += offset
        if last is not None:
            values[-1] = last
        knots = grid.gain_knots
        knots[0] = previous
        if grid.uniform:
            out = np.dot(grid.gain_pairs, grid.weights).reshape(-1)
        else:
            out = np.interp(grid.positions, grid.knots, knots)
        return out, float(knots[-1])


def time_constant_coefficient(ms: float, rate: int) -> float:
    """Per-sample one-pole coefficient exp(−1/(τ·fs)) for time constant τ = ms; 0 ms means instantaneous (0)."""
    if ms <= 0.0:
        return 0.0
    return math.exp(-1000.0 / (ms * rate))


class Detector:
    """Hold → exponential release → attack smoothing of an active quantity in dB, once per control period."""

    def __init__(self, rate: int, attack_ms: float, hold_ms: float, release_ms: float) -> None:
        self.rate = rate
        self.period = control_period(rate)
        self.held = 0.0  # z after the last period (dB)
        self.smoothed = 0.0  # y after the last period (dB)
        self.hold_left = 0  # samples of hold still to run before z may fall
        self.set_times(attack_ms, hold_ms, release_ms)

    def set_times(self, attack_ms: float, hold_ms: float, release_ms: float) -> None:
        self.attack_coeff = time_constant_coefficient(attack_ms, self.rate)
        self.release_coeff = time_constant_coefficient(max(release_ms, 1e-3), self.rate)
        self.hold_samples = round(hold_ms * self.rate / 1000.0)
        self.hold_left = min(self.hold_left, self.hold_samples)
        self.per_period = self.release_coeff**self.period, self.attack_coeff**self.period  # (release, attack)

    def retimed(self, attack_ms: float, hold_ms: float, release_ms: float) -> Detector:
        """A copy of this detector's state with new time constants."""
        new = Detector(self.rate, attack_ms, hold_ms, release_ms)
        new.held, new.smoothed = self.held, self.smoothed
        new.hold_left = min(self.hold_left, new.hold_samples)
        return new

    def reset(self, value: float) -> None:
        """Put the detector at rest on ``value`` dB (used when a processor is switched in)."""
        self.held = self.smoothed = value
        self.hold_left = 0

    def map_state(self, convert) -> None:
        """Apply a conversion to the state values (e.g. openness → attenuation on a mode change)."""
        self.held = float(convert(np.float64(self.held)))
        self.smoothed = float(convert(np.float64(self.smoothed)))

    def at_rest(self, value: float) -> bool:
        return self.held == value and self.smoothed == value

    def process(self, active: np.ndarray | list[float], grid: ControlGrid, knee: Knee | None = None) -> list[float]:
        """Ballistics for the active quantity of each control period of the segment; returns the smoothed quantity
        at each period end. The state is committed at the last whole-period boundary (see ControlGrid). With
        ``knee``, ``active`` holds levels (dB) and the compressor's gain computer turns them into gain reduction on
        the way (one loop instead of two).

        A plain loop over Python floats: at a few dozen periods per block it costs less than any vectorised form
        (numpy's per-call overhead dominates at that size) and it reads as the recursion it is.
        """
        values = active if isinstance(active, list) else active.tolist()
        out: list[float] = []
        whole = values[:-1] if grid.open else values
        release, attack = self.per_period
        if knee is None:
            state = _ballistics(
                whole, self.held, self.smoothed, self.hold_left, self.hold_samples, self.period, release, attack, out
            )
        else:
            threshold, half, width, curve, top, slope = knee
            state = _knee_ballistics(
                whole,
                threshold,
                half,
                width,
                curve,
                top,
                slope,
                self.held,
                self.smoothed,
                self.hold_left,
                self.hold_samples,
                self.period,
                release,
                attack,
                out,
            )
        self._commit(*state)
        if grid.open:  # the open period is provisional: evaluated on what has been seen of it, not committed
            period = grid.lengths[-1]
            coefficients = self.release_coeff**period, self.attack_coeff**period
            if knee is None:
                _ballistics(values[-1:], *state, self.hold_samples, period, *coefficients, out)
            else:
                _knee_ballistics(values[-1:], *knee, *state, self.hold_samples, period, *coefficients, out)
        return out

    def held_through(self, reaching: np.ndarray) -> bool:
        """For a detector at rest on its held value (held = smoothed), over whole periods of which only those where
        ``reaching`` is True bring the quantity up to it (the others are below it): if the hold timer alone carries
        it through every period below (no release starts), the recursion leaves held and smoothed exactly where they
        are and only moves the hold timer; then do that and return True. Otherwise change nothing, return False."""
        period, hold = self.period, self.hold_samples
        count = len(reaching)
        restarts = np.flatnonzero(reaching).tolist()
        if not restarts:  # all below: one run from the current timer
            if (count - 1) * period >= self.hold_left:
                return False
            self.hold_left -= count * period
            return True
        # A run of n periods below needs the timer still running at its last one: (n − 1)·K < timer at its start.
        first = restarts[0]
        if first > 0 and (first - 1) * period >= self.hold_left:
            return False
        previous = first
        for index in restarts[1:]:
            gap = index - previous - 1
            if gap > 0 and (gap - 1) * period >= hold:
                return False
            previous = index
        tail = count - 1 - previous
        if tail > 0 and (tail - 1) * period >= hold:
            return False
        self.hold_left = hold - tail * period
        return True

    def _commit(self, held: float, smoothed: float, hold_left: int) -> None:
        # What is inaudibly close to rest is snapped to exactly rest, so that the fast paths can take over.
        self.held = held if held > REST_DB else 0.0
        self.smoothed = smoothed if smoothed > REST_DB else 0.0
        self.hold_left = hold_left


def _ballistics(
    values: list[float],
    held: float,
    smoothed: float,
    hold_left: int,
    hold_samples: int,
    period: int,
    release: float,
    attack: float,
    out: list[float],
) -> tuple[float, float, int]:
    """The detector recursion (module docstring) over periods of ``period`` samples; appends the smoothed value of
    each to ``out`` and returns the state (held, smoothed, hold_left) after the last one."""
    append = out.append
    for value in values:
        if value >= held:  # rise at once and (re)start the hold
            held, hold_left = value, hold_samples
        elif hold_left > 0:
            hold_left -= period
        else:
            held *= release
            if value > held:
                held = value
        smoothed = held + attack * (smoothed - held)
        append(smoothed)
    return held, smoothed, hold_left


#: The compressor's gain computer as plain floats: (threshold, knee/2, knee, slope/(2·knee), knee²·slope/(2·knee),
#: slope) with slope = 1 − 1/ratio; a hard knee has knee = 0 and zeros for the two knee terms.
Knee = tuple[float, float, float, float, float, float]


def _knee_ballistics(
    levels: list[float],
    threshold: float,
    half: float,
    knee: float,
    curve: float,
    top: float,
    slope: float,
    held: float,
    smoothed: float,
    hold_left: int,
    hold_samples: int,
    period: int,
    release: float,
    attack: float,
    out: list[float],
) -> tuple[float, float, int]:
    """:func:`_ballistics` on the gain reduction of each level: Compressor.reduction's arithmetic, the same
    operations in the same order (so the same values), inlined here to save a pass over the periods."""
    append = out.append
    for level in levels:
        over = level - threshold
        inside = over + half
        if inside <= 0.0:  # below the knee
            value = 0.0
        elif inside < knee:  # in the knee
            value = inside * inside * curve
        else:  # above the knee
            over -= half
            value = top + slope * over if over > 0.0 else top
        # the detector recursion, as in _ballistics
        if value >= held:
            held, hold_left = value, hold_samples
        elif hold_left > 0:
            hold_left -= period
        else:
            held *= release
            if value > held:
                held = value
        smoothed = held + attack * (smoothed - held)
        append(smoothed)
    return held, smoothed, hold_left


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
        rest = self._rest
        resting = self.last_gain == 1.0 and self.detector.at_rest(rest)
        bridging = resting and settings.mode != "DUCK" and levels.grid.uniform
        if resting and settings.mode != "DUCK":
            # EXPn/GATE: the active quantity is at rest (= range) exactly in the periods at or over the threshold.
            if levels.surely_all_above(settings.threshold_db):
                return 1.0  # open, and every period keeps it so (active == range throughout)
            reaching = levels.surely_reaching(settings.threshold_db) if bridging else None
            if reaching is not None:
                if self.detector.held_through(reaching):
                    return 1.0  # open, and the hold bridges every period under the threshold: still exactly open
                bridging = False  # decided: the detector releases in this segment
        active = self.active(levels.peak_db)
        if resting:
            reaching = active == rest
            if reaching.all():
                return 1.0  # un-attenuated and staying so: nothing to compute
            if bridging and self.detector.held_through(reaching):
                return 1.0  # as above, decided on the exact levels (a period within the margin of the threshold)
        smoothed = self.detector.process(active, levels.grid)
        if settings.mode != "DUCK":  # snap to rest (exp∘log is not exact) so the fast path can take over
            detector = self.detector
            if detector.held >= settings.range_db - REST_DB:
                detector.held = settings.range_db
            if detector.smoothed >= settings.range_db - REST_DB:
                detector.smoothed = settings.range_db
        duck = settings.mode == "DUCK"  # gain (dB) = −attenuation (DUCK) or openness − range
        out, self.last_gain = levels.gain_to_audio_rate(
            self.last_gain,
            smoothed,
            0.0 if duck else -settings.range_db,
            -1.0 if duck else 1.0,
            1.0,
            0.0,
            1.0 if self.detector.at_rest(rest) else None,
        )
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
        self._derive()
        self.last_gain = self._resting

    def retuned(self, settings: CompressorSettings) -> Compressor:
        """New settings continuing from this state: gain reduction means the same thing under any settings."""
        new = Compressor.__new__(Compressor)
        new.settings = settings
        new.detector = self.detector.retimed(settings.attack_ms, settings.hold_ms, settings.release_ms)
        new._derive()
        new.last_gain = self.last_gain
        return new

    def _derive(self) -> None:
        """Constants of the settings used on every segment."""
        self._resting = self._resting_gain()
        self._knee_terms = self._knee()
        self._mix = self.settings.mix_percent / 100.0
        self._wet = self._mix * 10.0 ** (self.settings.makeup_db / 20.0)  # gain of the compressed share at GR = 0

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

    def _knee(self) -> Knee:
        settings = self.settings
        threshold, knee, slope = settings.threshold_db, settings.knee_db, 1.0 - 1.0 / settings.ratio
        if knee <= 0.0:  # hard knee: slope·max(over, 0)
            return threshold, 0.0, 0.0, 0.0, 0.0, slope
        curve = slope / (2.0 * knee)
        return threshold, knee / 2.0, knee, curve, knee * knee * curve, slope

    def gain(self, levels: ControlLevels, scale: float = 1.0) -> np.ndarray | float:
        """Linear gain per sample of the segment whose control levels are given, times ``scale`` (a steady gain
        that follows, e.g. the fader: folded into the few knot values instead of a pass over the samples)."""
        resting = self._resting
        detector = self.detector
        if self.last_gain == resting and detector.at_rest(0.0):
            settings = self.settings
            knee_start = settings.threshold_db - settings.knee_db / 2.0
            if levels.surely_all_below(knee_start) or levels.max_db < knee_start:
                return resting * scale if scale != 1.0 else resting  # below the knee, nothing to release: constant
        smoothed = detector.process(levels.peak_db.tolist(), levels.grid, self._knee_terms)
        at_rest = detector.at_rest(0.0)
        out, last = levels.gain_to_audio_rate(  # mix·10^(makeup/20)·10^(−GR/20) + (1 − mix)
            self.last_gain * scale,
            smoothed,
            0.0,
            -1.0,
            self._wet * scale,
            (1.0 - self._mix) * scale,
            resting * scale if at_rest else None,
        )
        self.last_gain = resting if at_rest else last / scale if scale != 1.0 else last
        return out

"""Background-fault analysis of one audio window: gate → pre-judgement → event location → precise classification.

The method, step by step, for a window (a behaviour tag's span plus roll, or the last second when audio alone
triggers):

1. **Level/activity gate** (:class:`LevelGate`): RMS, peak and spectral flux. A silent window is clean and never
   reaches the model; the same gate is the daemon's audio-only trigger when no tag is open.
2. **Features**: the window is resampled to 16 kHz and turned into log-mel frames (``features.py``); the daemon's
   streaming path reuses frames already computed for overlapping windows (:class:`StreamingFaultAnalyser`).
3. **Pre-judgement**: the model (which applies its background mask internally) scores sub-windows covering the whole
   window; a type goes on only if some sub-window beats ``prejudge_ratio × threshold``.
4. **Start/end point detection**: inside the sub-windows that passed, a type-specific deterministic curve finds the
   event: energy jumps in the low band (thumps, pops) or high band (key clicks) refined to the millisecond on the
   band envelope, flat full-scale runs (clipping), the envelope of the measured hum/howl frequency, or a rise of the
   noise floor (hiss, music).
5. **Precise classification**: the model scores the located event (its frames centred in the model's window) and
   the per-type threshold decides; several types may fire together (one score per type, never an arg-max).
6. **Measurement**: hum fundamental (harmonic comb, parabolic interpolation), howl frequency, reconstructed true
   peak. A hum or feedback verdict with nothing measurable to notch is dropped: the table cannot act on it and a
   comb-less "hum" is far more likely a sung note than mains.

A behaviour tag (``prior``) lowers the thresholds of the fault types it predicts by ``prior_boost`` (≤ 0.2): the
camera says where to look, the audio must still show the fault.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from math import gcd
from pathlib import Path
from typing import Protocol

import numpy as np

from liverec_edge.audio import measure
from liverec_edge.audio.features import (
    ANALYSIS_RATE,
    FeatureParams,
    StreamingLogMel,
    hz_to_mel,
    logmel,
    mel_to_hz,
)
from liverec_edge.audio.settings import (
    REPORTABLE_FAULTS,
    SUSTAINED_THRESHOLD_RATIO,
    AudioSettings,
    GateSettings,
)
from liverec_edge.tflite import ModelError
from liverec_edge.types import FAULT_TYPES, AudioBlock, AudioWindow, FaultEvent

log = logging.getLogger(__name__)

MIN_RATE = 8_000
MAX_RATE = 384_000
FRAME_S = 0.01  # log-mel hop


class AnalysisInputError(ValueError):
    """Audio the analysis cannot judge: wrong shape, unsupported sample rate, NaN/inf samples."""


class ScoringModel(Protocol):
    """What the analysis needs of the fault model (``audio.model.FaultModel`` provides it)."""

    window_frames: int
    thresholds: Mapping[str, float]

    def scores(self, logmel_window: np.ndarray) -> np.ndarray: ...

    # A model that also takes features of the samples (FaultModel with ``extra_features``) sets ``needs_samples``
    # and accepts ``scores(logmel_window, samples=...)``: the window's own 16 kHz samples.


@dataclass
class _ScoreCache:
    """Model scores of one analysed span by model-window start frame, each computed once; ``x16`` is the span's
    16 kHz signal (frame ``j`` covers ``x16[j*hop : j*hop + win]``) for models that take features of the samples."""

    x16: np.ndarray
    scores: dict[int, np.ndarray] = field(default_factory=dict)


# --- 1. the gate ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateResult:
    """The cheap look at a window: levels (dBFS), largest spectral-flux jump (dB) and whether it is worth analysing."""

    levels: measure.Levels
    flux_db: float
    active: bool


class LevelGate:
    """RMS/peak/flux gate: a window below the silence levels is clean without running the model."""

    def __init__(self, settings: GateSettings):
        self.settings = settings

    def check(self, samples: np.ndarray, rate: int, frames: np.ndarray | None = None) -> GateResult:
        levels = measure.measure_levels(samples, rate)
        flux = 0.0
        if frames is not None and frames.shape[0] > 1:
            # Mean positive change of the log-mel between frames, in dB: a transient's signature.
            diff = np.diff(frames.astype(np.float64), axis=0) * (10.0 / np.log(10.0))
            flux = float(np.max(np.mean(np.maximum(diff, 0.0), axis=1)))
        silent = levels.rms_dbfs < self.settings.silence_dbfs and levels.peak_dbfs < self.settings.silence_peak_dbfs
        return GateResult(levels, flux, not silent)


# --- results --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowAnalysis:
    """Everything the analysis found in one window; ``measurements`` feed the strategy table's expressions."""

    events: list[FaultEvent]
    gate: GateResult
    #: best score per type over the window (pre-judgement), empty when the gate skipped the model
    window_scores: dict[str, float] = field(default_factory=dict)
    measurements: dict[str, float] = field(default_factory=dict)
    #: the window's best score of each type judged over several windows (``sustained_windows`` > 1), 0 where the
    #: window's physics rules the type out; empty when the gate skipped the model
    sustained_scores: dict[str, float] = field(default_factory=dict)
    #: the span of audio analysed, seconds on the window's clock (None when nothing was)
    span: tuple[float, float] | None = None


# --- per-type event location ----------------------------------------------------------------------------------------

#: How each fault type is located in time: kind of curve and band (see ``_locate``).
LOCATORS: dict[str, tuple[str, str]] = {
    "mic_handling": ("transient", "low"),
    "plosive": ("transient", "low"),
    "keyboard": ("transient", "high"),
    "cough": ("transient", "all"),
    "clipping": ("clip", "all"),
    "hum": ("tone", "low"),
    "feedback": ("tone", "all"),
    "hiss": ("floor", "high"),
    "background_music": ("floor", "all"),
}
#: Gaps (s) bridged inside one event: the pauses between key presses, between the bumps of one handling.
MAX_GAP_S: dict[str, float] = {"keyboard": 0.8, "mic_handling": 0.4, "plosive": 0.2, "cough": 0.3}
TRANSIENT_ABOVE_FLOOR_DB = 12.0
STRONG_WITHIN_DB = 6.0  # a transient this close to the strongest one near the onset can be the onset
#: Gate thresholds used with the model's own thresholds when the model carries none for a type.
DEFAULT_THRESHOLD = 0.5
#: Plausibility limits (dBFS) below which a model verdict is dropped: what the strategy would fix is not there.
CLIP_PLAUSIBLE_DBFS = -0.5  # without flat runs, the true peak must reach within 0.5 dB of full scale (lossy codecs
#: overshoot it; mastered music limited to -1 dBFS does not, and the fault model alone calls it clipping)
HISS_PLAUSIBLE_DBFS = -80.0  # 10th-percentile energy of the 2.5–8 kHz band: hiss under this is inaudible
#: A tone that has fallen this far (dB) from its peak over the last 300 ms of the region is a note dying away, not a
#: howl: feedback holds or grows until the fader comes down.
HOWL_MAX_DECAY_DB = 10.0
#: A tone whose level, once it has come within 6 dB of its highest, falls this far (dB) between two higher levels
#: comes and goes: repeated notes (the same celesta note struck every beat), not a howl, which grows and holds.
HOWL_MAX_DIP_DB = 15.0
MUSIC_PLAUSIBLE_DBFS = -65.0  # 10th-percentile energy of the whole band: music bleed fills the talker's pauses
ONSET_SCAN_S = 0.05  # step of the model-window scan that narrows a transient's onset
ONSET_LAG_S = 0.3  # how far before the first window end that scores a fault its onset may lie


class FaultAnalyser:
    """Names the background faults in audio windows.

    ``FaultAnalyser(settings, model_dir)`` loads the fault model (``ModelError`` if it is missing or corrupt: the
    daemon then runs without fault analysis). Tests and tools may pass ``model=`` any object with ``window_frames``,
    ``thresholds`` and ``scores(frames)``.
    """

    def __init__(self, settings: AudioSettings, model_dir: Path | None = None, *, model: ScoringModel | None = None):
        self.settings = settings
        if model is None:
            try:
                from liverec_edge.audio.model import FaultModel
            except ImportError as exc:
                raise ModelError(f"fault model code is not available: {exc}") from None
            model = FaultModel.load(Path(model_dir) if model_dir else settings.resolved_model_dir(),
                                    num_threads=settings.num_threads)
        self.model = model
        self.window_frames = int(model.window_frames)
        self.gate = LevelGate(settings.gate)
        self.params = FeatureParams()
        edges = mel_to_hz(np.linspace(float(hz_to_mel(self.params.fmin)), float(hz_to_mel(self.params.fmax)),
                                      self.params.n_mels + 2))
        self._bands = measure.band_weights(np.asarray(edges[1:-1]))
        self._type_index = {name: i for i, name in enumerate(FAULT_TYPES)}

    # -- thresholds --

    def threshold(self, fault_type: str, prior: str | None = None) -> float:
        override = self.settings.type_settings(fault_type).threshold
        base = override if override is not None else float(self.model.thresholds.get(fault_type, DEFAULT_THRESHOLD))
        if prior is not None and fault_type in self.settings.behaviour_priors.get(prior, ()):
            base -= self.settings.prior_boost
        return float(min(0.99, max(0.05, base)))

    def sustained_threshold(self, fault_type: str) -> float:
        """Threshold on a sustained type's mean score over its ``sustained_windows`` (no behaviour prior: the
        evidence is the audio's alone)."""
        override = self.settings.type_settings(fault_type).sustained_threshold
        return float(override) if override is not None else SUSTAINED_THRESHOLD_RATIO * self.threshold(fault_type)

    def sustained_types(self) -> dict[str, int]:
        """Enabled types judged over several windows, with their window counts."""
        return {name: ts.sustained_windows for name in REPORTABLE_FAULTS
                if (ts := self.settings.type_settings(name)).enabled and ts.sustained_windows > 1}

    # -- public API --

    def analyse(self, window: AudioWindow, prior: str | None = None) -> list[FaultEvent]:
        """Fault events in ``window`` (times on the window's clock). ``prior`` defaults to the window's tag."""
        return self.analyse_detailed(window, prior).events

    def analyse_detailed(self, window: AudioWindow, prior: str | None = None) -> WindowAnalysis:
        samples, rate = _validated(window.samples, window.rate)
        if prior is None and window.tag is not None:
            prior = window.tag.behaviour
        max_n = int(self.settings.max_window_s * rate)
        start = float(window.start)
        if samples.size > max_n:  # analyse the newest part: it is what the console can still act on
            start += (samples.size - max_n) / rate
            samples = samples[-max_n:]
        gate = self.gate.check(samples, rate)
        if not gate.active:  # silence: no resampling, no features, no model
            return WindowAnalysis([], gate, {}, {"peak_dbfs": gate.levels.peak_dbfs,
                                                 "level_dbfs": gate.levels.level_dbfs,
                                                 "floor_dbfs": gate.levels.floor_dbfs})
        x16 = _to_16k(samples, rate)
        frames = logmel(x16, self.params)
        return self._analyse(samples, rate, start, x16, frames, prior, gate)

    # -- the pipeline --

    def _analyse(self, native: np.ndarray, rate: int, t0: float, x16: np.ndarray, frames: np.ndarray,
                 prior: str | None, gate: GateResult | None = None) -> WindowAnalysis:
        gate = gate or self.gate.check(native, rate)
        clipping = measure.find_clipping(native, self.settings.gate.clip_dbfs, self.settings.gate.clip_min_run)
        measurements = {
            "peak_dbfs": clipping.true_peak_dbfs if clipping.clipped else gate.levels.peak_dbfs,
            "level_dbfs": gate.levels.level_dbfs,
            "floor_dbfs": gate.levels.floor_dbfs,
        }
        analysed = (t0, t0 + native.size / rate)
        if not gate.active or frames.shape[0] < 3:
            return WindowAnalysis([], gate, {}, measurements, span=analysed)

        # 3. pre-judgement over sub-windows covering the window
        starts = _subwindow_starts(frames.shape[0], self.window_frames)
        cache = _ScoreCache(x16)
        sub_scores = np.stack([self._scores_at(frames, s, cache) for s in starts])
        window_scores = {name: float(sub_scores[:, i].max()) for name, i in self._type_index.items()}

        events: list[FaultEvent] = []
        duration = native.size / rate
        for name in REPORTABLE_FAULTS:
            if not self.settings.type_settings(name).enabled:
                continue
            threshold = self.threshold(name, prior)
            column = sub_scores[:, self._type_index[name]]
            positive = column >= threshold * self.settings.prejudge_ratio
            deterministic_clip = name == "clipping" and _clipping_is_sure(clipping)
            if not positive.any() and not deterministic_clip:
                continue
            if deterministic_clip and not positive.any():
                positive = np.ones_like(positive)
            # 4. locate the event inside the region the model pointed at
            for region in _regions(starts, positive, self.window_frames, frames.shape[0]):
                onset_limit = None
                if LOCATORS[name][0] == "transient":
                    region, onset_limit = self._narrow_onset(name, region, starts, frames, threshold, cache)
                span, freq = self._locate(name, region, native, rate, x16, frames, clipping, onset_limit)
                if span is None:
                    continue
                first, last = span  # seconds from the window start
                # 5. precise classification on the located event
                score = self._event_score(name, frames, first, last, cache, starts)
                if deterministic_clip:
                    score = max(score, _clip_confidence(clipping))
                if score < threshold:
                    continue
                # 6. a tone fault needs its tone
                if name in ("hum", "feedback") and freq is None:
                    log.debug("dropped %s: no measurable tone", name)
                    continue
                veto = self._physically_implausible(name, clipping, frames)
                if veto:
                    log.debug("dropped %s: %s", name, veto)
                    continue
                events.append(FaultEvent(
                    type=name, score=round(float(score), 4),
                    start=t0 + max(0.0, first), end=t0 + min(duration, max(last, first + FRAME_S)),
                    freq=None if freq is None else round(float(freq), 3),
                ))
        events.sort(key=lambda e: (e.start, e.type))
        sustained = {name: self._sustained_score(name, window_scores[name], clipping, frames)
                     for name in self.sustained_types()}
        return WindowAnalysis(events, gate, window_scores, measurements, sustained, analysed)

    def _sustained_score(self, name: str, score: float, clipping: measure.Clipping, frames: np.ndarray) -> float:
        """A window's contribution to its type's mean over several windows: its score, or 0 where the physics rules
        the type out. The check costs ~0.3 ms; a score under a tenth of the mean's threshold cannot lift the mean,
        so it is counted as it is."""
        if score < 0.1 * self.sustained_threshold(name):
            return score
        return 0.0 if self._physically_implausible(name, clipping, frames) else score

    def _physically_implausible(self, name: str, clipping: measure.Clipping, frames: np.ndarray) -> str:
        """Why a model verdict cannot be right for this audio ('' when it can): checks of physics the strategy
        would act on. Each drops verdicts that would change the console for nothing."""
        if name == "clipping" and not clipping.clipped and clipping.true_peak_dbfs < CLIP_PLAUSIBLE_DBFS:
            return f"no flat runs and peaks at {clipping.true_peak_dbfs:.1f} dBFS"
        if name == "hiss":
            floor = float(np.percentile(measure.band_energy_db(frames, self._bands["high"]), 10))
            if floor < HISS_PLAUSIBLE_DBFS:
                return f"high-band floor {floor:.1f} dBFS is below audibility"
        if name == "background_music":
            floor = float(np.percentile(measure.band_energy_db(frames, self._bands["all"]), 10))
            if floor < MUSIC_PLAUSIBLE_DBFS:
                return f"the pauses are quiet ({floor:.1f} dBFS): nothing plays underneath"
        return ""

    def _scores_at(self, frames: np.ndarray, start: int, cache: _ScoreCache) -> np.ndarray:
        """Model scores of the model window starting at frame ``start`` (padded when the window is short)."""
        if start in cache.scores:
            return cache.scores[start]
        w = self.window_frames
        chunk = frames[max(0, start): start + w]
        short = w - chunk.shape[0]
        if short > 0:
            # Too short for the model: pad in front with the window's quietest frame (its room tone), never with
            # copies of the event itself, which would change what the model sees.
            quiet = frames[int(np.argmin(frames.sum(axis=1)))]
            chunk = np.concatenate([np.repeat(quiet[None, :], short, axis=0), chunk])
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        if getattr(self.model, "needs_samples", False):
            hop, n = self.params.hop_length, self.params.n_samples(w)
            first = max(0, start) * hop
            samples = cache.x16[first: first + n - short * hop]
            # The padded frames' samples read as silence (the features of the samples start where the audio does).
            samples = np.concatenate([np.zeros(n - samples.size, np.float32), samples.astype(np.float32)])
            raw = self.model.scores(chunk, samples=samples)
        else:
            raw = self.model.scores(chunk)
        scores = np.asarray(raw, dtype=np.float64).reshape(-1)[: len(FAULT_TYPES)]
        scores = np.where(np.isfinite(scores), scores, 0.0)
        cache.scores[start] = scores
        return scores

    def _narrow_onset(self, name: str, region: tuple[int, int], starts: Sequence[int], frames: np.ndarray,
                      threshold: float, cache: _ScoreCache) -> tuple[tuple[int, int], int | None]:
        """Narrow a transient fault's onset search with the model itself: slide a model window's end through the
        half-hop where the verdict changed (every 50 ms); the fault began within ``ONSET_LAG_S`` before the first end
        that scores it (the model was trained to fire when only the last 100–300 ms hold the fault)."""
        w, n = self.window_frames, frames.shape[0]
        if n <= w:  # one model window: nothing to narrow, the deterministic search covers it all
            return region, None
        index = self._type_index[name]
        first_start = region[0]
        previous = [s for s in starts if s < first_start]
        lo_end = (previous[-1] + w) if previous else min(n, 20)
        hi_end = min(n, first_start + w)
        step = max(1, int(ONSET_SCAN_S / FRAME_S))
        for end in range(lo_end, hi_end + 1, step):
            if self._scores_at(frames, end - w, cache)[index] >= threshold * self.settings.prejudge_ratio:
                lag = int(ONSET_LAG_S / FRAME_S)
                return (max(0, end - lag), max(region[1], end)), end
        return region, None

    def _event_score(self, name: str, frames: np.ndarray, first_s: float, last_s: float,
                     cache: _ScoreCache, starts: Sequence[int] = ()) -> float:
        """Score of ``name`` on the located event: for a short event, the best of the window centred on it and the
        pre-judgement windows holding it whole; over a long one, the mean over windows tiling it (a long event must
        hold up across its length, not in one lucky window)."""
        w, n = self.window_frames, frames.shape[0]
        first = int(first_s / FRAME_S)
        last = max(first + 1, int(np.ceil(last_s / FRAME_S)))
        index = self._type_index[name]
        if n <= w:
            return float(self._scores_at(frames, 0, cache)[index])
        if last - first <= w:
            centre = (first + last) // 2
            start = int(min(max(0, centre - w // 2), n - w))
            # The window centred on the event, and every pre-judgement window that holds the whole event: where the
            # event sits in the window should not decide whether it is heard (the model was trained on faults
            # anywhere in the window, down to its last 100 ms).
            holding = [s for s in starts if s <= first and s + w >= last]
            return float(max(self._scores_at(frames, s, cache)[index] for s in [start, *holding]))
        starts = range(max(0, first), max(first, min(last, n) - w) + 1, w // 2)
        values = [self._scores_at(frames, min(s, n - w), cache)[index] for s in starts]
        return float(np.mean(values)) if values else 0.0

    def _locate(self, name: str, region: tuple[int, int], native: np.ndarray, rate: int, x16: np.ndarray,
                frames: np.ndarray, clipping: measure.Clipping,
                onset_limit: int | None = None) -> tuple[tuple[float, float] | None, float | None]:
        """(start, end) in seconds from the window start, and the measured frequency, of ``name`` in ``region``
        (frame indices of the sub-windows that passed the pre-judgement)."""
        kind, band = LOCATORS[name]
        lo_f, hi_f = region
        region_s = (lo_f * FRAME_S, (hi_f - 1) * FRAME_S + self.params.win_length / ANALYSIS_RATE)
        if kind == "clip":
            runs = [(s / rate, e / rate) for s, e in clipping.runs if region_s[0] <= s / rate <= region_s[1]]
            if runs:
                return (runs[0][0], runs[-1][1]), None
            return region_s, None
        if kind == "tone":
            a, b = int(region_s[0] * ANALYSIS_RATE), int(region_s[1] * ANALYSIS_RATE)
            if name == "hum":
                # A hum that starts late in the region is diluted by the hum-free part: retry on the region's
                # newest 2 s, 1.5 s ... 0.5 s before giving up.
                hum = measure.measure_hum(x16[a:b], self.settings.mains_hz)
                for seconds in (2.0, 1.5, 1.0, 0.75, 0.5):
                    length = int(seconds * ANALYSIS_RATE)
                    if hum is not None or length >= b - a:
                        continue
                    hum = measure.measure_hum(x16[b - length: b], self.settings.mains_hz)
                if hum is None:
                    return region_s, None
                return _tone_span(x16, ANALYSIS_RATE, hum.freq, region_s, width=4.0, rise_db=6.0), hum.freq
            # Feedback grows: measure where it is loudest, the last part of the region.
            na, nb = int(region_s[0] * rate), int(region_s[1] * rate)
            tail = native[max(na, nb - int(0.5 * rate)): nb]
            hum = measure.measure_hum(x16[a:b], self.settings.mains_hz)
            howl = measure.measure_howl(tail, rate, mains_hz=hum.freq if hum else self.settings.mains_hz)
            if howl is None:
                return region_s, None
            width = max(10.0, howl.freq * 0.01)
            if _tone_decay_db(native, rate, howl.freq, region_s[1], width) > HOWL_MAX_DECAY_DB:
                log.debug("dropped feedback: the %.0f Hz tone is dying away (a note, not a howl)", howl.freq)
                return region_s, None
            if _tone_dip_db(native, rate, howl.freq, region_s, width) > HOWL_MAX_DIP_DB:
                log.debug("dropped feedback: the %.0f Hz tone comes and goes (repeated notes, not a howl)", howl.freq)
                return region_s, None
            span = _tone_span(native, rate, howl.freq, region_s, width=width, rise_db=20.0)
            return span, howl.freq
        if kind == "transient":
            limit_s = None if onset_limit is None else onset_limit * FRAME_S + 0.025
            return _transient_span(name, x16, region_s, MAX_GAP_S.get(name, 0.3), limit_s), None
        energy = measure.band_energy_db(frames, self._bands[band])
        return _floor_span(energy, lo_f, hi_f), None


# --- helpers --------------------------------------------------------------------------------------------------------


def _validated(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    if not isinstance(rate, (int, np.integer)) or isinstance(rate, bool):
        raise AnalysisInputError(f"sample rate must be an integer number of Hz, got {rate!r}")
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise AnalysisInputError(f"unsupported sample rate {rate} Hz (the analysis takes {MIN_RATE}–{MAX_RATE} Hz)")
    x = np.asarray(samples)
    if x.ndim == 2:  # (n, channels): analyse the mix, as the console hears the channel
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise AnalysisInputError(f"expected mono samples (n,) or (n, channels), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise AnalysisInputError(f"samples must be numbers, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    bad = int(np.count_nonzero(~np.isfinite(x)))
    if bad:
        raise AnalysisInputError(f"{bad} of {x.size} samples are NaN or infinite: the capture is broken, not the room")
    return x, int(rate)


@lru_cache(maxsize=16)
def _poly_taps(up: int, down: int) -> np.ndarray:
    """``resample_poly``'s own default anti-alias FIR (Kaiser β 5, 10 zero crossings), designed once per ratio:
    designing it costs as much as filtering a second of audio."""
    from scipy.signal import firwin

    max_rate = max(up, down)
    taps = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0)).astype(np.float32)
    taps.flags.writeable = False
    return taps


def _resample(x: np.ndarray, up: int, down: int) -> np.ndarray:
    from scipy.signal import resample_poly

    return resample_poly(np.asarray(x, np.float32), up, down, window=_poly_taps(up, down))


def _to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == ANALYSIS_RATE:
        return samples.astype(np.float32, copy=False)
    g = gcd(ANALYSIS_RATE, rate)
    return _resample(samples, ANALYSIS_RATE // g, rate // g).astype(np.float32, copy=False)


def _subwindow_starts(n_frames: int, w: int) -> list[int]:
    if n_frames <= w:
        return [0]
    hop = max(1, w // 2)
    starts = list(range(0, n_frames - w + 1, hop))
    if starts[-1] != n_frames - w:
        starts.append(n_frames - w)
    return starts


def _regions(starts: Sequence[int], positive: np.ndarray, w: int, n: int) -> list[tuple[int, int]]:
    """Contiguous runs of positive sub-windows → frame ranges [first, last)."""
    regions: list[tuple[int, int]] = []
    for start, ok in zip(starts, positive, strict=True):
        if not ok:
            continue
        end = min(n, start + w)
        if regions and start <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(regions[-1][1], end))
        else:
            regions.append((start, end))
    return regions


def _clipping_is_sure(clipping: measure.Clipping) -> bool:
    # Two flat full-scale runs, or one long one: a converter or gain stage hit the rails; no model needed.
    return len(clipping.runs) >= 2 or any(e - s >= 8 for s, e in clipping.runs)


def _clip_confidence(clipping: measure.Clipping) -> float:
    return float(min(0.99, 0.7 + 0.03 * len(clipping.runs)))


@dataclass(frozen=True, slots=True)
class TransientKind:
    """How a transient fault shows in its band: ``impulse`` = a spike over the median of its surroundings (a key
    click is a few ms long, a fricative is not); ``rise`` = a jump over the recent past (a thump or a cough)."""

    band: tuple[float | None, float | None]  # Hz (low, high) of the band filter; None = open
    block_ms: float
    mode: str
    context_ms: float
    threshold_db: float


TRANSIENTS: dict[str, TransientKind] = {
    "keyboard": TransientKind((None, None), 5.0, "rise", 150.0, 10.0),
    "mic_handling": TransientKind((None, 250.0), 5.0, "rise", 150.0, 12.0),
    "plosive": TransientKind((None, 250.0), 5.0, "rise", 150.0, 12.0),
    "cough": TransientKind((300.0, 4000.0), 5.0, "rise", 150.0, 10.0),
}


@lru_cache(maxsize=64)
def _butter(order: int, lo: float | None, hi: float | None, rate: int) -> np.ndarray | None:
    """Butterworth sections, designed once per (band, rate): the design costs more than filtering a second."""
    from scipy.signal import butter

    if lo is not None and hi is not None:
        return butter(order, [lo, hi], "bandpass", fs=rate, output="sos")
    if lo is not None:
        return butter(order, lo, "highpass", fs=rate, output="sos")
    if hi is not None:
        return butter(order, hi, "lowpass", fs=rate, output="sos")
    return None


def _band_filter(x16: np.ndarray, band: tuple[float | None, float | None]) -> np.ndarray:
    from scipy.signal import sosfilt

    sos = _butter(4, band[0], band[1], ANALYSIS_RATE)
    if sos is None:
        return x16.astype(np.float64)
    # Causal filtering: an onset must never be smeared earlier than it happened.
    return sosfilt(sos, x16.astype(np.float64))


def _transient_span(name: str, x16: np.ndarray, region_s: tuple[float, float], max_gap_s: float,
                    onset_limit_s: float | None = None) -> tuple[float, float] | None:
    """Onsets of the fault's transients in its band within ``region_s``, grouped into one event.

    Works on band energy in 1–2 ms blocks of the 16 kHz signal, so an onset is located to a block, not to a 25 ms
    frame: the start of the first strong transient (at least half as strong, in dB, as the strongest in the region)
    is where the event starts; transients closer than ``max_gap_s`` belong to the same event.
    """
    from scipy.ndimage import median_filter

    kind = TRANSIENTS[name]
    block = max(1, int(kind.block_ms * ANALYSIS_RATE / 1000))
    n = x16.size // block
    if n < 8:
        return None
    y = _band_filter(x16, kind.band)
    power = np.mean(y[: n * block].reshape(n, block) ** 2, axis=1)
    # Smooth over 15 ms: voiced speech puts a burst of energy on every glottal pulse (every 4–12 ms), which a
    # finer look would take for a train of clicks.
    power = np.convolve(power, np.ones(3) / 3.0, mode="same")
    energy = measure.db(power, power=True)
    context = max(3, int(kind.context_ms / kind.block_ms))
    if kind.mode == "impulse":
        background = median_filter(energy, size=2 * context + 1, mode="nearest")
    else:
        # Median of the preceding context (``origin`` makes the window end at the block), shifted to end one
        # block before: what the band was doing just before.
        trailing = median_filter(energy, size=context, mode="nearest", origin=(context - 1) // 2)
        background = np.concatenate([[trailing[0]], trailing[:-1]])
    excess = energy - background
    quiet = float(np.percentile(energy, 10))
    a = int(region_s[0] * ANALYSIS_RATE / block)
    b = min(n, int(np.ceil(region_s[1] * ANALYSIS_RATE / block)))
    candidates = np.flatnonzero((excess >= kind.threshold_db) & (energy >= quiet + TRANSIENT_ABOVE_FLOOR_DB))
    candidates = candidates[(candidates >= a) & (candidates < b)]
    if candidates.size == 0:
        return None
    # The onset is the first strong transient (within STRONG_WITHIN_DB of the strongest) before
    # the point where the model saw the fault; later ones only extend the event.
    early = candidates
    if onset_limit_s is not None:
        limit = int(np.ceil(onset_limit_s * ANALYSIS_RATE / block))
        early = candidates[candidates <= limit] if np.any(candidates <= limit) else candidates
    strong = early[excess[early] >= float(excess[early].max()) - STRONG_WITHIN_DB]
    if strong.size == 0:
        strong = early
    first = int(strong[0])
    gap_blocks = int(max_gap_s * 1000 / kind.block_ms)
    last = first
    for c in candidates[candidates > first]:
        if c - last > gap_blocks:
            break
        last = int(c)
    # Step back to where the rise began: the first block of the run that is already well above the background.
    while first > 0 and excess[first - 1] >= 0.5 * excess[first] and first > a:
        first -= 1
    end = last
    limit = min(n, last + int(500 / kind.block_ms))
    while end + 1 < limit and excess[end + 1] >= 6.0:
        end += 1
    start_s = first * block / ANALYSIS_RATE
    end_s = (end + 1) * block / ANALYSIS_RATE
    return start_s, max(end_s, start_s + 0.02)


def _step_onset(curve_db: np.ndarray, min_step_db: float = 6.0) -> int | None:
    """Change point of a curve that steps up and stays up: the split minimising the squared error of a two-level
    fit (O(n) with cumulative sums). None when the best split rises less than ``min_step_db``.

    This is the right question for a stationary fault (hum, hiss, music) that starts under speech: a threshold on
    the level is fooled by speech bumps, but speech does not hold a level; the fault does.
    """
    y = np.asarray(curve_db, dtype=np.float64)
    n = y.size
    if n < 8:
        return None
    c1, c2 = np.cumsum(y), np.cumsum(y * y)
    k = np.arange(2, n - 1)  # split before index k: [0, k) and [k, n)
    left_n, right_n = k, n - k
    left_sum, right_sum = c1[k - 1], c1[-1] - c1[k - 1]
    left_sq, right_sq = c2[k - 1], c2[-1] - c2[k - 1]
    cost = (left_sq - left_sum**2 / left_n) + (right_sq - right_sum**2 / right_n)
    best = int(np.argmin(cost))
    split = int(k[best])
    if right_sum[best] / right_n[best] - left_sum[best] / left_n[best] < min_step_db:
        return None
    return split


def _floor_span(energy: np.ndarray, lo_f: int, hi_f: int) -> tuple[float, float]:
    """Span where the band's noise floor (running minimum over 200 ms) has stepped up; the whole region when it
    does not step (the fault was there before the window began)."""
    from scipy.ndimage import minimum_filter1d

    floor = minimum_filter1d(energy, size=21, mode="nearest")
    region = (lo_f * FRAME_S, hi_f * FRAME_S + 0.015)
    onset = _step_onset(floor[lo_f:hi_f])
    if onset is None:
        return region
    # The running minimum lags a rising floor by half its length.
    return max(0.0, (lo_f + onset - 10) * FRAME_S), region[1]


def _tone_envelope_db(x: np.ndarray, rate: int, freq: float, width: float, step: int,
                      zero_phase: bool) -> np.ndarray | None:
    """RMS level (dB) of ``x`` in the band ``freq`` ± ``width``, per ``step`` samples; None when the band or the signal
    is too narrow to measure. Zero-phase for locating onsets; causal where the level at the very end is read (a
    zero-phase filter smears the segment's edge)."""
    from scipy.signal import sosfilt, sosfiltfilt

    lo, hi = max(1.0, freq - width), min(rate / 2.0 * 0.99, freq + width)
    if hi <= lo or x.size < max(64, step):
        return None
    sos = _butter(2, round(lo, 1), round(hi, 1), rate)  # rounded: a handful of designs serve every hum
    band = (sosfiltfilt if zero_phase else sosfilt)(sos, x.astype(np.float64))
    n = band.size // step
    return measure.db(np.sqrt(np.mean(band[: n * step].reshape(n, step) ** 2, axis=1)))


def _tone_decay_db(x: np.ndarray, rate: int, freq: float, end_s: float, width: float, span_s: float = 0.3) -> float:
    """How far (dB) a tone's narrow-band level at ``end_s`` has fallen from its highest over the ``span_s`` before:
    a howl holds or grows until someone pulls the fader, a played note (celesta, piano, plucked string) dies away."""
    b = min(x.size, int(end_s * rate))
    a = max(0, b - int((span_s + 0.1) * rate))  # 100 ms more for the filter to settle
    step = max(1, int(0.02 * rate))  # 20 ms steps, several periods of any howl worth notching
    env_db = _tone_envelope_db(x[a:b], rate, freq, width, step, zero_phase=False) if b - a >= 0.2 * rate else None
    if env_db is None:
        return 0.0
    settled = env_db[int(0.1 * rate) // step :]
    if settled.size < 4:
        return 0.0
    return float(settled.max() - settled[-3:].mean())


def _tone_dip_db(x: np.ndarray, rate: int, freq: float, region_s: tuple[float, float], width: float) -> float:
    """The deepest valley (dB) in a tone's narrow-band level inside ``region_s``, once the tone has first come within
    6 dB of its highest: ~0 for a howl (it grows, then holds at that level; a talker in the band only adds to it),
    deep for a note struck again and again (it dies away and is struck anew). A valley's depth is how far the level
    falls under the lower of the highest levels before and after it. Causal 20 ms envelope."""
    step = max(1, int(0.02 * rate))
    b = min(x.size, int(region_s[1] * rate))
    a = max(0, int(region_s[0] * rate) - int(0.1 * rate))  # 100 ms more for the filter to settle
    env_db = _tone_envelope_db(x[a:b], rate, freq, width, step, zero_phase=False) if b - a >= 0.3 * rate else None
    if env_db is None:
        return 0.0
    env_db = env_db[int(0.1 * rate) // step :]
    if env_db.size < 6:
        return 0.0
    env_db = env_db[int(np.argmax(env_db >= env_db.max() - 6.0)) :]
    before = np.maximum.accumulate(env_db)
    after = np.maximum.accumulate(env_db[::-1])[::-1]
    return float(np.max(np.minimum(before, after) - env_db))


def _tone_span(x: np.ndarray, rate: int, freq: float, region_s: tuple[float, float], width: float,
               rise_db: float) -> tuple[float, float]:
    """Span of a tone from its zero-phase narrow-band envelope (1 ms steps): onset at the envelope's step up when
    it has one (else the region's start); end where it last stays within ``rise_db`` of its steady level."""
    env_db = _tone_envelope_db(x, rate, freq, width, max(1, rate // 1000), zero_phase=True)
    if env_db is None:
        return region_s
    n = env_db.size
    period_ms = max(1, int(1000.0 / freq))
    env_db = np.convolve(env_db, np.ones(period_ms) / period_ms, mode="same")  # one period: no ripple
    a, b = int(region_s[0] * 1000), min(n, int(np.ceil(region_s[1] * 1000)))
    if b - a < 16:
        return region_s
    onset = _step_onset(env_db[a:b])
    start_ms = a + onset if onset is not None else a
    steady = float(np.median(env_db[start_ms:b]))
    if onset is not None:
        # The zero-phase filter spreads the onset symmetrically, so the true onset is where the envelope reaches
        # half amplitude (-6 dB); look for it only near the change point, where speech bumps cannot pass for it.
        # Walk back from just after the change point to the last moment the envelope was under half amplitude:
        # a speech bump further back cannot pull the onset early.
        near = np.arange(max(a, start_ms - 80), min(b, start_ms + 200))
        below = near[env_db[near] < steady - 6.0]
        if below.size:
            start_ms = int(below[-1]) + 1
    active = np.flatnonzero(env_db[start_ms:b] >= steady - rise_db)
    end_ms = start_ms + int(active[-1]) + 1 if active.size else b
    if b - end_ms <= max(period_ms, 30):  # the envelope sags within one smoothing length of the edge
        end_ms = b
    return start_ms / 1000.0, end_ms / 1000.0


# --- streaming use in the daemon ------------------------------------------------------------------------------------


class SustainedEvidence:
    """Stationary faults judged over several consecutive windows, the same way offline and in the daemon.

    Music bleeding into a talker's microphone is heard in the talker's pauses: one window scores it high, the next,
    full of speech, low. Each type with ``sustained_windows`` N > 1 keeps its last N window scores
    (``WindowAnalysis.sustained_scores``: 0 where the window's physics rules it out, or the gate found nothing to
    analyse); when their mean reaches ``FaultAnalyser.sustained_threshold`` and the newest window reported no event
    of that type itself, ``push`` returns one spanning the N windows, scored with the mean (no frequency). The
    window counts and thresholds are read from the analyser's settings on every push, so a live reconfigure applies.
    """

    def __init__(self, analyser: FaultAnalyser):
        self.analyser = analyser
        self._recent: dict[str, list[tuple[float, float]]] = {}  # per type: (window start, score), oldest first

    def push(self, start: float, end: float, analysis: WindowAnalysis) -> list[FaultEvent]:
        """Add the analysis of the window [start, end]; the sustained events it completes."""
        found = {e.type for e in analysis.events}
        # windows further apart than this did not follow each other (a skipped poll, audio missing): start again
        max_step_s = 1.5 * self.analyser.settings.hop_s
        events = []
        for name, count in self.analyser.sustained_types().items():
            recent = self._recent.setdefault(name, [])
            if recent and not 0.0 <= start - recent[-1][0] <= max_step_s:
                recent.clear()
            recent.append((start, float(analysis.sustained_scores.get(name, 0.0))))
            del recent[:-count]
            if len(recent) < count or name in found:
                continue
            mean = sum(score for _, score in recent) / count
            if mean >= self.analyser.sustained_threshold(name):
                events.append(FaultEvent(type=name, score=round(mean, 4), start=recent[0][0], end=end, freq=None))
        return events


class StreamResampler:
    """Any rate → 16 kHz, block by block, giving the same samples as ``resample_poly`` over the whole stream.

    Each call resamples the new input with enough context either side for the polyphase filter, emits only the
    output the filter has fully seen, and keeps the rest: the output lags the input by under 1 ms of samples.
    """

    def __init__(self, rate: int):
        self.rate = int(rate)
        g = gcd(ANALYSIS_RATE, self.rate)
        self.up, self.down = ANALYSIS_RATE // g, self.rate // g
        half_in = 10 * max(self.up, self.down) / self.up  # resample_poly's default filter half-length, in input samples
        self.context = int(np.ceil(half_in / self.down + 1)) * self.down
        self._buffer = np.zeros(self.context, np.float32)  # leading zeros = resample_poly's own edge padding
        self._buffer_start = -self.context  # input index of _buffer[0]
        self.emitted = 0  # output samples produced so far

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self.rate == ANALYSIS_RATE:
            out = np.asarray(samples, np.float32)
            self.emitted += out.size
            return out
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, np.float32)])
        usable = self._buffer.size - 2 * self.context
        usable -= usable % self.down
        if usable <= 0:
            return np.zeros(0, np.float32)
        y = _resample(self._buffer[: usable + 2 * self.context], self.up, self.down)
        first = self.context * self.up // self.down
        out = y[first: first + usable * self.up // self.down].astype(np.float32)
        self._buffer = self._buffer[usable:]
        self._buffer_start += usable
        self.emitted += out.size
        return out


class SampleRing:
    """The newest ``capacity`` samples of a stream in a preallocated ring, addressed by absolute sample index."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._data = np.zeros(self.capacity, np.float32)
        self.total = 0  # samples appended since the start of the stream

    @property
    def oldest(self) -> int:
        return max(0, self.total - self.capacity)

    def append(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float32)
        if x.size > self.capacity:  # only the newest fit
            self.total += x.size - self.capacity
            x = x[-self.capacity:]
        pos = self.total % self.capacity
        first = min(x.size, self.capacity - pos)
        self._data[pos: pos + first] = x[:first]
        self._data[: x.size - first] = x[first:]
        self.total += x.size

    def slice(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) by absolute index, clamped to what is held."""
        start, stop = max(start, self.oldest), min(stop, self.total)
        if stop <= start:
            return np.zeros(0, np.float32)
        a, b = start % self.capacity, stop % self.capacity
        if a < b:
            return self._data[a:b].copy()
        return np.concatenate([self._data[a:], self._data[:b]])


class StreamingFaultAnalyser:
    """The daemon's use: feed capture blocks as they arrive; analyse any recent span reusing the log-mel frames.

    ``feed(block)`` keeps the last ``history_s`` seconds (native samples for measurement, 16 kHz samples and log-mel
    frames for the model). ``analyse_span(start, end, prior)`` analyses a tag's span; ``poll()`` is the audio-only
    trigger: when the gate is active it analyses the newest ``window_s`` (at least one whole model window) and
    returns the events of
    ``audio_only_types`` confirmed by ``confirm_windows`` consecutive analyses (a tag confirms on its own; audio
    alone must repeat itself, and speech-like faults wait for the camera).
    """

    def __init__(self, analyser: FaultAnalyser, rate: int, history_s: float = 12.0):
        if not MIN_RATE <= int(rate) <= MAX_RATE:
            raise AnalysisInputError(f"unsupported sample rate {rate} Hz")
        self.analyser = analyser
        self.settings = analyser.settings
        self.rate = int(rate)
        self.history_s = max(float(history_s), self.settings.window_s + 2.0)
        self._resampler = StreamResampler(self.rate)
        self._features = StreamingLogMel(history_frames=int(self.history_s / FRAME_S) + 2)
        self._native = SampleRing(int(self.history_s * self.rate))
        self._x16 = SampleRing(int(self.history_s * ANALYSIS_RATE))
        self._pending: list[np.ndarray] = []
        self._pending_count = 0
        self._t0: float | None = None  # time of the first fed sample
        self._native_total = 0
        self._streaks: dict[str, int] = {}
        self._streak_freq: dict[str, float | None] = {}
        #: False while the camera is down (the daemon runs audio-only): every fault type may then act from audio
        #: alone, since no tag will ever confirm the speech-like ones.
        self.camera_available = True
        self._last_poll_end = -np.inf
        self._evidence = SustainedEvidence(analyser)

    @property
    def now(self) -> float:
        """Time just after the newest sample fed."""
        return (self._t0 or 0.0) + self._native_total / self.rate

    def feed(self, block: AudioBlock) -> None:
        if block.rate != self.rate:
            raise AnalysisInputError(f"block rate {block.rate} Hz differs from the stream's {self.rate} Hz")
        x = np.asarray(block.samples, np.float32)
        x = x.mean(axis=1) if x.ndim == 2 else x.reshape(-1)
        if not np.isfinite(x).all():  # keep the stream's timing: a broken block becomes silence
            log.warning("non-finite samples in capture block replaced by silence", extra={"fields": {"t0": block.t0}})
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        if self._t0 is None:
            self._t0 = float(block.t0)
        else:
            # Keep the stream on the capture clock: a gap (dropped blocks) is filled with silence, an overlap is
            # trimmed, so every later time still maps to the right sample.
            gap = round((float(block.t0) - self.now) * self.rate)
            if gap > self.rate // 200:  # over 5 ms: not clock jitter
                filled = min(gap, int(self.history_s * self.rate))
                self._append(np.zeros(filled, np.float32))
                self._t0 += (gap - filled) / self.rate  # a gap longer than the history only moves the clock
            elif gap < -(self.rate // 200):
                x = x[min(x.size, -gap):]
        self._append(x)

    def _append(self, x: np.ndarray) -> None:
        self._native.append(x)
        self._native_total += x.size
        self._pending.append(x)
        self._pending_count += x.size
        if self._pending_count >= self.rate // 10:
            self._flush()

    def _flush(self) -> None:
        """Resample and compute features for the pending capture: in 100 ms batches, since per-call overhead made
        20 ms blocks cost five times as much as the arithmetic (analysis flushes first, so nothing is missed)."""
        if not self._pending:
            return
        x = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        self._pending_count = 0
        y = self._resampler.push(x)
        self._features.push(y)
        self._x16.append(y)

    def analyse_span(self, start: float, end: float, prior: str | None = None) -> WindowAnalysis:
        """Analyse [start, end] (clamped to the history), reusing the frames computed as audio arrived."""
        if self._t0 is None:
            raise AnalysisInputError("no audio fed yet")
        self._flush()
        params = self._features.params
        end = min(end, self._t0 + (self._resampler.emitted) / ANALYSIS_RATE)
        start = max(start, end - self.settings.max_window_s, self.now - self.history_s + 0.05)
        first_frame = max(int(np.ceil((start - self._t0) / FRAME_S)), self._features.oldest_frame)
        last_frame = min(int(((end - self._t0) * ANALYSIS_RATE - params.win_length) // params.hop_length) + 1,
                         self._features.frames_total)
        if last_frame - first_frame < 3:
            levels = measure.Levels(-240.0, -240.0, -240.0, -240.0)
            return WindowAnalysis([], GateResult(levels, 0.0, False))
        frames = self._features.window(first_frame, last_frame - first_frame)
        t_start = self._t0 + first_frame * params.hop_length / ANALYSIS_RATE
        a16 = first_frame * params.hop_length
        b16 = (last_frame - 1) * params.hop_length + params.win_length
        x16 = self._x16.slice(a16, b16)
        native = self._native.slice(round((t_start - self._t0) * self.rate),
                                    round((t_start - self._t0 + x16.size / ANALYSIS_RATE) * self.rate))
        return self.analyser._analyse(native, self.rate, t_start, x16, frames, prior)

    def poll(self) -> list[FaultEvent]:
        """The audio-only decision: analyse the newest window if a hop has passed; confirmed events only."""
        result = self.poll_detailed()
        return [] if result is None else result.events

    def poll_detailed(self) -> WindowAnalysis | None:
        """``poll`` with the window's measurements (what the strategy table's expressions read): the analysis of the
        newest window with only the confirmed events, or None when no hop has passed since the last poll."""
        # at least one whole model window (plus the resampler's lag), as the offline analysis takes: a shorter span
        # reaches the model padded in front with copied room tone and silent samples
        span_s = max(self.settings.window_s, self.analyser.window_frames * FRAME_S + 0.05)
        if self._t0 is None or self.now - self._t0 < span_s:
            return None  # not yet a whole window of audio since the stream began
        if self.now - self._last_poll_end < self.settings.hop_s - 1e-9:
            return None  # judged less than a hop ago
        self._last_poll_end = self.now
        result = self.analyse_span(self.now - span_s, self.now)
        sustained = self._evidence.push(*result.span, result) if result.span is not None else []
        # A type judged over several windows still needs confirm_windows such verdicts in a row to act alone. They
        # share most of their windows, so this adds a second or so of patience, not independent evidence.
        return replace(result, events=self.confirm(result.events + sustained))

    def confirm(self, events: list[FaultEvent]) -> list[FaultEvent]:
        """The audio-only decision for one analysis of the newest window: update the per-type streaks and return
        the events of ``audio_only_types`` whose streak reached ``confirm_windows``."""
        seen = {e.type: e for e in events}
        for name in REPORTABLE_FAULTS:
            event = seen.get(name)
            if event is None:
                self._streaks[name] = 0
                continue
            previous = self._streak_freq.get(name)
            # A hum or a howl keeps its frequency from one window to the next; a melody does not.
            same_tone = (event.freq is None or previous is None
                         or abs(event.freq - previous) <= max(2.0, 0.01 * previous))
            self._streaks[name] = self._streaks.get(name, 0) + 1 if same_tone else 1
            self._streak_freq[name] = event.freq
        allowed = self.settings.audio_only_types if self.camera_available else REPORTABLE_FAULTS
        confirmed = []
        for e in events:
            windows = self.settings.type_settings(e.type).confirm_windows
            if e.type not in allowed or self._streaks[e.type] < windows:
                continue
            if e.type == "feedback" and e.freq is not None and not self._tone_held(e.freq, windows):
                self._streaks[e.type] = 0
                continue
            confirmed.append(e)
        return confirmed

    def _tone_held(self, freq: float, windows: int) -> bool:
        """Whether a tone at ``freq`` held over every window of its streak (the newest ``window_s`` and the hops
        before): each window alone saw a tone, but repeated notes of one pitch dip between strikes, a howl does not
        (:func:`_tone_dip_db`)."""
        span = int((self.settings.window_s + (windows - 1) * self.settings.hop_s) * self.rate)
        x = self._native.slice(self._native.total - span, self._native.total)
        dip = _tone_dip_db(x, self.rate, freq, (0.1, x.size / self.rate), max(10.0, freq * 0.01))
        if dip > HOWL_MAX_DIP_DB:
            log.debug("feedback not confirmed: the %.0f Hz tone dipped %.0f dB over %d windows", freq, dip, windows)
            return False
        return True

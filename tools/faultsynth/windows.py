"""Labelled fault windows: a talker (real speech or a pause) in room tone, plus 0–3 concurrent faults.

One window is ``WINDOW_SAMPLES`` = 16 240 samples at 16 kHz (1.015 s = exactly 100 log-mel frames). Each fault is
placed in one of three ways: over the whole window, starting somewhere in the middle, or only in its last
100–300 ms (the daemon must react early). Levels are set against the talker's active speech level (−38 to −14 dBFS),
so the set spans quiet and hot microphones. Everything is drawn from a ``numpy.random.Generator`` seeded per window,
so a split is reproducible from ``(seed, split, index)`` alone.

Besides the mixture, a window keeps its two known parts — the talker (speech + room tone) and the background (the sum
of the faults, plus the distortion residual for clipping) — whose log-mels give the ideal ratio mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from liverec_edge.audio.features import EXTRA_FEATURE_FUNCTIONS, EXTRA_FEATURES, FeatureParams, logmel
from liverec_edge.types import FAULT_TYPES

from . import generators as gen
from .sources import RATE, SPLIT_NAMES, SplitSources, is_rendered, load_split

PARAMS = FeatureParams()
WINDOW_FRAMES = 100
WINDOW_SAMPLES = PARAMS.n_samples(WINDOW_FRAMES)
FAULTS: tuple[str, ...] = tuple(t for t in FAULT_TYPES if t != "clean")
SUSTAINED = {"hum", "hiss", "background_music", "feedback", "clipping"}
PLACEMENTS = ("full", "mid", "tail")
MIN_FAULT_S = 0.1  # a fault must own at least this much of the window to be labelled


@dataclass
class Window:
    """One labelled window: the mixture and its known parts (float32, 16 kHz) and per-type annotations."""

    mixture: np.ndarray
    talker: np.ndarray
    background: np.ndarray
    labels: np.ndarray  # (len(FAULT_TYPES),) uint8, multi-hot; clean = no fault
    onset_s: np.ndarray  # per type, NaN when absent
    offset_s: np.ndarray
    freq_hz: np.ndarray  # hum fundamental / feedback howl frequency, NaN otherwise
    speech_level_dbfs: float
    has_speech: bool
    placement: dict[str, str] = field(default_factory=dict)
    source: str = ""  # the talker's recording ("" without a talker)
    music_source: str = ""  # the music's recording or render ("" without background_music)


def _excerpt(rng: np.random.Generator, audio: np.ndarray, n: int) -> np.ndarray:
    if audio.size <= n:
        return np.pad(audio, (0, n - audio.size)).astype(np.float32)
    start = int(rng.integers(0, audio.size - n))
    return audio[start : start + n].astype(np.float32)


def _pick(rng: np.random.Generator, items: list[tuple[str, np.ndarray]]) -> tuple[str, np.ndarray]:
    """One source: half the picks from the real recordings and half from the rendered ones when both are present.

    Uniform over the list, a dozen rendered talkers would drown the two real ones. With one group only, exactly one
    draw is made, as before the rendered material existed: the windows of the real-only splits stay identical.
    """
    real = [item for item in items if not is_rendered(item[0])]
    rendered = [item for item in items if is_rendered(item[0])]
    group = items
    if real and rendered:
        group = real if rng.random() < 0.5 else rendered
    return group[int(rng.integers(len(group)))]


def _speech(rng: np.random.Generator, sources: SplitSources, n: int, augment: bool) -> tuple[str, np.ndarray]:
    name, audio = _pick(rng, sources.speech)
    if augment:  # train only: speed ±20 %, broad EQ, tilt, band limits, reverberation — more talkers and rooms
        from scipy.signal import resample_poly

        ratios = [(5, 4), (6, 5), (25, 23), (25, 24), (1, 1), (24, 25), (23, 25), (5, 6), (4, 5)]
        up, down = ratios[int(rng.integers(len(ratios)))]
        chunk = _excerpt(rng, audio, int(n * up / down) + 64)
        x = resample_poly(chunk, down, up).astype(np.float32)[:n] if (up, down) != (1, 1) else chunk[:n]
        x = np.pad(x, (0, max(0, n - x.size)))
        for _ in range(int(rng.integers(0, 3))):  # vocal tract / microphone colour: broad peaks and dips
            x = gen.peaking_eq(x, float(rng.uniform(200, 5000)), float(rng.uniform(-8, 8)), float(rng.uniform(0.7, 2)))
        if rng.random() < 0.5:  # first-order tilt: brighter or duller microphone/voice
            alpha = float(rng.uniform(-0.6, 0.6))
            x = (x - alpha * np.concatenate([[0.0], x[:-1]])).astype(np.float32)
        if rng.random() < 0.4:
            x = gen.bandlimit(x, float(rng.uniform(60, 350)), float(rng.uniform(3000, 7500)))  # phone/old/cheap mic
        elif rng.random() < 0.4:  # proximity effect of a close cardioid: a broad bass boost under 250 Hz
            x = (x + float(rng.uniform(0.5, 2.0)) * gen.lowpass(x, float(rng.uniform(150, 300)), 2)).astype(np.float32)
        if rng.random() < 0.4:  # rooms up to a hall / public-address reverberation
            x = gen.reverberate(rng, x, wet=float(rng.uniform(0.1, 0.7)), max_rt60=1.8)
        if rng.random() < 0.2:
            x = x + _murmur(rng, sources, n) * gen.db(float(rng.uniform(-25, -10))) * gen.active_rms(x)
        return name, x
    return name, _excerpt(rng, audio, n)


def _murmur(rng: np.random.Generator, sources: SplitSources, n: int) -> np.ndarray:
    """Distant voices (an audience, people in the next room): 3–6 speed-shifted, reverberant excerpts of the split's
    speech summed, unit active level. Part of the talker's side, i.e. clean: it is not one of the fault types, and
    without it any texture under the voice looked like background music to the model."""
    from scipy.signal import resample_poly

    out = np.zeros(n, np.float32)
    for _ in range(int(rng.integers(3, 7))):
        _, audio = _pick(rng, sources.speech)
        up, down = [(5, 4), (6, 5), (1, 1), (5, 6), (4, 5)][int(rng.integers(5))]
        voice = resample_poly(_excerpt(rng, audio, int(n * up / down) + 64), down, up)[:n].astype(np.float32)
        out[: voice.size] += voice * gen.db(float(rng.uniform(-6, 0)))
    out = gen.reverberate(rng, gen.lowpass(out, float(rng.uniform(2500, 5000)), 2), 0.7, max_rt60=1.5)
    return out / max(gen.active_rms(out), 1e-6)


#: How many faults a window holds (0, 1, 2, 3), by default: what the validation and test splits are built with.
FAULT_COUNT_WEIGHTS: tuple[float, float, float, float] = (0.26, 0.46, 0.22, 0.06)


def _pick_faults(rng: np.random.Generator, count_weights: tuple[float, ...] = FAULT_COUNT_WEIGHTS) -> list[str]:
    count = int(rng.choice(len(count_weights), p=np.asarray(count_weights) / np.sum(count_weights)))
    return list(rng.choice(FAULTS, size=count, replace=False))


def _placement(rng: np.random.Generator, n: int) -> tuple[str, int]:
    mode = str(rng.choice(PLACEMENTS, p=[0.5, 0.2, 0.3]))
    if mode == "tail":
        return mode, n - int(rng.uniform(0.1, 0.3) * RATE)
    if mode == "mid":
        return mode, int(rng.uniform(0.15, 0.7) * n)
    return mode, 0


def make_window(rng: np.random.Generator, sources: SplitSources, augment: bool = False,
                faults: list[str] | None = None,
                count_weights: tuple[float, ...] = FAULT_COUNT_WEIGHTS) -> Window:
    """Build one window. ``faults`` forces the fault set (None = drawn at random, with ``count_weights`` the
    probabilities of 0, 1, 2, 3 … faults; empty = clean)."""
    n = WINDOW_SAMPLES
    chosen = _pick_faults(rng, count_weights) if faults is None else list(faults)
    has_speech = rng.random() < 0.85 or "plosive" in chosen or "clipping" in chosen
    level_db = float(rng.uniform(-38.0, -14.0))
    source = ""
    music_source = ""
    if has_speech:
        source, speech = _speech(rng, sources, n, augment)
        if gen.active_rms(speech) < 1e-4:  # an excerpt of pure pause: take the file's level instead
            speech = speech * 0.0
        else:
            speech = speech * (gen.db(level_db) / gen.active_rms(speech))
        peak = float(np.max(np.abs(speech)))
        if peak > 0.7:  # a clean talker never overloads: keep 3 dB of headroom
            speech *= 0.7 / peak
    else:
        speech = np.zeros(n, np.float32)
    talker = speech + gen.room_tone(rng, n) * gen.db(float(rng.uniform(-85.0, -65.0)))

    k = len(FAULT_TYPES)
    labels = np.zeros(k, np.uint8)
    onset = np.full(k, np.nan, np.float32)
    offset = np.full(k, np.nan, np.float32)
    freq = np.full(k, np.nan, np.float32)
    background = np.zeros(n, np.float64)
    placement: dict[str, str] = {}
    clip_spec: tuple[int, float, bool] | None = None

    for fault in chosen:
        mode, start = _placement(rng, n)
        end = n
        signal: np.ndarray | None = None
        if fault == "hum":
            mains = sources.mains[int(rng.integers(len(sources.mains)))]
            mains_hz = 50.0 if rng.random() < 0.6 else 60.0
            sig, f0 = gen.hum(rng, mains, n, mains_hz)
            signal = sig * gen.db(float(rng.uniform(max(-65.0, level_db - 35.0), level_db - 6.0)))
            freq[FAULT_TYPES.index(fault)] = f0
        elif fault == "hiss":
            signal = gen.hiss(rng, n) * gen.db(float(rng.uniform(max(-58.0, level_db - 35.0), level_db - 8.0)))
        elif fault == "background_music":
            music_source, music = _pick(rng, sources.music)
            sig = _excerpt(rng, music, n)
            if augment and rng.random() < 0.5:  # other keys/tempi/timbres than the two training tracks
                from scipy.signal import resample_poly

                up, down = [(5, 4), (4, 5), (6, 5), (5, 6)][int(rng.integers(4))]
                sig = resample_poly(_excerpt(rng, music, int(n * up / down) + 64), down, up)[:n].astype(np.float32)
                sig = np.pad(sig, (0, max(0, n - sig.size)))
                sig = gen.bandlimit(sig, float(rng.uniform(40, 300)), float(rng.uniform(3000, 7900)))
            if rng.random() < 0.5:  # heard through the room from a speaker: duller and reverberant
                sig = gen.reverberate(rng, gen.lowpass(sig, float(rng.uniform(2500, 6000)), 2), 0.4)
            target = float(rng.uniform(max(-60.0, level_db - 25.0), level_db - 6.0))
            signal = sig * (gen.db(target) / max(gen.active_rms(sig), 1e-6))
        elif fault == "keyboard":
            sig = gen.keyboard(rng, sources.keypresses, n, start, n if mode != "mid" else
                               min(n, start + int(rng.uniform(0.2, 0.6) * RATE)))
            signal = sig * gen.db(min(-3.0, level_db + float(rng.uniform(-5.0, 15.0))))
            end = int(np.flatnonzero(np.abs(sig) > 1e-4)[-1]) + 1 if np.any(np.abs(sig) > 1e-4) else n
        elif fault == "mic_handling":
            stop = n if mode == "tail" else min(n, start + int(rng.uniform(0.2, 0.8) * RATE))
            sig = gen.mic_handling(rng, n, start, stop)
            signal = sig * gen.db(min(-1.0, level_db + float(rng.uniform(5.0, 20.0))))
            end = stop
        elif fault == "plosive":
            onsets = gen.speech_onsets(speech)
            lo = start if mode != "full" else 0
            candidates = onsets[(onsets >= lo) & (onsets < n - int(MIN_FAULT_S * RATE))]
            at = int(rng.choice(candidates)) if candidates.size else (start if mode != "full" else
                                                                       int(rng.uniform(0.05, 0.7) * n))
            start = at
            sig = gen.plosive(rng, n, at)
            signal = sig * gen.db(min(-0.5, level_db + float(rng.uniform(10.0, 24.0))))
            end = min(n, at + int(0.15 * RATE))
        elif fault == "cough":
            sig = gen.cough(rng, n, start if mode != "full" else int(rng.uniform(0.0, 0.5) * n))
            start = int(np.flatnonzero(np.abs(sig) > 1e-4)[0]) if np.any(np.abs(sig) > 1e-4) else start
            signal = sig * gen.db(min(-1.0, level_db + float(rng.uniform(0.0, 18.0))))
            end = int(np.flatnonzero(np.abs(sig) > 1e-3)[-1]) + 1 if np.any(np.abs(sig) > 1e-3) else n
        elif fault == "feedback":
            if mode == "full":
                start = int(rng.uniform(0.0, 0.3) * n)
            excitation = talker + gen.room_tone(rng, n) * gen.db(-60.0)
            sig, f_howl = gen.feedback(rng, excitation.astype(np.float64), start)
            # Level the howl where it has grown, over the last 250 ms: from audible ringing 10 dB under the talker
            # to a howl 6 dB over. (Scaled by its peak, a slowly growing loop left a third of the labelled
            # "feedback" 10–40 dB under the talker in the window's end: inaudible, and no engineer would mark it.)
            tail = sig[max(start, n - int(0.25 * RATE)) :]
            target = gen.db(level_db + float(rng.uniform(-10.0, 6.0))) / max(gen.rms(tail), 1e-6)
            signal = sig * min(target, gen.db(-1.0) / max(float(np.max(np.abs(sig))), 1e-6))
            freq[FAULT_TYPES.index(fault)] = f_howl
        elif fault == "clipping":
            clip_spec = (start, float(rng.uniform(2.0, 14.0)), bool(rng.random() < 0.7))
            continue
        if signal is None:
            continue
        if fault in SUSTAINED and start > 0:
            fade = np.ones(n, np.float32)
            fade[:start] = 0.0
            ramp = min(n - start, int(0.01 * RATE))
            fade[start : start + ramp] = np.linspace(0.0, 1.0, ramp)
            signal = signal * fade
        if end - start < int(MIN_FAULT_S * RATE) and fault not in ("plosive", "cough", "keyboard", "mic_handling"):
            continue
        background += signal
        index = FAULT_TYPES.index(fault)
        labels[index] = 1
        onset[index] = start / RATE
        offset[index] = end / RATE
        placement[fault] = mode

    mixture = (talker + background).astype(np.float32)
    if clip_spec is not None:
        start, over_db, hard = clip_spec
        segment = mixture[start:]
        peak = float(np.max(np.abs(segment))) if segment.size else 0.0
        if peak > 1e-4:
            driven = segment * (gen.db(over_db) / peak)
            clipped = gen.clip(driven, rng, hard)
            overloaded = int(np.sum(np.abs(driven) > (1.0 if hard else 0.8)))
            if overloaded >= 8:  # at least a few samples really overloaded: a label the signal supports
                post = gen.db(float(rng.uniform(-10.0, 0.0))) if rng.random() < 0.5 else 1.0
                scale = gen.db(over_db) / peak
                residual = clipped - driven
                mixture = mixture.copy()
                mixture[start:] = clipped
                mixture *= post
                # the talker and the other faults were amplified too: the parts scale the same way
                talker_gain = np.ones(n)
                talker_gain[start:] = scale
                talker = talker * talker_gain * post
                background = (background * talker_gain + np.concatenate([np.zeros(start), residual])) * post
                index = FAULT_TYPES.index("clipping")
                labels[index] = 1
                onset[index] = start / RATE
                offset[index] = n / RATE
                placement["clipping"] = "full" if start == 0 else ("tail" if n - start <= 0.3 * RATE else "mid")
    else:
        peak = float(np.max(np.abs(mixture)))
        if peak > 0.95:  # a loud pop or howl without the clipping label must not overload: the desk trims it
            scale = 0.95 / peak
            mixture, talker, background = mixture * scale, talker * scale, background * scale
    if augment and rng.random() < 0.3:
        # the channel (microphone, preamp, codec) colours everything alike; mild enough to keep every label true
        lo, hi = float(rng.uniform(20, 90)), float(rng.uniform(5000, 7900))
        mixture, talker, background = (gen.bandlimit(np.asarray(part, np.float32), lo, hi)
                                       for part in (mixture, talker, background))
    if not labels.any():
        labels[FAULT_TYPES.index("clean")] = 1
    return Window(
        mixture=mixture.astype(np.float32),
        talker=np.asarray(talker, np.float32),
        background=np.asarray(background, np.float32),
        labels=labels,
        onset_s=onset,
        offset_s=offset,
        freq_hz=freq,
        speech_level_dbfs=level_db,
        has_speech=bool(has_speech),
        placement=placement,
        source=source,
        music_source=music_source,
    )


def window_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one window: independent of how many windows are built or in which order."""
    return np.random.default_rng([int(seed), SPLIT_NAMES.index(split), int(index)])


def build_split(media_dir: Path, split: str, count: int, seed: int, augment: bool | None = None,
                faults: list[str] | None = None, rendered: bool = True, keep_samples: bool = False,
                jobs: int = 1, soundtracks: bool = True, voices: bool = False,
                count_weights: tuple[float, ...] = FAULT_COUNT_WEIGHTS) -> dict[str, np.ndarray]:
    """Build ``count`` windows of ``split`` and return their features, mask targets and annotations as arrays.

    Keys: ``logmel`` (count, 100, 64) float32 of the mixture; one key per extra feature set of
    ``liverec_edge.audio.features.EXTRA_FEATURE_FUNCTIONS`` (``mains_lines``, ``clip_shape``, ``tonal_peaks``:
    (count, 100, channels) float32 of the mixture, computed exactly as the runtime computes them from each model
    window's samples); ``talker_logmel`` and ``background_logmel`` (float16) of the known parts; ``labels``
    (count, 10) uint8 in FAULT_TYPES order; ``onset_s``, ``offset_s``, ``freq_hz`` (count, 10) float32;
    ``speech_level_dbfs``, ``has_speech``, ``placement`` (the placement of each labelled fault, ``type:mode``
    joined by commas), ``source`` (the talker's recording) and ``music_source`` (the background music's recording
    or render, so that figures on real music alone can be told apart); with ``keep_samples`` also ``samples``
    (count, 16240) float32, the mixture itself, so new features can be tried without rebuilding. ``rendered`` adds
    the rendered music and talkers of ``seed`` to the train/val sources (see sources.load_split; it needs
    fluidsynth, the soundfonts and flite), ``soundtracks`` the Debian game soundtracks' music, ``voices`` swaps the
    talkers for the held-out word voices (see sources.load_split). ``jobs`` > 1 builds index ranges in that many
    processes; each window depends only on ``(seed, split, index)``, so the result is the same. ``count_weights``:
    the probabilities of 0, 1, 2, 3 … faults in a window (the default is what validation and test are built with).
    """
    if jobs > 1 and count >= 2 * jobs:
        from concurrent.futures import ProcessPoolExecutor

        bounds = np.linspace(0, count, jobs + 1).astype(int)
        with ProcessPoolExecutor(jobs) as pool:
            parts = list(pool.map(_build_range, *zip(*[
                (media_dir, split, int(lo), int(hi), seed, augment, faults, rendered, keep_samples, soundtracks,
                 voices, count_weights)
                for lo, hi in pairwise(bounds)], strict=True)))
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    return _build_range(media_dir, split, 0, count, seed, augment, faults, rendered, keep_samples, soundtracks,
                        voices, count_weights)


def _build_range(media_dir: Path, split: str, start: int, stop: int, seed: int, augment: bool | None,
                 faults: list[str] | None, rendered: bool, keep_samples: bool,
                 soundtracks: bool = False, voices: bool = False,
                 count_weights: tuple[float, ...] = FAULT_COUNT_WEIGHTS) -> dict[str, np.ndarray]:
    """Windows ``start`` .. ``stop - 1`` of ``split`` (see :func:`build_split`)."""
    sources = load_split(Path(media_dir).resolve(), split, rendered, seed, soundtracks, voices)
    augment = (split == "train") if augment is None else augment
    count = stop - start
    feats = np.zeros((count, WINDOW_FRAMES, PARAMS.n_mels), np.float32)
    extra = {name: np.zeros((count, WINDOW_FRAMES, channels), np.float32)
             for name, channels in EXTRA_FEATURES.items()}
    samples = np.zeros((count, WINDOW_SAMPLES), np.float32) if keep_samples else None
    talker_feats = np.zeros_like(feats, dtype=np.float16)
    background_feats = np.zeros_like(feats, dtype=np.float16)
    k = len(FAULT_TYPES)
    labels = np.zeros((count, k), np.uint8)
    onset = np.zeros((count, k), np.float32)
    offset = np.zeros((count, k), np.float32)
    freq = np.zeros((count, k), np.float32)
    level = np.zeros(count, np.float32)
    has_speech = np.zeros(count, bool)
    placement: list[str] = []
    source: list[str] = []
    music_source: list[str] = []
    for i in range(count):
        window = make_window(window_rng(seed, split, start + i), sources, augment=augment, faults=faults,
                             count_weights=count_weights)
        feats[i] = logmel(window.mixture)
        for name, values in extra.items():
            values[i] = EXTRA_FEATURE_FUNCTIONS[name](window.mixture, WINDOW_FRAMES, PARAMS)
        if samples is not None:
            samples[i] = window.mixture
        talker_feats[i] = logmel(window.talker)
        background_feats[i] = logmel(window.background)
        labels[i], onset[i], offset[i], freq[i] = window.labels, window.onset_s, window.offset_s, window.freq_hz
        level[i], has_speech[i] = window.speech_level_dbfs, window.has_speech
        placement.append(",".join(f"{t}:{m}" for t, m in window.placement.items()))
        source.append(window.source)
        music_source.append(window.music_source)
    out = {
        "logmel": feats,
        **extra,
        "talker_logmel": talker_feats,
        "background_logmel": background_feats,
        "labels": labels,
        "onset_s": onset,
        "offset_s": offset,
        "freq_hz": freq,
        "speech_level_dbfs": level,
        "has_speech": has_speech,
        "placement": np.asarray(placement),
        "source": np.asarray(source),
        "music_source": np.asarray(music_source),
    }
    if samples is not None:
        out["samples"] = samples
    return out

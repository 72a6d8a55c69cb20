"""Offline fault analysis of a whole audio or video file (``liverec-edge analyze``): it changes nothing anywhere.

The file is decoded at its own rate, cut into sliding windows (``window_s`` every ``hop_s``) and each window goes
through the same :class:`~liverec_edge.audio.analysis.FaultAnalyser` the daemon uses, reusing one log-mel pass over
the whole file; stationary types are also judged over several windows, as the daemon does
(:class:`~liverec_edge.audio.analysis.SustainedEvidence`). Events of one type that touch or overlap across windows
are merged, keeping the best score and the median measured frequency. Times are seconds from the start of the
file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liverec_edge.audio.analysis import FaultAnalyser, SustainedEvidence, _to_16k, _validated
from liverec_edge.audio.features import logmel
from liverec_edge.audio.settings import AudioSettings
from liverec_edge.types import FaultEvent

#: Events of one type closer than this (s) are one event.
MERGE_GAP_S = 0.25


#: Shortest audio worth analysing: one log-mel frame (25 ms); the fault analysis finds nothing in less.
MIN_AUDIO_S = 0.025
#: Largest sample magnitude accepted. Float WAV full scale is ±1; beyond +120 dB over it no recording is meant,
#: and far beyond it the spectra overflow float32 (numpy warnings, then a NaN window) instead of naming the file.
MAX_SAMPLE = 1e6


def analyze_audio_file(path: str | Path, settings: AudioSettings | None = None, model_dir: Path | None = None,
                       *, analyser: FaultAnalyser | None = None) -> list[FaultEvent]:
    """Fault events in an audio or video file. Raises ``media.MediaError`` when the file's audio cannot be read or
    analysed (none, too short, not finite numbers, an impossible rate), checked before the model is loaded, or
    ``ModelError``."""
    from liverec_edge.audio.analysis import AnalysisInputError
    from liverec_edge.media import MediaError

    samples, rate = _file_audio(path)
    analyser = analyser or FaultAnalyser(settings or AudioSettings(), model_dir)
    try:
        return analyze_samples(samples, rate, analyser)
    except AnalysisInputError as exc:  # the file's samples or rate (1 Hz), not the analysis, are wrong
        raise MediaError(f"cannot analyse the audio in {path}: {exc}") from None


def _file_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """The file's audio, or a ``MediaError`` when there is none worth analysing or it is not numbers."""
    from liverec_edge.media import MediaError, decode_audio

    samples, rate = decode_audio(path)
    if samples.size == 0:
        raise MediaError(f"no audio in {path}: its audio stream holds 0 samples")
    if samples.size < MIN_AUDIO_S * rate:
        raise MediaError(f"audio in {path} is too short to analyse: {samples.size} sample"
                         f"{'' if samples.size == 1 else 's'} "
                         f"({1000.0 * samples.size / rate:.1f} ms at {rate} Hz); at least {1000 * MIN_AUDIO_S:g} ms"
                         f" is needed")
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        raise MediaError(f"{bad} of {samples.size} audio samples in {path} are NaN or infinite")
    peak = float(np.max(np.abs(samples)))
    if peak > MAX_SAMPLE:
        raise MediaError(f"audio samples in {path} reach {peak:.3g}, far outside full scale (±1): not a recording")
    return samples, rate


def analyze_samples(samples: np.ndarray, rate: int, analyser: FaultAnalyser) -> list[FaultEvent]:
    """Sliding-window analysis of a whole signal; see the module docstring."""
    samples, rate = _validated(samples, rate)
    settings = analyser.settings
    if samples.size == 0:
        return []
    x16 = _to_16k(samples, rate)
    frames = logmel(x16, analyser.params)
    hop_frames = max(1, round(settings.hop_s * 100))
    win_frames = max(analyser.window_frames, round(settings.window_s * 100))
    total = frames.shape[0]
    starts = list(range(0, max(1, total - win_frames + 1), hop_frames))
    if total > win_frames and starts[-1] != total - win_frames:
        starts.append(total - win_frames)
    events: list[FaultEvent] = []
    evidence = SustainedEvidence(analyser)
    for start in starts:
        stop = min(total, start + win_frames)
        t0 = start * 0.01
        a16, b16 = start * 160, (stop - 1) * 160 + 400
        na, nb = round(t0 * rate), round(b16 / 16000 * rate)
        result = analyser._analyse(samples[na:nb], rate, t0, x16[a16:b16], frames[start:stop], None)
        events.extend(result.events)
        if result.span is not None:
            events.extend(evidence.push(*result.span, result))
    return merge_events(events)


def merge_events(events: list[FaultEvent], gap_s: float = MERGE_GAP_S) -> list[FaultEvent]:
    """One event per run of same-type events that overlap or lie within ``gap_s`` of each other."""
    merged: list[FaultEvent] = []
    by_type: dict[str, list[FaultEvent]] = {}
    for event in sorted(events, key=lambda e: (e.type, e.start)):
        by_type.setdefault(event.type, []).append(event)
    for name, items in by_type.items():
        group = [items[0]]
        for event in items[1:]:
            if event.start <= max(e.end for e in group) + gap_s:
                group.append(event)
                continue
            merged.append(_combine(name, group))
            group = [event]
        merged.append(_combine(name, group))
    return sorted(merged, key=lambda e: (e.start, e.type))


def _combine(name: str, group: list[FaultEvent]) -> FaultEvent:
    freqs = [e.freq for e in group if e.freq is not None]
    return FaultEvent(
        type=name,
        score=max(e.score for e in group),
        start=min(e.start for e in group),
        end=max(e.end for e in group),
        freq=float(np.median(freqs)) if freqs else None,
    )

"""Fault analysis with real material: hum driven by real mains recordings, real key presses, real speech.

The material is held out from the model's training: the validation-split talker (librispeech 5703; jfk.wav, the
test-split talker, carries a real 60 Hz hum of its own, measured at 59.8–60.2 Hz with harmonics, so it cannot be the
"clean" base), the test-split keyboard (zoom_g) and mains recordings (018–020).

Location tests run twice: with a stand-in model that knows where the fault is (scoring it once >= 100 ms of it is
inside its window, as the real model was trained to), which tests the analysis around the model (gate, location,
measurement, thresholds) on its own; and with the shipped model in ``models/faults``, end to end.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import butter, hilbert, resample_poly, sosfiltfilt

from liverec_edge.audio.analysis import (
    AnalysisInputError,
    FaultAnalyser,
    GateResult,
    StreamingFaultAnalyser,
    StreamResampler,
    SustainedEvidence,
    WindowAnalysis,
)
from liverec_edge.audio.features import FeatureParams, logmel
from liverec_edge.audio.measure import Levels, find_clipping, measure_howl, measure_hum
from liverec_edge.audio.offline import analyze_audio_file, analyze_samples, merge_events
from liverec_edge.audio.settings import AudioSettings
from liverec_edge.audio.strategy import StrategyTable
from liverec_edge.media import decode_audio
from liverec_edge.types import FAULT_TYPES, AudioBlock, AudioWindow, FaultEvent, Tag

RATE = 48_000
CLEAN_TALKER = "librispeech_5703-47212-0000.ogg"
MAINS_FILES = ("enf_whu_h1_ref_018.wav", "enf_whu_h1_ref_019.wav", "enf_whu_h1_ref_020.wav")


# --- real material ------------------------------------------------------------------------------------------------


@cache
def _speech(media: Path, rate: int) -> np.ndarray:
    return decode_audio(media / "speech" / CLEAN_TALKER, rate=rate)[0]


def speech(media: Path, seconds: float, offset: float = 0.5, rate: int = RATE) -> np.ndarray:
    x = _speech(media, rate)
    a = int(offset * rate)
    return x[a: a + int(seconds * rate)].astype(np.float64).copy()


@cache
def _mains(media: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The real mains waveform (400 Hz) band-passed around its fundamental, and its unwrapped phase."""
    wave, rate = decode_audio(media / "hum" / name)
    assert rate == 400
    sos = butter(4, [40, 60], "bandpass", fs=rate, output="sos")
    fundamental = sosfiltfilt(sos, wave.astype(np.float64))
    return fundamental, np.unwrap(np.angle(hilbert(fundamental)))


def mains_hum(media: Path, name: str, at_s: float, seconds: float, rate: int = RATE, scale: float = 1.0,
              amps: tuple[float, ...] = (1.0, 0.7, 0.45, 0.25)) -> np.ndarray:
    """Hum whose every harmonic follows the real mains phase from ``at_s`` into the recording (``scale`` 1.2 makes
    60 Hz mains out of 50 Hz mains, wander and all)."""
    _, phase = _mains(media, name)
    t = at_s + np.arange(int(seconds * rate)) / rate
    ph = np.interp(t, np.arange(phase.size) / 400.0, phase) * scale
    return sum(a * np.cos((k + 1) * ph + 0.7 * k) for k, a in enumerate(amps)) / sum(amps)


def mains_frequency(media: Path, name: str, at_s: float, seconds: float) -> float:
    """Reference: the mains frequency over the span from the recording's own zero crossings (cycles / time)."""
    wave, _ = _mains(media, name)
    seg = wave[int(at_s * 400): int((at_s + seconds) * 400)]
    z = np.flatnonzero((seg[:-1] < 0) & (seg[1:] >= 0))
    tz = z + (-seg[z]) / (seg[z + 1] - seg[z])
    return float((tz.size - 1) / ((tz[-1] - tz[0]) / 400.0))


def thump(rate: int = RATE) -> np.ndarray:
    """A hand knocking the mic: the contact click, then the capsule's low resonance ringing down."""
    t = np.arange(int(0.3 * rate)) / rate
    rng = np.random.default_rng(7)
    body = np.exp(-t / 0.05) * (1 - np.exp(-t / 0.002)) * np.sin(2 * np.pi * 55.0 * t)
    contact = rng.normal(0.0, 1.0, t.size) * np.exp(-t / 0.004) * 0.3
    return body + contact


@cache
def key_presses(media: Path, rate: int = RATE) -> tuple[np.ndarray, float]:
    """Real typing from a held-out recording, cut 200 ms before its first press; returns (audio, onset s)."""
    kb, _ = decode_audio(media / "keyboard" / "zoom_g.wav", rate=rate)
    kb = kb[rate // 2:]  # the recording opens with the call's own start-up noise
    block = rate // 1000
    n = kb.size // block
    energy = 10 * np.log10(np.mean(kb[: n * block].reshape(n, block) ** 2, axis=1) + 1e-15)
    press_ms = int(np.flatnonzero(energy > energy.max() - 15)[0])
    # The onset: the first millisecond, in the 50 ms before the press peak, 20 dB above the room before it.
    room = float(np.median(energy[max(0, press_ms - 400): press_ms - 100]))
    onset_ms = press_ms - 50 + int(np.flatnonzero(energy[press_ms - 50: press_ms + 1] > room + 20)[0])
    start = (onset_ms - 200) * block
    return kb[start: start + 2 * rate].astype(np.float64), 0.2


def place(base: np.ndarray, fault: np.ndarray, at_s: float, gain: float, rate: int = RATE) -> np.ndarray:
    out = base.copy()
    i = int(at_s * rate)
    part = fault[: out.size - i] * gain
    out[i: i + part.size] += part
    return out


# --- the model: shipped, or a stand-in that knows the truth -------------------------------------------------------


def shipped_model_dir(models_dir: Path) -> Path | None:
    folder = models_dir / "faults"
    return folder if folder.is_dir() and any(folder.glob("*.tflite")) else None


class KnowingStandIn:
    """Plays the model when none is shipped: scores ``fault_type`` for a window holding ≥ 100 ms of the fault."""

    window_frames = 100
    thresholds = dict.fromkeys(FAULT_TYPES, 0.5)

    def __init__(self, mixture: np.ndarray, rate: int, fault_type: str, start_s: float, end_s: float):
        self.frames = logmel(resample_poly(mixture, 16000, rate).astype(np.float32))
        self.index = FAULT_TYPES.index(fault_type)
        self.span = (int(start_s * 100), int(end_s * 100))
        self.calls = 0

    def scores(self, window: np.ndarray) -> np.ndarray:
        self.calls += 1
        out = np.zeros(len(FAULT_TYPES))
        end = int(np.argmin(np.abs(self.frames - window[-1]).sum(axis=1))) + 1
        overlap = min(end, self.span[1]) - max(end - window.shape[0], self.span[0])
        out[0], out[self.index] = (0.1, 0.9) if overlap >= 10 else (0.9, 0.05)
        return out


def _model_kinds() -> list[str]:
    shipped = shipped_model_dir(Path(__file__).resolve().parents[1] / "models")
    return ["stand-in", "shipped"] if shipped else ["stand-in"]


@pytest.fixture(scope="module")
def shipped_analyser(models_dir: Path) -> FaultAnalyser | None:
    shipped = shipped_model_dir(models_dir)
    return FaultAnalyser(AudioSettings(), shipped) if shipped else None


#: Cases the whole analysis gets wrong with the shipped model, measured with it (see models/faults/MODEL_CARD.md).
#: They run as strict xfails: the location code is proven by the stand-in run of the same case, and a better model
#: (or analysis) that gets them right fails loudly until its mark is removed here.
SHIPPED_MODEL_MISSES: dict[tuple[str, float], str] = {
    ("test_thump_start_found_within_50ms", 0.4): (
        "no mic_handling event (missed by every shipped model since session 4; t24 (session 10) scores mic_handling "
        "at most 0.16 on the pre-judgement windows, threshold 0.50; D8 under 0.2 and a cough 0.66; session 4's "
        "model keyboard 0.70)"
    ),
    ("test_thump_start_found_within_50ms", 1.3): (
        "no mic_handling event (the same models; t24's best mic_handling window 0.24, threshold 0.50, and it reports "
        "keyboard 0.74 instead; D8's best window 0.48 and no event)"
    ),
    ("test_key_press_start_found_within_50ms", 1.8): (
        "no event (the same models; t24 scores these presses under speech keyboard 0.24 at most, threshold 0.59; "
        "D8 0.41 against 0.58)"
    ),
}


@pytest.fixture(autouse=True)
def _known_shipped_model_misses(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("analyser_for") != "shipped":
        return
    reason = SHIPPED_MODEL_MISSES.get((request.node.originalname, callspec.params.get("at")))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"shipped model: {reason}"))


@pytest.fixture(params=_model_kinds())
def analyser_for(request, shipped_analyser):
    """Location tests run twice: with the stand-in (the location algorithms alone, given a correct verdict) and
    with the shipped model (the whole analysis, end to end)."""
    settings = AudioSettings()

    def make(mixture: np.ndarray, fault_type: str, start_s: float, end_s: float, rate: int = RATE) -> FaultAnalyser:
        if request.param == "shipped":
            return shipped_analyser
        return FaultAnalyser(settings, model=KnowingStandIn(mixture, rate, fault_type, start_s, end_s))

    return make


def window(x: np.ndarray, t0: float = 100.0, rate: int = RATE, tag: Tag | None = None) -> AudioWindow:
    return AudioWindow(t0, t0 + x.size / rate, x.astype(np.float32), rate, tag)


def only(events: list[FaultEvent], kind: str) -> FaultEvent:
    found = [e for e in events if e.type == kind]
    assert len(found) == 1, events
    return found[0]


# --- frequencies ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MAINS_FILES)
@pytest.mark.parametrize("scale", [1.0, 1.2])
def test_hum_frequency_within_0p2_hz_of_the_real_mains(shared_media: Path, name: str, scale: float) -> None:
    # Hum at -30 dBFS under a talker with a lot of low end (-20 dBFS RMS): in some seconds the voice buries the
    # comb and nothing is measured (the analysis then drops the verdict rather than notch a guess); whatever is
    # measured must be right.
    talk = resample_poly(speech(shared_media, 8.0), 1, 3)  # 16 kHz
    errors = []
    for k, at in enumerate(np.linspace(10.0, 400.0, 8)):
        hum16 = mains_hum(shared_media, name, at, 1.0, rate=16000, scale=scale) * 10 ** (-30 / 20)
        assert abs(measure_hum(hum16).freq - scale * mains_frequency(shared_media, name, at, 1.0)) <= 0.05
        found = measure_hum(hum16 + talk[k * 16000: (k + 1) * 16000])
        if found is not None:
            errors.append(abs(found.freq - scale * mains_frequency(shared_media, name, at, 1.0)))
    assert len(errors) >= 4 and max(errors) <= 0.2, errors


def test_no_hum_measured_in_clean_speech_and_rarely_in_music(shared_media: Path) -> None:
    talk = resample_poly(speech(shared_media, 12.0), 1, 3)
    assert all(measure_hum(talk[k * 16000: (k + 1) * 16000]) is None for k in range(12))
    # Music is a harmonic comb too: a bass note near 50/60 Hz can pass (the model must call it hum first).
    music = decode_audio(next((shared_media / "music").glob("Hungarian*.ogg")), rate=16000)[0]
    seconds = music.size // 16000
    assert sum(measure_hum(music[k * 16000: (k + 1) * 16000]) is not None for k in range(seconds)) <= 0.15 * seconds


def test_feedback_frequency_within_a_few_hz(shared_media: Path) -> None:
    talk = speech(shared_media, 1.0)
    t = np.arange(RATE) / RATE
    for f in (312.5, 1287.0, 2733.3, 5120.0):
        # A howl building up exponentially out of the talk (loop gain just over 1), slightly distorted.
        howl = 0.3 * np.exp((t - 1.0) * 6.0) * np.sin(2 * np.pi * f * t)
        howl = np.tanh(3 * howl) / 3
        found = measure_howl((talk + howl)[RATE // 2:], RATE)  # the analysis measures the last half second
        assert found is not None and abs(found.freq - f) <= 3.0, (f, found)
    assert measure_howl(talk, RATE) is None
    # A steady tone on a mains harmonic is hum, not a loop.
    assert measure_howl(talk + 0.05 * np.sin(2 * np.pi * 150.0 * t), RATE) is None


def test_clipping_found_with_its_true_peak(shared_media: Path) -> None:
    talk = speech(shared_media, 2.0)
    hot = talk / np.max(np.abs(talk)) * 10 ** (6 / 20)  # 6 dB too hot
    clipped = np.clip(hot, -1.0, 1.0)
    found = find_clipping(clipped)
    assert found.clipped and found.runs[0][0] == int(np.flatnonzero(np.abs(hot) >= 1.0)[0])
    assert 1.5 <= found.true_peak_dbfs <= 9.0
    assert not find_clipping(talk / np.max(np.abs(talk)) * 0.99).clipped  # loud but intact
    assert not find_clipping(talk / np.max(np.abs(talk)) * 0.3).clipped  # quiet and intact
    upstream = find_clipping(clipped * 10 ** (-9 / 20))  # overloaded before a fader that is 9 dB down
    assert upstream.clipped and upstream.runs[0][0] == found.runs[0][0]


# --- event location -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("at", [0.45, 1.3, 1.9])
def test_hum_start_found_within_50ms_with_its_frequency(shared_media: Path, analyser_for, at: float) -> None:
    """Hum at -30 dBFS switching on under speech; at least 1 s of it in the 3 s window (a 0.2 Hz measurement needs
    about a second of signal: shorter tails are measured over 0.5–0.75 s, to ±0.3 Hz)."""
    name = MAINS_FILES[1]
    hum = mains_hum(shared_media, name, 120.0 + at, 3.0 - at) * 10 ** (-30 / 20)
    x = place(speech(shared_media, 3.0, offset=3.0), hum, at, 1.0)
    event = only(analyser_for(x, "hum", at, 3.0).analyse(window(x)), "hum")
    assert abs(event.start - 100.0 - at) <= 0.05, event
    assert abs(event.freq - mains_frequency(shared_media, name, 120.0 + at, 3.0 - at)) <= 0.2, event


@pytest.mark.parametrize("at", [0.4, 1.3, 2.2])
def test_thump_start_found_within_50ms(shared_media: Path, analyser_for, at: float) -> None:
    x = place(speech(shared_media, 3.0, offset=1.0), thump(), at, 0.25)
    event = only(analyser_for(x, "mic_handling", at, at + 0.3).analyse(window(x)), "mic_handling")
    assert abs(event.start - 100.0 - at) <= 0.05, event
    assert event.end > event.start


@pytest.mark.parametrize("at", [0.4, 0.5, 1.8])
def test_key_press_start_found_within_50ms(shared_media: Path, analyser_for, at: float) -> None:
    """Typing that starts while the presenter pauses between phrases (what the keyboard strategy is for: the
    clatter heard between words). Typing that starts under loud speech is found only to the nearest speech onset
    (up to 200 ms early): these Zoom-captured presses sit below 500 Hz and 10–15 dB under this talker."""
    typing, onset = key_presses(shared_media)
    x = place(speech(shared_media, 3.0, offset=4.0), typing, at, 3.0)
    start = at + onset
    event = only(analyser_for(x, "keyboard", start, min(3.0, start + 1.5)).analyse(window(x)), "keyboard")
    assert abs(event.start - 100.0 - start) <= 0.05, event


def test_clipping_event_starts_at_the_first_clipped_sample(shared_media: Path, analyser_for) -> None:
    talk = speech(shared_media, 3.0)
    hot = talk.copy()
    hot[int(1.5 * RATE):] *= 8.0  # someone leans in and shouts
    x = np.clip(hot, -1.0, 1.0)
    first = np.flatnonzero(np.abs(hot) >= 1.0)[0] / RATE
    result = analyser_for(x, "clipping", first, 3.0).analyse_detailed(window(x))
    event = only(result.events, "clipping")
    assert abs(event.start - 100.0 - first) <= 0.01
    assert result.measurements["peak_dbfs"] >= 0.0
    (trim,) = StrategyTable.load().actions_for(event, {"ch": "ch01", "music": "ch02"}, "audio",
                                               measurements=result.measurements)
    assert trim.param == "ch01.trim" and trim.value <= -3.0 and not trim.restore


# --- gate, priors, bad input ----------------------------------------------------------------------------------------


def test_silence_is_clean_without_running_the_model(shared_media: Path) -> None:
    x = np.zeros(RATE)
    model = KnowingStandIn(x, RATE, "hum", 0.0, 1.0)
    analyser = FaultAnalyser(AudioSettings(), model=model)
    room = np.random.default_rng(0).normal(0.0, 10 ** (-75 / 20), RATE)
    for quiet in (x, room):
        result = analyser.analyse_detailed(window(quiet))
        assert result.events == [] and not result.gate.active
    assert model.calls == 0


def test_bad_input_is_a_clear_error_never_a_crash(shared_media: Path) -> None:
    analyser = FaultAnalyser(AudioSettings(), model=KnowingStandIn(np.zeros(RATE), RATE, "hum", 0.0, 1.0))
    x = speech(shared_media, 1.0).astype(np.float32)
    for bad_rate in (4000, 1_000_000, 44100.0, 0, -48000):
        with pytest.raises(AnalysisInputError, match="sample rate"):
            analyser.analyse(AudioWindow(0.0, 1.0, x, bad_rate))  # type: ignore[arg-type]
    for poison in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[100:110] = poison
        with pytest.raises(AnalysisInputError, match="NaN or infinite"):
            analyser.analyse(window(y))
    with pytest.raises(AnalysisInputError, match="mono"):
        analyser.analyse(AudioWindow(0.0, 1.0, np.zeros((2, 3, 4), np.float32), RATE))
    assert analyser.analyse(AudioWindow(0.0, 0.0, np.zeros(0, np.float32), RATE)) == []
    assert analyser.analyse(window(x[:200])) == []  # 4 ms: too short to judge
    # Other rates and channel layouts are fine.
    for rate in (8000, 16000, 22050, 44100, 96000):
        y = resample_poly(x, rate, RATE) if rate != RATE else x
        assert isinstance(analyser.analyse(window(y, rate=rate)), list)
    assert isinstance(analyser.analyse(window(np.stack([x, x], axis=1))), list)


def test_corrupt_or_missing_model_is_a_model_error(tmp_path: Path) -> None:
    from liverec_edge.tflite import ModelError

    (tmp_path / "broken").mkdir()
    with pytest.raises(ModelError):
        FaultAnalyser(AudioSettings(), tmp_path / "missing")
    shipped = Path(__file__).resolve().parents[1] / "models" / "faults"
    if shipped.is_dir():
        broken = tmp_path / "broken"
        for item in shipped.iterdir():
            if item.is_file():
                data = item.read_bytes()
                (broken / item.name).write_bytes(data[: len(data) // 3] if item.suffix == ".tflite" else data)
        with pytest.raises(ModelError):
            FaultAnalyser(AudioSettings(), broken)


def test_behaviour_prior_lowers_only_its_faults_and_modestly() -> None:
    analyser = FaultAnalyser(AudioSettings(), model=KnowingStandIn(np.zeros(RATE), RATE, "hum", 0.0, 1.0))
    assert analyser.threshold("mic_handling", "hand_at_mic") == pytest.approx(0.4)
    assert analyser.threshold("keyboard", "hand_at_mic") == pytest.approx(0.5)
    assert analyser.threshold("cough", "hand_at_mouth") == pytest.approx(0.4)
    with pytest.raises(ValueError):
        AudioSettings(prior_boost=0.5)


# --- streaming and offline ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [48000, 44100, 22050, 16000])
def test_stream_resampler_matches_batch(shared_media: Path, rate: int) -> None:
    x = decode_audio(shared_media / "speech" / "jfk.wav", rate=rate)[0][: 3 * rate]
    stream = StreamResampler(rate)
    blocks = [stream.push(x[a: a + 1234]) for a in range(0, x.size, 1234)]
    streamed = np.concatenate(blocks)
    batch = resample_poly(x, 16000 // np.gcd(16000, rate), rate // np.gcd(16000, rate))
    held_back = stream.context * stream.up // stream.down + stream.up  # the filter's right margin
    assert streamed.size >= batch.size - held_back
    np.testing.assert_allclose(streamed, batch[: streamed.size], atol=1e-5)


def test_streaming_span_matches_batch_window(shared_media: Path) -> None:
    at = 1.2
    hum = mains_hum(shared_media, MAINS_FILES[2], 50.0, 4.0 - at) * 10 ** (-30 / 20)
    x = place(speech(shared_media, 4.0, offset=2.0), hum, at, 1.0)
    model = KnowingStandIn(x, RATE, "hum", at, 4.0)
    analyser = FaultAnalyser(AudioSettings(), model=model)
    stream = StreamingFaultAnalyser(analyser, RATE)
    for a in range(0, x.size, 960):  # 20 ms capture blocks starting at t = 50 s
        stream.feed(AudioBlock(50.0 + a / RATE, x[a: a + 960, None].astype(np.float32), RATE))
    streamed = only(stream.analyse_span(50.5, 53.9).events, "hum")
    batch = only(analyser.analyse(window(x[int(0.5 * RATE): int(3.9 * RATE)], t0=50.5)), "hum")
    assert abs(streamed.start - batch.start) <= 0.011 and abs(streamed.freq - batch.freq) <= 0.05
    assert abs(streamed.start - 50.0 - at) <= 0.05


class SampleCheckingStandIn:
    """A model that takes features of the samples (as the mains-line model does): checks that each model window's
    samples are the very samples its log-mel frames were computed from, batch and streaming alike."""

    window_frames = 100
    thresholds = dict.fromkeys(FAULT_TYPES, 0.5)
    needs_samples = True

    def __init__(self) -> None:
        self.checked = 0
        self.padded = 0  # windows whose samples begin with silence (padding, where the audio was too short)

    def scores(self, window: np.ndarray, samples: np.ndarray | None = None) -> np.ndarray:
        assert samples is not None and samples.size == 16_240 and samples.dtype == np.float32
        own = logmel(samples)
        real = int(np.argmax(np.abs(samples) > 0)) // 160 + 3  # frames before this may be padding
        np.testing.assert_allclose(own[real:], window[real:], atol=1e-3)
        self.checked += 1
        self.padded += int(not np.abs(samples[:160]).any())
        out = np.zeros(len(FAULT_TYPES))
        out[0] = 0.9
        return out


def test_models_that_take_samples_get_each_windows_own_samples(shared_media: Path) -> None:
    x = speech(shared_media, 3.0, offset=2.0)
    model = SampleCheckingStandIn()
    analyser = FaultAnalyser(AudioSettings(), model=model)
    analyser.analyse(window(x))
    analyser.analyse(window(x[: int(0.6 * RATE)]))  # shorter than a model window: padded in front
    stream = StreamingFaultAnalyser(analyser, RATE)
    for a in range(0, x.size, 960):
        stream.feed(AudioBlock(10.0 + a / RATE, x[a: a + 960, None].astype(np.float32), RATE))
    stream.analyse_span(10.3, 12.9)
    assert model.checked >= 5


def test_audio_only_polls_give_the_model_whole_windows(shared_media: Path) -> None:
    """The default 1 s poll is 2 frames short of a model window: the poll takes a whole one instead of padding."""
    x = speech(shared_media, 4.0, offset=2.0)
    model = SampleCheckingStandIn()
    stream = StreamingFaultAnalyser(FaultAnalyser(AudioSettings(), model=model), RATE)
    assert FeatureParams().n_frames(round(stream.settings.window_s * 16_000)) < model.window_frames
    for a in range(0, x.size, 960):
        stream.feed(AudioBlock(10.0 + a / RATE, x[a: a + 960, None].astype(np.float32), RATE))
        if a >= 1.1 * RATE:
            stream.poll()
    assert model.checked >= 5 and model.padded == 0


def test_offline_file_analysis_merges_windows(tmp_path: Path, shared_media: Path) -> None:
    from scipy.io import wavfile

    at = 2.0
    hum = mains_hum(shared_media, MAINS_FILES[0], 200.0, 6.0 - at) * 10 ** (-30 / 20)
    x = place(speech(shared_media, 6.0, offset=1.0), hum, at, 1.0)
    path = tmp_path / "take.wav"
    wavfile.write(path, RATE, (x * 32767).astype(np.int16))
    analyser = FaultAnalyser(AudioSettings(), model=KnowingStandIn(x, RATE, "hum", at, 6.0))
    events = analyze_audio_file(path, AudioSettings(), analyser=analyser)
    hum_event = only(events, "hum")
    assert abs(hum_event.start - at) <= 0.05 and hum_event.end >= 5.9
    assert abs(hum_event.freq - mains_frequency(shared_media, MAINS_FILES[0], 200.0, 4.0)) <= 0.2
    merged = merge_events([FaultEvent("cough", 0.6, 1.0, 1.4), FaultEvent("cough", 0.8, 1.5, 1.9),
                           FaultEvent("cough", 0.7, 3.0, 3.2)])
    assert [(e.start, e.end, e.score) for e in merged] == [(1.0, 1.9, 0.8), (3.0, 3.2, 0.7)]


def test_stream_keeps_capture_time_across_dropped_blocks(shared_media: Path) -> None:
    x = clipped_take(shared_media)
    analyser = FaultAnalyser(AudioSettings(), model=KnowingStandIn(x, RATE, "clipping", 0.0, 3.0))
    stream = StreamingFaultAnalyser(analyser, RATE)
    for a in range(0, x.size, 960):
        if 40 <= a // 960 < 45:  # 100 ms of capture lost before the shout
            continue
        stream.feed(AudioBlock(20.0 + a / RATE, x[a: a + 960, None].astype(np.float32), RATE))
    event = only(stream.analyse_span(20.0, 23.0).events, "clipping")
    first = np.flatnonzero(np.abs(x) >= 0.999)[0] / RATE
    assert abs(event.start - 20.0 - first) <= 0.01


def clipped_take(media: Path) -> np.ndarray:
    talk = speech(media, 3.0)
    talk[int(1.5 * RATE):] *= 8.0
    return np.clip(talk, -1.0, 1.0)


def test_feedback_event_carries_the_howl_frequency(shared_media: Path) -> None:
    talk = speech(shared_media, 3.0, offset=6.0)
    t = np.arange(talk.size) / RATE
    at, f = 1.2, 2480.0
    envelope = np.where(t >= at, 0.25 * (1 - np.exp(-(t - at) / 0.4)), 0.0)
    x = talk + envelope * np.sin(2 * np.pi * f * t)
    analyser = FaultAnalyser(AudioSettings(), model=KnowingStandIn(x, RATE, "feedback", at, 3.0))
    event = only(analyser.analyse(window(x)), "feedback")
    assert abs(event.freq - f) <= 3.0
    assert at - 0.05 <= event.start - 100.0 <= at + 0.5
    actions = StrategyTable.load().actions_for(event, {"ch": "ch01", "music": "ch02"}, "audio")
    assert any(a.param.endswith(".freq") and abs(float(a.value) - f) <= 3.0 for a in actions)


def test_a_note_dying_away_is_not_a_howl(shared_media: Path) -> None:
    """A struck note (celesta-like, 523 Hz, 150 ms decay) has fallen far from its peak by the end of the region; a
    howl of the same pitch, growing or saturated, has not; under the talker alike. (The analysis drops a feedback
    verdict whose tone has fallen more than HOWL_MAX_DECAY_DB: on the Sugar Plum Fairy track the model called celesta
    notes feedback 3 times an hour; repeated strikes of one note are the other way it did, see the next test.)"""
    from liverec_edge.audio.analysis import HOWL_MAX_DECAY_DB, _tone_decay_db

    talk = speech(shared_media, 3.0, offset=6.0)
    t = np.arange(talk.size) / RATE
    f = 523.3
    struck = np.where(t >= 2.5, 0.3 * np.exp(-(t - 2.5) / 0.15), 0.0)
    growing = np.where(t >= 1.0, 0.25 * (1 - np.exp(-(t - 1.0) / 0.4)), 0.0)
    held = np.where(t >= 1.0, 0.1, 0.0)
    decay = {name: _tone_decay_db(talk + env * np.sin(2 * np.pi * f * t), RATE, f, 3.0, 10.0)
             for name, env in (("struck", struck), ("growing", growing), ("held", held))}
    assert decay["struck"] > HOWL_MAX_DECAY_DB, decay
    assert decay["growing"] < HOWL_MAX_DECAY_DB / 2 and decay["held"] < HOWL_MAX_DECAY_DB / 2, decay  # 1.7, 4.0 dB


def test_repeated_notes_dip_between_strikes_a_howl_does_not(shared_media: Path) -> None:
    """The same note struck every 350 ms (as the Sugar Plum Fairy's celesta, which the model called feedback 3-4
    times an hour) falls far between strikes; a growing or held howl of that pitch under the same talker does not,
    from 15 dB under the talker's level to level with it. Per window (``_tone_dip_db``) and over the streak that the
    audio-only decision confirms. (Measured: repeated 22-35 dB; held or growing 0.2-12.6 dB, the most at 492 Hz
    where the talker's own harmonics pass through the band.)"""
    from liverec_edge.audio.analysis import HOWL_MAX_DIP_DB, _tone_dip_db

    talk = speech(shared_media, 3.0, offset=6.0)
    t = np.arange(talk.size) / RATE
    level = float(np.sqrt(np.mean(talk**2))) * np.sqrt(2)  # a sine of the talker's RMS
    for f in (492.0, 1234.0, 2500.0):
        width = max(10.0, f * 0.01)
        for db in (-15.0, -5.0, 0.0):
            a = level * 10 ** (db / 20)
            repeated = 2 * a * np.exp(-np.mod(t, 0.35) / 0.08)
            growing = np.where(t >= 1.0, a * (1 - np.exp(-(t - 1.0) / 0.4)), 0.0)
            held = np.where(t >= 1.0, a, 0.0)
            dip = {name: _tone_dip_db(talk + env * np.sin(2 * np.pi * f * t), RATE, f, (2.0, 3.0), width)
                   for name, env in (("repeated", repeated), ("growing", growing), ("held", held))}
            assert dip["repeated"] > HOWL_MAX_DIP_DB + 5, (f, db, dip)
            assert dip["growing"] < HOWL_MAX_DIP_DB - 2 and dip["held"] < HOWL_MAX_DIP_DB - 2, (f, db, dip)
    f = 492.0
    repeated = 0.2 * np.exp(-np.mod(t, 0.35) / 0.08)

    # The streak: three windows each saw "feedback at 492 Hz"; only the held tone is confirmed.
    def confirmed(env: np.ndarray) -> bool:
        stream = StreamingFaultAnalyser(FaultAnalyser(AudioSettings(), model=KnowingStandIn(np.zeros(RATE), RATE,
                                                                                              "hum", 0.0, 1.0)), RATE)
        x = (talk + env * np.sin(2 * np.pi * f * t)).astype(np.float32)
        stream.feed(AudioBlock(0.0, x[:, None], RATE))
        return any(stream.confirm([FaultEvent("feedback", 0.9, 1.0, 3.0, f)]) for _ in range(3))

    assert confirmed(np.where(t >= 0.5, 0.1, 0.0))
    assert not confirmed(repeated)


def test_howl_is_not_measured_in_speech_and_rarely_in_music(shared_media: Path) -> None:
    """Held vowels glide, struck notes fade, played notes come with their octaves: none of them is a loop. A
    sustained pure note can still pass (the model must call it feedback first)."""
    talk = speech(shared_media, 12.0)
    half = RATE // 2
    assert all(measure_howl(talk[k * half: (k + 1) * half], RATE) is None for k in range(24))
    for name in ("Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg", "Kevin_MacLeod_-_Vibe_Ace.ogg"):
        music = decode_audio(shared_media / "music" / name, rate=RATE)[0][: 60 * RATE]
        found = sum(measure_howl(music[k * half: (k + 1) * half], RATE) is not None for k in range(120))
        assert found <= 0.2 * 120, (name, found)


def test_audio_only_decisions_repeat_and_leave_speech_like_faults_to_the_camera() -> None:
    analyser = FaultAnalyser(AudioSettings(), model=KnowingStandIn(np.zeros(RATE), RATE, "hum", 0.0, 1.0))
    stream = StreamingFaultAnalyser(analyser, RATE)
    hum, cough = FaultEvent("hum", 0.9, 0, 1, 50.0), FaultEvent("cough", 0.9, 0, 1)
    clip = FaultEvent("clipping", 1.0, 0, 1)
    assert stream.confirm([hum, cough, clip]) == []
    assert stream.confirm([hum, cough, clip]) == [clip]  # two windows in a row
    assert stream.confirm([hum, cough]) == [hum]  # stationary faults: three; a cough never without a tag
    assert stream.confirm([cough]) == []  # the hum streak is broken
    stream.camera_available = False  # no camera, no tags: audio alone must act on everything
    assert stream.confirm([cough]) == [cough]
    # A held note that moves is not a howl: the streak restarts when the frequency changes.
    notes = [FaultEvent("feedback", 0.9, 0, 1, f) for f in (440.0, 493.9, 523.3, 523.3)]
    assert [stream.confirm([n]) for n in notes[:3]] == [[], [], []]
    assert stream.confirm([notes[3]]) == []  # two windows at one pitch: feedback needs three
    assert stream.confirm([FaultEvent("feedback", 0.9, 0, 1, 524.0)]) != []
    everything = AudioSettings(audio_only_types=("cough",), types={"cough": {"confirm_windows": 1}})
    assert StreamingFaultAnalyser(FaultAnalyser(everything, model=analyser.model), RATE).confirm([cough]) == [cough]


def test_music_is_also_judged_by_its_mean_score_over_four_windows() -> None:
    """No single window reaches the music threshold, four in a row do on average: one event spanning them, scored
    with the mean. A window the physics rules out (or the gate skipped) counts as 0; a window that found music on
    its own is not reported twice."""
    analyser = FaultAnalyser(AudioSettings(), model=KnowingStandIn(np.zeros(RATE), RATE, "hum", 0.0, 1.0))
    assert analyser.sustained_types() == {"background_music": 4}
    assert analyser.sustained_threshold("background_music") == pytest.approx(0.3)  # 0.6 x the 0.5 threshold
    gate = GateResult(Levels(-20.0, -30.0, -30.0, -60.0), 0.0, True)

    def judged(score: float | None, events: tuple[FaultEvent, ...] = ()) -> WindowAnalysis:
        return WindowAnalysis(list(events), gate, {}, {}, {} if score is None else {"background_music": score})

    evidence = SustainedEvidence(analyser)
    found = [evidence.push(0.5 * i, 0.5 * i + 1.05, judged(s)) for i, s in enumerate((0.1, 0.5, 0.2, 0.45))]
    assert found[:3] == [[], [], []]
    [event] = found[3]
    assert (event.type, event.start, event.end, event.freq) == ("background_music", 0.0, 2.55, None)
    assert event.score == pytest.approx(0.3125)
    assert evidence.push(2.0, 3.05, judged(0.0)) == []  # (0.5 + 0.2 + 0.45 + 0) / 4 < 0.3
    assert evidence.push(2.5, 3.55, judged(0.9)) != []  # (0.2 + 0.45 + 0 + 0.9) / 4 >= 0.3
    own = FaultEvent("background_music", 0.8, 2.9, 3.95)
    assert evidence.push(2.9, 3.95, judged(0.8, (own,))) == []
    # the gate skipped the model: the window counts as 0, not as missing
    assert evidence.push(3.4, 4.45, judged(None))[0].score == pytest.approx((0.0 + 0.9 + 0.8 + 0.0) / 4)
    assert evidence.push(3.9, 4.95, judged(None))[0].score == pytest.approx((0.9 + 0.8) / 4)
    assert evidence.push(4.4, 5.45, judged(None)) == []  # 0.8 / 4
    # windows that did not follow each other (a skipped poll, missing audio) start the count again
    resumed = SustainedEvidence(analyser)
    assert [resumed.push(0.5 * i, 0.5 * i + 1.05, judged(0.9)) for i in range(3)] == [[], [], []]
    assert resumed.push(9.0, 10.05, judged(0.9)) == []  # 7.5 s later: one window, not four
    assert [resumed.push(9.0 + 0.5 * i, 10.05 + 0.5 * i, judged(0.9)) != [] for i in range(1, 4)] == [
        False, False, True]
    off = FaultAnalyser(AudioSettings(types={"background_music": {"sustained_windows": 1}}), model=analyser.model)
    assert off.sustained_types() == {} and SustainedEvidence(off).push(0, 1, judged(0.99)) == []
    # a live reconfigure (the fault stage swaps the analyser's settings) applies to the next push
    live = SustainedEvidence(analyser)
    assert [live.push(0.5 * i, 0.5 * i + 1.05, judged(0.35)) != [] for i in range(4)] == [False, False, False, True]
    analyser.settings = AudioSettings(types={"background_music": {"sustained_threshold": 0.4}})
    assert live.push(2.0, 3.05, judged(0.35)) == []
    analyser.settings = AudioSettings(types={"background_music": {"sustained_windows": 2}})
    assert live.push(2.5, 3.55, judged(0.35))[0].start == 2.0


TEST_SPLIT_MUSIC = "music/Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg"


def _music_covered(events: list[FaultEvent], seconds: float) -> float:
    covered = np.zeros(int(seconds * 100), bool)
    for e in events:
        if e.type == "background_music":
            covered[int(e.start * 100): int(e.end * 100)] = True
    return float(covered.mean())


@pytest.mark.skipif(shipped_model_dir(Path(__file__).resolve().parents[1] / "models") is None,
                    reason="needs the shipped fault model")
def test_music_under_a_talker_is_heard_over_several_windows(shared_media: Path, shipped_analyser) -> None:
    """A string orchestra (the model's test-split recording) 20 dB under the validation talker for 24 s: window by
    window the shipped model (t24) hears it in three quarters of the time (measured 0.751; D8 0.676); judged over
    four windows as well, in nearly all of it (0.984; D8 0.98). The talker alone gets no more music events than
    before. In the daemon without a camera (every type may act from audio alone), the music is confirmed at 41 of
    240 polls instead of 18 (D8 39 and 11), and never on the talker alone."""
    rate = 16_000
    seconds = 24.0
    talker = np.tile(speech(shared_media, 14.0, offset=0.0, rate=rate), 2)[: int(seconds * rate)]
    talker *= 0.05 / np.sqrt(np.mean(talker[np.abs(talker) > 0.01 * np.abs(talker).max()] ** 2))
    music = decode_audio(shared_media / TEST_SPLIT_MUSIC, rate=rate)[0][5 * rate: 5 * rate + talker.size]
    music = music * 0.005 / np.sqrt(np.mean(music[np.abs(music) > 0.01 * np.abs(music).max()] ** 2))
    mixture = (talker + music).astype(np.float32)
    window_by_window = FaultAnalyser(AudioSettings(types={"background_music": {"sustained_windows": 1}}),
                                     model=shipped_analyser.model)
    alone = _music_covered(analyze_samples(mixture, rate, window_by_window), seconds)
    sustained = _music_covered(analyze_samples(mixture, rate, shipped_analyser), seconds)
    assert sustained >= 0.95 and sustained >= alone + 0.15, (alone, sustained)
    speech_only = talker.astype(np.float32)
    before = [e for e in analyze_samples(speech_only, rate, window_by_window) if e.type == "background_music"]
    after = [e for e in analyze_samples(speech_only, rate, shipped_analyser) if e.type == "background_music"]
    assert len(after) <= len(before)

    def confirmed_music_polls(analyser: FaultAnalyser, x: np.ndarray) -> int:
        stream = StreamingFaultAnalyser(analyser, rate)
        stream.camera_available = False
        confirmed = 0
        for i in range(0, x.size, rate // 10):  # 100 ms capture blocks, a poll after each
            stream.feed(AudioBlock(t0=i / rate, samples=x[i: i + rate // 10], rate=rate))
            music = [e for e in stream.poll() if e.type == "background_music"]
            # events lie inside the audio heard so far, on the capture clock
            assert all(0.0 <= e.start < e.end <= stream.now + 1e-6 for e in music), (stream.now, music)
            confirmed += bool(music)
        return confirmed

    daemon_alone = confirmed_music_polls(window_by_window, mixture)
    daemon_sustained = confirmed_music_polls(shipped_analyser, mixture)
    assert daemon_sustained >= 30 and daemon_sustained >= 2 * daemon_alone, (daemon_alone, daemon_sustained)
    assert confirmed_music_polls(shipped_analyser, speech_only) == 0


def test_music_evidence_counts_zero_where_the_pauses_are_too_quiet_for_music(shared_media: Path) -> None:
    """The physics check of a music verdict (something must play in the talker's pauses) also gates the mean over
    several windows: a window whose pauses are digital silence adds 0, whatever the model says."""
    rate = 16_000
    talker = speech(shared_media, 1.2, offset=1.0, rate=rate) * 0.3
    talker[int(0.3 * rate): int(0.6 * rate)] = 0.0  # a pause with nothing under it
    music = decode_audio(shared_media / TEST_SPLIT_MUSIC, rate=rate)[0][10 * rate: 10 * rate + talker.size]
    with_music = talker + 0.03 * music / np.abs(music).max()
    for x, expected in ((talker, 0.0), (with_music, 0.9)):
        model = KnowingStandIn(x, rate, "background_music", 0.0, 1.2)
        analyser = FaultAnalyser(AudioSettings(), model=model)
        result = analyser.analyse_detailed(window(x, t0=0.0, rate=rate))
        assert result.sustained_scores == {"background_music": pytest.approx(expected)}


def test_the_daemons_fault_stage_decides_audio_alone_with_the_streams_poll(shared_media: Path) -> None:
    """The fault stage's audio-only judgement is the stream's poll (whole model windows, music over several windows,
    confirmation), not a decision of its own: a poll that padded the model's window, or a hum never confirmed, fails."""
    from liverec_edge.audio.stage import FaultStage

    x = speech(shared_media, 4.0, offset=2.0)
    checking = SampleCheckingStandIn()
    stage = FaultStage()
    stage.stream = StreamingFaultAnalyser(FaultAnalyser(AudioSettings(), model=checking), RATE)
    for a in range(0, x.size, 4800):
        stage._judge_all([AudioBlock(10.0 + a / RATE, x[a: a + 4800, None].astype(np.float32), RATE)], [])
    assert checking.checked >= 5 and checking.padded == 0

    name = MAINS_FILES[2]
    hum = mains_hum(shared_media, name, 60.0, 4.0) * 10 ** (-30 / 20)
    mixture = place(x, hum, 0.0, 1.0)
    stage = FaultStage()
    stage.stream = StreamingFaultAnalyser(
        FaultAnalyser(AudioSettings(), model=KnowingStandIn(mixture, RATE, "hum", 0.0, 4.0)), RATE)
    audio_only = []
    for a in range(0, mixture.size, 4800):  # 100 ms blocks, as the capture bus delivers them
        block = AudioBlock(a / RATE, mixture[a: a + 4800, None].astype(np.float32), RATE)
        audio_only += [j for j in stage._judge_all([block], []) if j.work is None]
    assert 6 <= len(audio_only) <= 7  # one judgement per 0.5 s hop once a whole window is heard
    confirmed = [e for j in audio_only for e in j.events]
    assert confirmed and {e.type for e in confirmed} == {"hum"}
    assert len(confirmed) <= len(audio_only) - 2  # hum needs three windows in a row
    assert abs(confirmed[0].freq - mains_frequency(shared_media, name, 60.0, 4.0)) <= 0.3

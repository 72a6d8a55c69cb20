"""Log-mel front end: streaming == batch, known tones land in the right bands, bad input stays harmless."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from liverec_edge.audio.features import (
    FeatureParams,
    StreamingLogMel,
    StreamingResampler,
    hz_to_mel,
    logmel,
    mel_filterbank,
    mel_to_hz,
    resample_to_16k,
)
from liverec_edge.media import decode_audio


@pytest.fixture(scope="module")
def speech_16k(shared_media) -> np.ndarray:
    samples, _ = decode_audio(shared_media / "speech" / "jfk.wav", 16_000)
    return samples


def test_streaming_matches_batch_on_real_speech_with_random_chunks(speech_16k: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    stream = StreamingLogMel(history_frames=2000)
    pos = 0
    while pos < speech_16k.size:
        size = int(rng.choice([0, 1, 159, 160, 161, 399, 400, 1024, 4800]))
        stream.push(speech_16k[pos : pos + size])
        pos += size
    batch = logmel(speech_16k)
    assert stream.frames_total == batch.shape[0] == FeatureParams().n_frames(speech_16k.size)
    held = stream.window(stream.oldest_frame, stream.frames_total - stream.oldest_frame)
    np.testing.assert_allclose(held, batch[stream.oldest_frame :], rtol=0, atol=1e-4)


def test_streaming_overlapping_windows_reuse_the_same_frames(speech_16k: np.ndarray) -> None:
    params = FeatureParams()
    stream = StreamingLogMel(history_frames=300)
    batch = logmel(speech_16k)
    for start in range(0, speech_16k.size - 16_000, 1600):  # 100 ms steps, arrival-sized blocks
        stream.push(speech_16k[start : start + 1600])
        if stream.frames_total >= 100:
            first = stream.frames_total - 100
            np.testing.assert_allclose(stream.latest(100), batch[first : first + 100], atol=1e-4)
            # a window 30 frames back overlaps the last one by 70 frames: same numbers, no recomputation
            if first >= 30:
                np.testing.assert_array_equal(stream.window(first - 30, 100)[30:], stream.latest(100)[:70])
    assert params.n_samples(100) == 16_240


def test_history_is_bounded_and_old_frames_are_refused(speech_16k: np.ndarray) -> None:
    stream = StreamingLogMel(history_frames=50)
    stream.push(speech_16k[:32_000])
    assert stream.frames_total == FeatureParams().n_frames(32_000)
    assert stream.oldest_frame == stream.frames_total - 50
    with pytest.raises(IndexError):
        stream.window(0, 10)
    with pytest.raises(IndexError):
        stream.window(stream.frames_total - 5, 10)  # not computed yet
    np.testing.assert_allclose(stream.latest(50), logmel(speech_16k[:32_000])[-50:], atol=1e-4)


def test_a_tone_peaks_in_the_band_that_contains_it() -> None:
    t = np.arange(16_240) / 16_000
    for freq in (60.0, 440.0, 1000.0, 3000.0, 7000.0):
        feats = logmel(0.5 * np.sin(2 * np.pi * freq * t))
        assert feats.shape == (100, 64)
        centres = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(8000.0), 66))[1:-1]
        peak_band = int(np.argmax(feats.mean(axis=0)))
        assert abs(centres[peak_band] - freq) <= max(40.0, 0.08 * freq), (freq, centres[peak_band])


def test_every_mel_band_has_weight() -> None:
    bank = mel_filterbank(16_000, 512, 64, 0.0, 8000.0)
    assert bank.shape == (257, 64)
    assert (bank.sum(axis=0) > 0).all()


def test_bad_input_gives_quiet_frames_not_errors() -> None:
    bad = np.full(16_240, np.nan, np.float32)
    bad[::7] = np.inf
    feats = logmel(bad)
    assert np.isfinite(feats).all()
    np.testing.assert_allclose(feats, np.log(1e-10), atol=1e-4)
    assert logmel(np.zeros(100, np.float32)).shape == (0, 64)  # shorter than one frame
    with pytest.raises(ValueError):
        logmel(np.zeros((16_000, 2), np.float32))
    stream = StreamingLogMel()
    assert stream.push(np.zeros(0, np.float32)) == 0
    stream.push(bad)
    assert np.isfinite(stream.latest(10)).all()


def test_resample_48k_to_16k_keeps_a_tone_and_the_length(speech_16k: np.ndarray) -> None:
    t = np.arange(48_000) / 48_000
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    out = resample_to_16k(tone, 48_000)
    assert out.shape == (16_000,) and out.dtype == np.float32
    expected = np.sin(2 * np.pi * 1000 * np.arange(16_000) / 16_000)
    assert np.max(np.abs(out[200:-200] - expected[200:-200])) < 1e-2
    assert resample_to_16k(speech_16k, 16_000) is not None
    with pytest.raises(ValueError):
        resample_to_16k(tone, 0)


def test_streaming_resampler_matches_resample_poly_on_real_music(shared_media) -> None:
    music, _ = decode_audio(shared_media / "music" / "Kevin_MacLeod_-_Vibe_Ace.ogg", 48_000)
    music = music[: 5 * 48_000]
    reference = resample_to_16k(music, 48_000)
    resampler = StreamingResampler(48_000)
    rng = np.random.default_rng(3)
    blocks, pos = [], 0
    while pos < music.size:
        size = int(rng.choice([0, 1, 2, 3, 480, 1024, 4800]))
        blocks.append(resampler.push(music[pos : pos + size]))
        pos += size
    streamed = np.concatenate(blocks)
    assert reference.size - 11 <= streamed.size <= reference.size  # the last 10 wait for input that never came
    np.testing.assert_allclose(streamed, reference[: streamed.size], atol=1e-5)
    with pytest.raises(ValueError):
        StreamingResampler(44_100)
    assert StreamingResampler(16_000).push(music[:100]).size == 100


def _mains(n: int, base: float, weights: dict[int, float], rate: int = 16_000) -> np.ndarray:
    """``n`` samples of mains hum with a slow natural wander of the fundamental (±0.1 Hz), harmonic k at amplitude
    weights[k]."""
    t = np.arange(n) / rate
    phase = 2 * np.pi * (base * t + 0.1 / (2 * np.pi * 0.3) * np.sin(2 * np.pi * 0.3 * t))
    return sum(a * np.sin(k * phase) for k, a in weights.items()).astype(np.float32)


def test_mains_lines_find_hum_under_real_speech(shared_media) -> None:
    """A 50 Hz hum ~17 dB under the voice's level stands out on its own lines; the voice alone does not; 60 Hz hum
    shows on the 60 Hz channels. (LibriSpeech 5703: a recording without mains lines of its own — JFK has real 120/240 Hz
    lines, which these channels do find.)"""
    from liverec_edge.audio.features import MAINS_LINE_CHANNELS, mains_lines

    n = FeatureParams().n_samples(100)
    speech, _ = decode_audio(shared_media / "speech" / "librispeech_5703-47212-0000.ogg", 16_000)
    voice = speech[16_000 : 16_000 + n]
    voice = voice / np.max(np.abs(voice)) * 0.3
    hum50 = _mains(n, 50.0, {1: 0.01, 2: 0.007, 3: 0.01})
    hum60 = _mains(n, 60.0, {1: 0.01, 2: 0.007, 3: 0.01})
    index = {name: i for i, name in enumerate(MAINS_LINE_CHANNELS)}
    lines_50 = [index[f"line_50x{k}"] for k in (1, 2, 3)]
    lines_60 = [index[f"line_60x{k}"] for k in (1, 2, 3)]
    settled = slice(30, None)  # frames whose 256 ms span lies inside the window
    alone = mains_lines(voice, 100)[settled]
    with50 = mains_lines(voice + hum50, 100)[settled]
    with60 = mains_lines(voice + hum60, 100)[settled]
    assert alone.shape[1] == len(MAINS_LINE_CHANNELS) == 16
    # (measured: +2.9 and +2.5 nats on average over the three lines, −1.3 on the wrong mains, 0 median alone)
    assert with50[:, lines_50].mean() > alone[:, lines_50].mean() + 1.5
    assert with60[:, lines_60].mean() > alone[:, lines_60].mean() + 1.5
    assert with50[:, lines_60].mean() < with50[:, lines_50].mean() - 2.0  # 50 Hz hum is not 60 Hz hum
    assert abs(float(np.median(alone))) < 1.0


def test_mains_lines_edges() -> None:
    from liverec_edge.audio.features import mains_lines

    n = FeatureParams().n_samples(100)
    assert np.array_equal(mains_lines(np.zeros(n, np.float32), 100), np.zeros((100, 16), np.float32))
    broken = np.zeros(n, np.float32)
    broken[100] = np.nan
    assert np.isfinite(mains_lines(broken, 100)).all()
    with pytest.raises(ValueError, match="need"):
        mains_lines(np.zeros(n - 1, np.float32), 100)
    # window-local: before the window's first sample the 256 ms span reads zeros, so a window equals the tail of the
    # same samples after 30 frames of silence (the audio before a window never leaks into its channels)
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.1, n).astype(np.float32)
    after_silence = mains_lines(np.concatenate([np.zeros(30 * 160, np.float32), x]), 130)[30:]
    np.testing.assert_allclose(mains_lines(x, 100), after_silence, atol=1e-4)


MUSIC_TEST_FILE = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg"


def _windows(signal: np.ndarray, count: int, n: int) -> list[np.ndarray]:
    starts = np.linspace(0, signal.size - n, count).astype(int)
    return [signal[s : s + n] for s in starts]


def test_tonal_peaks_find_held_partials_of_real_music_under_real_speech_and_a_howl(shared_media) -> None:
    """Held partials: real string music 6 dB under a real voice shows more of them than the voice alone, in every
    one of 8 windows; a growing howl 10 dB under the voice dominates its band and reads as growing, a struck note
    reads as decaying. Gain does not move the channels."""
    from liverec_edge.audio.features import TONAL_BANDS_HZ, TONAL_CHANNELS, tonal_peaks

    n = FeatureParams().n_samples(100)
    speech, _ = decode_audio(shared_media / "speech" / "librispeech_5703-47212-0000.ogg", 16_000)
    music, _ = decode_audio(shared_media / "music" / MUSIC_TEST_FILE, 16_000)
    index = {name: i for i, name in enumerate(TONAL_CHANNELS)}
    held = [index[name] for name in TONAL_CHANNELS if name.startswith("held_") and name.count("_") == 2]
    assert len(held) == len(TONAL_BANDS_HZ) - 1 and len(TONAL_CHANNELS) == 12
    settled = slice(25, None)  # frames whose 200 ms hold span lies inside the window

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(x))))

    voices = _windows(speech[16_000:], 8, n)
    notes = _windows(music[16_000 * 10 :], 8, n)
    alone, mixed = [], []
    for voice, note in zip(voices, notes, strict=True):
        mix = voice + note / rms(note) * rms(voice) * 10 ** (-6 / 20)
        alone.append(tonal_peaks(voice, 100)[settled][:, held].sum(axis=1).mean())
        mixed.append(tonal_peaks(mix, 100)[settled][:, held].sum(axis=1).mean())
    assert all(m > a for m, a in zip(mixed, alone, strict=True)), (alone, mixed)
    assert np.mean(mixed) > 3 * np.mean(alone) + 0.2

    t = np.arange(n) / 16_000
    voice = voices[0]
    growing = np.sin(2 * np.pi * 1234.0 * t) * np.exp(np.linspace(-4.0, 0.0, n))
    howl = voice + growing / rms(growing[-4000:]) * rms(voice) * 10 ** (-10 / 20)
    with_howl = tonal_peaks(howl.astype(np.float32), 100)
    band = next(i for i, name in enumerate(TONAL_CHANNELS) if name == "held_1000_2000")
    assert with_howl[-30:, band].min() >= np.log1p(1) - 1e-6  # the howl's partial is held to the end
    assert with_howl[-30:, index["held_dominance"]].mean() > 0.2
    assert with_howl[-30:, index["held_growth"]].mean() > 0.05
    struck = (np.sin(2 * np.pi * 880.0 * t) * np.exp(-t / 0.3)).astype(np.float32) * 0.3
    assert tonal_peaks(struck, 100)[40:, index["held_growth"]].mean() < -0.1
    # ratios: a 10 dB quieter copy reads the same but for bins that sink towards the -90 dBFS floor
    quieter = tonal_peaks((howl * 10 ** (-10 / 20)).astype(np.float32), 100)
    assert float(np.abs(quieter - with_howl).mean()) < 0.01


def test_tonal_peaks_edges() -> None:
    from liverec_edge.audio.features import tonal_peaks

    n = FeatureParams().n_samples(100)
    assert np.array_equal(tonal_peaks(np.zeros(n, np.float32), 100), np.zeros((100, 12), np.float32))
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.1, n).astype(np.float32)
    assert tonal_peaks(noise, 100)[:, :5].max() == 0.0  # white noise holds no partial for 200 ms
    broken = noise.copy()
    broken[100] = np.inf
    assert np.isfinite(tonal_peaks(broken, 100)).all()
    with pytest.raises(ValueError, match="need"):
        tonal_peaks(np.zeros(n - 1, np.float32), 100)
    # window-local: the window's channels equal the tail of the same samples after silence
    tone = (np.sin(2 * np.pi * 700.0 * np.arange(n) / 16_000) * 0.1).astype(np.float32) + noise * 0.01
    after_silence = tonal_peaks(np.concatenate([np.zeros(30 * 160, np.float32), tone]), 130)[30:]
    np.testing.assert_allclose(tonal_peaks(tone, 100), after_silence, atol=1e-4)


def test_clip_shape_tells_real_speech_clipped_hard_or_soft_from_the_same_speech_clean(speech_16k) -> None:
    """Real speech driven 12 dB into hard clipping and then trimmed 6 dB still piles its samples at one level with
    flat runs; soft (tanh) clipping crowds them near the peak; the clean speech does neither. Gain-independent."""
    from liverec_edge.audio.features import CLIP_SHAPE_CHANNELS, clip_shape

    n = FeatureParams().n_samples(100)
    voice = speech_16k[16_000 * 2 : 16_000 * 2 + n]
    voice = voice / np.max(np.abs(voice)) * 0.5
    hard = np.clip(voice * 4.0, -1.0, 1.0) * 0.5
    soft = np.tanh(voice * 4.0) * 0.5
    index = {name: i for i, name in enumerate(CLIP_SHAPE_CHANNELS)}
    clean_f, hard_f, soft_f = (clip_shape(x.astype(np.float32), 100) for x in (voice, hard, soft))
    assert clean_f.shape == (100, 4)
    assert hard_f[:, index["at_peak"]].mean() > 5 * clean_f[:, index["at_peak"]].mean()
    assert hard_f[:, index["flat_pairs"]].max() > 0.3 and clean_f[:, index["flat_pairs"]].max() < 0.1
    assert soft_f[:, index["near_peak"]].mean() > 2 * clean_f[:, index["near_peak"]].mean()
    frames = np.lib.stride_tricks.sliding_window_view(voice, 400)[::160][:100]
    driven = np.abs(frames).max(axis=1) > 0.15  # the frames the drive pushed well into the tanh bend
    assert driven.sum() >= 5
    assert soft_f[driven, index["crest"]].mean() < clean_f[driven, index["crest"]].mean() - 0.2
    np.testing.assert_allclose(clip_shape((hard * 0.25).astype(np.float32), 100), hard_f, atol=1e-5)
    assert np.array_equal(clip_shape(np.zeros(n, np.float32), 100), np.zeros((100, 4), np.float32))
    with pytest.raises(ValueError, match="need"):
        clip_shape(np.zeros(n - 1, np.float32), 100)


def test_mains_lines_equal_their_definition_computed_directly(shared_media) -> None:
    """The polyphase decimation and strided spans compute what the docstring defines: the signal low-passed (causal
    FIR) and taken every 8th sample, the 256 ms ending with each frame Hann-windowed, and the log power at each line
    over its neighbours' mean. Checked on real speech with 60 Hz hum against a direct per-frame evaluation."""
    from scipy.signal import lfilter

    from liverec_edge.audio.features import (
        LINE_CLIP,
        LINE_DECIMATION,
        LINE_FLOOR,
        LINE_NEIGHBOUR_HZ,
        LINE_SPAN,
        LINE_TAPS,
        MAINS_BASES_HZ,
        MAINS_HARMONICS,
        mains_lines,
    )

    params = FeatureParams()
    n_frames = 100
    speech, _ = decode_audio(shared_media / "speech" / "librispeech_5703-47212-0000.ogg", 16_000)
    x = speech[32_000 : 32_000 + params.n_samples(n_frames)].astype(np.float64)
    x += _mains(x.size, 60.0, {1: 0.004, 3: 0.002})
    k = np.arange(LINE_TAPS) - (LINE_TAPS - 1) / 2
    taps = 2 * (800 / 16_000) * np.sinc(2 * (800 / 16_000) * k) * np.hanning(LINE_TAPS)
    low = lfilter(taps / taps.sum(), 1.0, x)[::LINE_DECIMATION]  # low[j] = sum_k taps[k] x[8j - k]
    hann = np.hanning(LINE_SPAN + 2)[1:-1]
    t = np.arange(LINE_SPAN) / (16_000 / LINE_DECIMATION)
    floor = LINE_FLOOR * (hann.sum() / 2) ** 2
    expected = np.zeros((n_frames, 16))
    for frame in range(n_frames):
        end = (frame * params.hop_length + params.win_length - 1) // LINE_DECIMATION + 1  # decimated samples so far
        span = np.concatenate([np.zeros(max(0, LINE_SPAN - end)), low[max(0, end - LINE_SPAN) : end]]) * hann
        lines = [b * h for b in MAINS_BASES_HZ for h in range(1, MAINS_HARMONICS + 1)]

        def power(f: float, span: np.ndarray = span) -> float:
            return float(np.abs(np.sum(span * np.exp(-2j * np.pi * f * t))) ** 2)

        expected[frame] = [np.log((power(f) + floor) / (0.5 * (power(f - LINE_NEIGHBOUR_HZ) +
                                                                 power(f + LINE_NEIGHBOUR_HZ)) + floor))
                           for f in lines]
    expected = np.clip(expected, *LINE_CLIP)
    got = mains_lines(x.astype(np.float32), n_frames)
    assert expected[40:, 8:].max() > 3.0  # the hum's lines stand out: the comparison covers real contrast
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_tonal_held_counts_equal_their_definition_counted_directly(shared_media) -> None:
    """``held_*`` counts, per band, the peaks that had a peak within one bin in at least 70 % of the last 10
    spectra (spectra before the window count as none): recounted here with plain loops over the function's own
    peak map on real music under real speech, so the vectorised window sums cannot drift from the definition."""
    from liverec_edge.audio.features import (
        TONAL_BANDS_HZ,
        TONAL_FFT,
        TONAL_HOLD_FRAMES,
        TONAL_HOLD_SHARE,
        TONAL_MIN_PROMINENCE,
        TONAL_STEP,
        tonal_peaks,
    )

    params = FeatureParams()
    n_frames = 100
    n = params.n_samples(n_frames)
    speech, _ = decode_audio(shared_media / "speech" / "librispeech_5703-47212-0000.ogg", 16_000)
    music, _ = decode_audio(shared_media / "music" / MUSIC_TEST_FILE, 16_000)
    mix = (speech[16_000 : 16_000 + n] + 0.5 * music[160_000 : 160_000 + n]).astype(np.float32)
    got = tonal_peaks(mix, n_frames)

    window = np.hanning(TONAL_FFT + 2)[1:-1].astype(np.float32)
    padded = np.concatenate([np.zeros(TONAL_FFT - params.win_length, np.float32), mix])
    edges = np.round(np.asarray(TONAL_BANDS_HZ) * TONAL_FFT / 16_000).astype(int)
    edges[-1] = min(edges[-1], TONAL_FFT // 2 - 3)
    full_scale = float((window.sum() / 2) ** 2)
    taken = list(range((n_frames - 1) % TONAL_STEP, n_frames, TONAL_STEP))
    peaks = []
    for frame in taken:
        start = frame * params.hop_length
        power = np.abs(np.fft.rfft(padded[start : start + TONAL_FFT] * window)) ** 2
        level = np.log(power + 1e-9 * full_scale)
        peaks.append({b for b in range(edges[0], edges[-1])
                      if level[b] >= level[b - 1] and level[b] >= level[b + 1]
                      and level[b] - 0.5 * (level[b - 3] + level[b + 3]) >= TONAL_MIN_PROMINENCE})
    span = TONAL_HOLD_FRAMES // TONAL_STEP
    for k, frame in enumerate(taken):
        recent = peaks[max(0, k - span + 1) : k + 1]
        held = [b for b in peaks[k] if sum(any(abs(b - p) <= 1 for p in s) for s in recent) >= TONAL_HOLD_SHARE * span]
        counts = [sum(lo <= b < hi for b in held) for lo, hi in pairwise(edges)]
        np.testing.assert_allclose(got[frame, : len(counts)], np.log1p(counts), atol=1e-5, err_msg=f"frame {frame}")
    assert got[taken[-1], :5].sum() > 0  # the music's held partials were counted, not only zeros compared

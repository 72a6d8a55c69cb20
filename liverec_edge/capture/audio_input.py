"""Audio sources: ALSA capture (pyalsaaudio), an audio file, and a synthetic speech-like signal; plus the factory.

Public API::

    make_audio_source(settings: AudioInputSettings) -> AudioSource
    AlsaSource(device, rate, channels, period_frames, periods=4, sample_format="S16_LE")
    FileAudioSource(path, rate, channels, period_frames, loop=False, paced=True)
    SyntheticAudioSource(rate, channels, period_frames, seed=0, paced=True)
    SyntheticSpeech(rate, seed).render(start, n) -> np.ndarray   # the synthetic signal, sample-addressed

Every source delivers blocks of (about) ``period_frames`` samples as (n, channels) float32 in [-1, 1]. ALSA blocks
carry their arrival time (the runner stamps them, counting samples); file and synthetic blocks carry their exact
media time on the capture clock (``t_origin + samples_before / rate``).
"""

from __future__ import annotations

import contextlib
import errno
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverec_edge.capture.base import AudioRead, AudioSource, SourceContext, SourceError
from liverec_edge.capture.settings import AudioInputSettings
from liverec_edge.media import MediaError, decode_audio

#: ALSA sample formats read, with the bytes one sample takes. USB interfaces mostly deliver S32_LE (24 significant
#: bits in the top of 32, e.g. the X32 and X-Air cards), S24_3LE (packed) or S16_LE.
ALSA_FORMATS: dict[str, int] = {"S16_LE": 2, "S24_3LE": 3, "S24_LE": 4, "S32_LE": 4, "FLOAT_LE": 4}


def pcm_to_float(data: bytes, frames: int, channels: int, sample_format: str) -> np.ndarray:
    """Interleaved little-endian PCM bytes -> (frames, channels) float32 in [-1, 1)."""
    count = frames * channels
    if sample_format == "S16_LE":
        values = np.frombuffer(data, "<i2", count).astype(np.float32) * np.float32(1 / 32768)
    elif sample_format == "S32_LE":
        values = np.frombuffer(data, "<i4", count).astype(np.float32) * np.float32(1 / 2**31)
    elif sample_format == "S24_LE":  # 24 bits in the low three bytes of 32; the top byte is not to be trusted
        words = np.frombuffer(data, "<i4", count)
        values = ((words << 8) >> 8).astype(np.float32) * np.float32(1 / 2**23)
    elif sample_format == "S24_3LE":  # packed: three bytes a sample
        octets = np.frombuffer(data, np.uint8, count * 3).reshape(count, 3).astype(np.int32)
        words = octets[:, 0] | (octets[:, 1] << 8) | (octets[:, 2] << 16)
        values = ((words << 8) >> 8).astype(np.float32) * np.float32(1 / 2**23)
    elif sample_format == "FLOAT_LE":
        values = np.frombuffer(data, "<f4", count).astype(np.float32)
    else:
        raise SourceError(f"unsupported ALSA sample format {sample_format!r} (use one of {', '.join(ALSA_FORMATS)})")
    return values.reshape(frames, channels)


class AlsaSource:
    """An ALSA capture PCM read in blocking mode, one period per read.

    Overruns (the reader fell behind the card and samples were lost) are counted and flagged on the next block so
    the runner re-anchors its timestamps; pyalsaaudio reports them as a negative length (-EPIPE) in some versions
    and as an ``ALSAAudioError`` in others, and both are handled. After an overrun raised as an error the PCM is
    opened again, because the library did not prepare it for the next read.
    """

    def __init__(
        self,
        device: str,
        rate: int,
        channels: int,
        period_frames: int,
        periods: int = 4,
        sample_format: str = "S16_LE",
    ):
        if sample_format not in ALSA_FORMATS:
            known = ", ".join(ALSA_FORMATS)
            raise SourceError(f"unsupported ALSA sample format {sample_format!r} (use one of {known})")
        self.device = device
        self.rate, self.channels = int(rate), int(channels)
        self.period_frames, self.periods = int(period_frames), int(periods)
        self.sample_format = sample_format
        self.name = f"alsa {device}"
        self.overruns = 0
        self._ctx: SourceContext | None = None
        self._pcm = None
        self._alsa = None
        self._lost_samples = False

    def open(self, ctx: SourceContext) -> None:
        try:
            import alsaaudio
        except ImportError as exc:
            raise SourceError(f"audio kind 'alsa' needs pyalsaaudio (pip install pyalsaaudio): {exc}") from None
        self._alsa = alsaaudio
        self._ctx = ctx
        self._open_pcm()

    def _open_pcm(self) -> None:
        alsaaudio = self._alsa
        assert alsaaudio is not None
        pcm_format = getattr(alsaaudio, f"PCM_FORMAT_{self.sample_format}")
        kwargs = dict(
            type=alsaaudio.PCM_CAPTURE, mode=alsaaudio.PCM_NORMAL, device=self.device, rate=self.rate,
            channels=self.channels, format=pcm_format, periodsize=self.period_frames,
        )
        try:
            try:
                pcm = alsaaudio.PCM(**kwargs, periods=self.periods)
            except TypeError:  # pyalsaaudio < 0.10 has no `periods`
                pcm = alsaaudio.PCM(**kwargs)
        except alsaaudio.ALSAAudioError as exc:
            raise SourceError(f"cannot open ALSA capture device {self.device!r}: {exc}") from None
        info = pcm.info() if hasattr(pcm, "info") else {}
        granted = {k: info.get(k) for k in ("rate", "channels", "format_name")}
        wanted = {"rate": self.rate, "channels": self.channels, "format_name": self.sample_format}
        mismatch = [f"{k} {granted[k]} (asked {wanted[k]})" for k in wanted if granted[k] not in (None, wanted[k])]
        if mismatch:
            pcm.close()
            raise SourceError(
                f"ALSA device {self.device!r} granted {', '.join(mismatch)}; use a plughw: device to have ALSA convert"
            )
        self._pcm = pcm

    def _is_overrun(self, exc: Exception) -> bool:
        text = str(exc).lower()
        return any(isinstance(a, int) and a in (errno.EPIPE, -errno.EPIPE) for a in exc.args) or (
            "broken pipe" in text or "epipe" in text or "overrun" in text
        )

    def read(self) -> AudioRead | None:
        ctx, alsaaudio = self._ctx, self._alsa
        if ctx is None or alsaaudio is None:
            raise SourceError(f"{self.name}: read before open")
        while not ctx.stop.is_set():
            if self._pcm is None:
                self._open_pcm()
            try:
                length, data = self._pcm.read()  # type: ignore[union-attr]
            except alsaaudio.ALSAAudioError as exc:
                if not self._is_overrun(exc):
                    raise SourceError(f"ALSA capture from {self.device!r} failed: {exc}") from None
                self.overruns += 1
                self._lost_samples = True
                self._pcm.close()  # type: ignore[union-attr]
                self._pcm = None
                continue
            if length < 0:  # -EPIPE: overrun; the library has prepared the PCM again
                self.overruns += 1
                self._lost_samples = True
                continue
            if length == 0:
                continue
            arrived = ctx.clock.now()
            samples = pcm_to_float(data, length, self.channels, self.sample_format)
            discontinuity, self._lost_samples = self._lost_samples, False
            return AudioRead(samples=samples, arrived_at=arrived, discontinuity=discontinuity)
        return None

    def close(self) -> None:
        if self._pcm is not None:
            with contextlib.suppress(Exception):
                self._pcm.close()
        self._pcm = None
        self._ctx = None


class _BlockClock:
    """Block *k* of ``period`` samples starts at ``t_origin + k * period / rate``; paced, it is delivered when its
    last sample is due, as a sound card would."""

    def __init__(self, rate: int, period_frames: int, paced: bool):
        if rate <= 0 or period_frames <= 0:
            raise SourceError(f"rate and period_frames must be positive, got {rate}, {period_frames}")
        self.rate, self.period_frames, self.paced = int(rate), int(period_frames), paced
        self.overruns = 0
        self._ctx: SourceContext | None = None
        self._position = 0  # samples delivered

    def _begin(self, ctx: SourceContext) -> None:
        self._ctx = ctx
        self._position = 0

    def _due(self, n: int) -> float | None:
        """Wait until n more samples are due; their block's t0, or None when stopping."""
        ctx = self._ctx
        if ctx is None:
            raise SourceError(f"{type(self).__name__} read before open")
        t0 = ctx.t_origin + self._position / self.rate
        if self.paced:
            if not ctx.wait_until(t0 + n / self.rate):
                return None
        elif ctx.stop.is_set():
            return None
        return t0


class FileAudioSource(_BlockClock):
    """An audio file (anything FFmpeg reads, video files too), resampled to ``rate``, in blocks of the period.

    The file is decoded whole when opened (minutes of audio, not hours: an hour at 48 kHz mono is 690 MB).
    """

    def __init__(
        self, path: str | Path, rate: int, channels: int, period_frames: int, loop: bool = False, paced: bool = True
    ):
        super().__init__(rate, period_frames, paced)
        self.path = Path(path)
        self.channels = int(channels)
        self.loop = loop
        self.name = f"file {self.path.name}"
        self._data = np.zeros((0, self.channels), np.float32)

    def open(self, ctx: SourceContext) -> None:
        try:
            data, _ = decode_audio(self.path, rate=self.rate, mono=self.channels == 1)
        except MediaError as exc:
            raise SourceError(str(exc)) from None
        if data.ndim == 1:
            data = data[:, None]
        if data.shape[1] != self.channels:
            if data.shape[1] == 1:
                data = np.repeat(data, self.channels, axis=1)
            else:
                raise SourceError(
                    f"{self.path} has {data.shape[1]} channels; capture.audio.channels is {self.channels} "
                    "(use 1 to mix it down, or the file's channel count)"
                )
        if data.shape[0] == 0:
            raise SourceError(f"{self.path} holds no audio samples")
        self._data = np.ascontiguousarray(data, dtype=np.float32)
        self._begin(ctx)

    def read(self) -> AudioRead | None:
        total = self._data.shape[0]
        start = self._position if not self.loop else self._position % total
        if not self.loop:
            n = min(self.period_frames, total - start)
            if n <= 0:
                return None
            block = self._data[start : start + n]
        else:
            n = self.period_frames
            idx = (start + np.arange(n)) % total
            block = self._data[idx] if start + n > total else self._data[start : start + n]
        t0 = self._due(n)
        if t0 is None:
            return None
        self._position += n
        return AudioRead(samples=block.copy(), t0=t0)

    def close(self) -> None:
        self._ctx = None


@dataclass(frozen=True, slots=True)
class _Syllable:
    start: int
    length: int
    f0_start: float
    f0_end: float
    amplitude: float
    formant1: float
    formant2: float


# (F1, F2) of a few vowels, Hz
_VOWELS = ((730, 1090), (270, 2290), (530, 1840), (570, 840), (300, 870), (660, 1720))


class SyntheticSpeech:
    """Speech-like signal: syllables (voiced harmonic tones with a gliding pitch and vowel formants, 120–300 ms)
    in phrases of 3–8 with short gaps, pauses of 0.4–1.2 s between phrases, over a −60 dBFS noise floor.

    ``render(start, n)`` returns samples ``start .. start+n`` of one endless signal fixed by ``seed``, whatever
    the block sizes it is read in.
    """

    HARMONICS = 24

    def __init__(self, rate: int, seed: int = 0):
        self.rate = int(rate)
        self._rng = np.random.default_rng(seed)
        self._syllables: list[_Syllable] = []
        self._scheduled_to = 0  # the schedule is complete up to this sample
        noise_rng = np.random.default_rng([seed, 1])
        # A noise table with a length prime to common block sizes, read cyclically: cheap and deterministic.
        self._noise = (noise_rng.standard_normal(int(self.rate * 1.37) | 1) * 10 ** (-60 / 20)).astype(np.float32)

    def _schedule_until(self, end: int) -> None:
        rng, rate = self._rng, self.rate
        while self._scheduled_to < end:
            t = self._scheduled_to + int(rng.uniform(0.4, 1.2) * rate)  # pause before the phrase
            base_f0 = rng.uniform(95, 230)
            for _ in range(int(rng.integers(3, 9))):
                length = int(rng.uniform(0.12, 0.30) * rate)
                f1, f2 = _VOWELS[int(rng.integers(len(_VOWELS)))]
                glide = rng.uniform(-0.15, 0.1)
                self._syllables.append(
                    _Syllable(t, length, base_f0, base_f0 * (1 + glide), float(rng.uniform(0.12, 0.35)), f1, f2)
                )
                t += length + int(rng.uniform(0.03, 0.12) * rate)
            self._scheduled_to = t

    def render(self, start: int, n: int) -> np.ndarray:
        end = start + n
        self._schedule_until(end + self.rate)
        out = self._noise[(start + np.arange(n)) % self._noise.size].astype(np.float64)
        harmonics = np.arange(1, self.HARMONICS + 1)
        for syl in self._syllables:  # a handful: past ones are forgotten below
            if syl.start >= end or syl.start + syl.length <= start:
                continue
            a, b = max(start, syl.start), min(end, syl.start + syl.length)
            local = np.arange(a - syl.start, b - syl.start, dtype=np.float64)
            frac = local / syl.length
            # Phase of a linear glide f(t) = f0 + (f1 - f0) * t / T, integrated exactly.
            secs = local / self.rate
            duration = syl.length / self.rate
            phase = 2 * np.pi * (syl.f0_start * secs + (syl.f0_end - syl.f0_start) * secs**2 / (2 * duration))
            mean_f0 = (syl.f0_start + syl.f0_end) / 2
            freqs = harmonics * mean_f0
            gains = (1 / (1 + ((freqs - syl.formant1) / 90) ** 2) + 0.6 / (1 + ((freqs - syl.formant2) / 120) ** 2)) / (
                harmonics**0.5
            )
            gains[freqs > self.rate / 2 * 0.9] = 0
            gains /= gains.sum()
            # float32 for the bulk of the work (the sines): plenty for a synthetic voice, half the CPU
            voiced = np.sin(np.outer(phase.astype(np.float32), harmonics.astype(np.float32))) @ gains.astype(np.float32)
            envelope = np.sin(np.pi * frac) ** 0.6
            out[a - start : b - start] += syl.amplitude * envelope * voiced
        # Forget syllables long past (the signal is only ever read forwards).
        while self._syllables and self._syllables[0].start + self._syllables[0].length < start - self.rate:
            self._syllables.pop(0)
        return out.astype(np.float32)


class SyntheticAudioSource(_BlockClock):
    """The synthetic speech signal on every channel, in blocks of the period."""

    def __init__(self, rate: int, channels: int, period_frames: int, seed: int = 0, paced: bool = True):
        super().__init__(rate, period_frames, paced)
        self.channels = int(channels)
        self.seed = seed
        self.name = f"synthetic seed={seed}"
        self._speech = SyntheticSpeech(self.rate, seed)

    def open(self, ctx: SourceContext) -> None:
        self._speech = SyntheticSpeech(self.rate, self.seed)
        self._begin(ctx)

    def read(self) -> AudioRead | None:
        n = self.period_frames
        t0 = self._due(n)
        if t0 is None:
            return None
        mono = self._speech.render(self._position, n)
        self._position += n
        samples = np.repeat(mono[:, None], self.channels, axis=1) if self.channels > 1 else mono[:, None]
        return AudioRead(samples=samples, t0=t0)

    def close(self) -> None:
        self._ctx = None


def make_audio_source(settings: AudioInputSettings) -> AudioSource:
    """The audio source the settings describe (nothing is opened yet)."""
    if settings.kind == "synthetic":
        return SyntheticAudioSource(
            settings.rate, settings.channels, settings.period_frames, seed=settings.seed, paced=settings.paced
        )
    if settings.kind == "file":
        assert settings.path is not None  # enforced by AudioInputSettings
        return FileAudioSource(
            settings.path, settings.rate, settings.channels, settings.period_frames, settings.loop, settings.paced
        )
    if settings.kind == "alsa":
        assert settings.device is not None
        return AlsaSource(
            settings.device, settings.rate, settings.channels, settings.period_frames, settings.periods, settings.format
        )
    raise SourceError(f"unknown audio kind {settings.kind!r}")

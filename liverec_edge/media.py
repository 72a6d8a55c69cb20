"""Decoding media files (PyAV): whole-file audio as float32, and video frames with their presentation times.

Used by the file capture sources, the offline ``analyze`` command, the training tools and the tests. Errors become
:class:`MediaError` naming the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


#: WAV format tags FFmpeg decodes (PCM, IEEE float, A-law, mu-law, extensible): others have no decoder.
_WAV_TAGS = {0x0001: "PCM", 0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "mu-law", 0xFFFE: "extensible"}


class MediaError(Exception):
    """A media file that cannot be read (missing, corrupt, or without the stream asked for)."""


def check_file(path: str | Path, what: str = "media file") -> Path:
    """``path`` if it is a regular file; otherwise a :class:`MediaError` saying what it is instead."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        raise MediaError(f"{path} is a directory, not a {what}")
    if path.is_symlink():
        raise MediaError(f"{what} not found: {path} is a symbolic link to {path.readlink()}, which does not exist")
    if path.exists():
        raise MediaError(f"{path} is not a regular file (a device, pipe or socket), not a {what}")
    raise MediaError(f"{what} not found: {path}")


def wav_format_problem(path: str | Path) -> str | None:
    """What is unsupported in a WAV file's ``fmt`` header (format tag, bits, channels, rate), or None when the file
    is not a RIFF/WAVE file or its header looks decodable. FFmpeg's own words for these ("no attribute 'rate'",
    "avcodec_open2 returned 22") do not say what is wrong with the file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    at = 12
    while at + 8 <= len(head):
        chunk, size = head[at: at + 4], struct.unpack("<I", head[at + 4: at + 8])[0]
        if chunk == b"fmt ":
            if size < 16 or at + 24 > len(head):
                return f"truncated WAV fmt header ({size} bytes)"
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", head[at + 8: at + 24])
            if tag not in _WAV_TAGS:
                return f"unsupported WAV format tag {tag} (0x{tag:04X}); supported: " + ", ".join(
                    f"{t} {name}" for t, name in _WAV_TAGS.items())
            if bits == 0:
                return f"unsupported WAV format: {_WAV_TAGS[tag]} with 0 bits per sample"
            if channels == 0:
                return "unsupported WAV format: 0 channels"
            if rate == 0:
                return "unsupported WAV format: sample rate 0 Hz"
            return None
        at += 8 + size + (size & 1)  # chunks are padded to an even size
    return None


def _open(path: str | Path):
    import av

    path = check_file(path)
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"cannot open media file {path}: {exc}") from None


def decode_audio(path: str | Path, rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Decode a file's first audio stream to float32.

    Returns ``(samples, rate)``: samples is 1-D when ``mono`` else (n, channels). With ``rate`` given the audio is
    resampled to it (FFmpeg's resampler), otherwise the file's own rate is kept.
    """
    import av

    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError(f"no audio stream in {path}")
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # FFmpeg has no decoder for it (the stream has no rate either)
            problem = wav_format_problem(path) or "no decoder for its codec"
            raise MediaError(f"cannot decode the audio in {path}: {problem}")
        try:
            out_rate = int(rate or stream.rate or stream.codec_context.sample_rate)
            layout = "mono" if mono else stream.layout.name
            resampler = av.AudioResampler(format="flt", layout=layout, rate=out_rate)
        except (av.error.FFmpegError, ValueError, AttributeError) as exc:
            problem = wav_format_problem(path) or str(exc)
            raise MediaError(f"cannot decode the audio in {path}: {problem}") from None
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            problem = wav_format_problem(path)
            raise MediaError(f"cannot decode the audio in {path}: {problem}" if problem else
                             f"corrupt audio in {path}: {exc}") from None
    data = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if not mono:
        channels = len(av.AudioLayout(layout).channels)
        data = data.reshape(-1, channels)
    return data, out_rate


def probe_video(path: str | Path) -> tuple[float, int, int, int]:
    """Return ``(fps, width, height, frame_count)`` of a file's first video stream (count may be 0 if unknown)."""
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"no video stream in {path}")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        return fps, stream.codec_context.width, stream.codec_context.height, int(stream.frames or 0)


def iter_video_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(pts_seconds, rgb_uint8_image)`` for each frame of the first video stream, pts from zero.

    Frames without a timestamp get one from the stream's frame rate so that times are always monotonic.
    """
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"no video stream in {path}")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        period = 1.0 / float(rate)
        first: float | None = None
        last = -1.0
        try:
            for index, frame in enumerate(container.decode(stream)):
                if frame.pts is not None and frame.time_base is not None:
                    t = float(frame.pts * frame.time_base)
                else:
                    t = index * period
                if first is None:
                    first = t
                t -= first
                if t <= last:  # missing or repeated timestamps: keep time monotonic
                    t = last + period
                last = t
                yield t, frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise MediaError(f"corrupt video in {path}: {exc}") from None


def load_image(path: str | Path) -> np.ndarray:
    """Read a still image file as H×W×3 uint8 RGB."""
    from PIL import Image, UnidentifiedImageError

    path = check_file(path, "image file")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise MediaError(f"cannot read image {path}: {exc}") from None


def check_image(path: str | Path) -> None:
    """A :class:`MediaError` unless ``path`` is an image PIL can read (header and structure, without decoding)."""
    from PIL import Image, UnidentifiedImageError

    path = check_file(path, "image file")
    try:
        with Image.open(path) as img:
            img.verify()
    # PIL's verify reports a damaged PNG chunk as SyntaxError
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"cannot read image {path}: {exc}") from None


def has_audio(path: str | Path) -> bool:
    with _open(path) as container:
        return bool(container.streams.audio)


def has_video(path: str | Path) -> bool:
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        return False
    with _open(path) as container:
        return bool(container.streams.video)


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono float samples in [-1, 1] as a 16-bit PCM WAV file (clipped, NaN as silence)."""
    import wave

    pcm = np.round(np.clip(np.nan_to_num(np.asarray(samples, np.float32)), -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(rate))
        wav.writeframes(pcm.tobytes())

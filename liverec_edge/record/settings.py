"""The ``record`` section of the config file: the target recording (processed audio muxed with the video)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from liverec_edge.settings_base import Section


class RecordSettings(Section):
    """Settings of the target recording."""

    enabled: bool = False
    """Write the target recording. Off by default: a capture box often only drives the desk."""
    directory: Path = Path("/var/lib/liverec-edge/recordings")
    """Where segment files are written (must be writable by the service user; systemd's StateDirectory is)."""
    segment_seconds: float = Field(default=4.0, gt=0.5, le=600)
    """Length of one segment. Each segment starts on a key frame (one GOP per segment) and carries its own audio."""
    video_codec: Literal["libx264", "mpeg4", "mjpeg"] = "libx264"
    """Video encoder. libx264 in ultrafast/zerolatency keeps a Pi 4 core mostly free."""
    video_crf: int = Field(default=23, ge=0, le=51)
    """x264 constant rate factor: lower is better quality and larger files."""
    audio_codec: Literal["pcm_s16le", "flac"] = "pcm_s16le"
    """Audio in the segments: PCM (no encoder latency) or lossless FLAC (half the size)."""
    audio_packet_frames: int = Field(default=1024, ge=64, le=16384)
    """Samples per audio packet; the recording carries audio in packets of this fixed size."""
    video_wait_s: float = Field(default=3.0, gt=0, le=30)
    """How long the recording waits for the other stream. With no frame this long after the first audio (no camera,
    or a broken one) the recording starts audio-only from that first audio; a camera that comes later is carried from
    the next segment boundary. When one stream stops this long behind the other, segments close on the other alone."""
    keep_segments: int = Field(default=900, ge=1)
    """Retention: the oldest segment files beyond this count are deleted (900 × 4 s = 1 h)."""
    max_bytes: int = Field(default=4 * 1024**3, gt=0)
    """Retention: the oldest segment files are deleted while the directory holds more than this."""

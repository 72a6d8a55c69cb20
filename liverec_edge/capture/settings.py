"""The ``capture`` section of the config file: which camera and which audio input, and how much of each to keep.

Example (a USB camera and the X-Air's USB audio interface)::

    capture:
      camera: {kind: v4l2, device: /dev/video0, width: 640, height: 480, fps: 30}
      audio: {kind: alsa, device: "hw:CARD=XR18,DEV=0", rate: 48000, channels: 2, format: S32_LE}
      av_offset_ms: 40

The defaults (synthetic camera, synthetic audio) run the daemon with no hardware at all.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from liverec_edge.settings_base import Section

CameraKind = Literal["synthetic", "file", "v4l2", "picamera2", "scene"]
AudioKind = Literal["synthetic", "alsa", "file"]
ScenePoseName = Literal["normal", "lean_in", "away"]


class SceneKeyframe(Section):
    """One step of the scene camera's script: from ``at_s`` on, the presenter moves into ``pose``."""

    at_s: float = Field(ge=0)
    """Seconds from the start of the script (the script repeats every ``scene_cycle_s``)."""
    pose: ScenePoseName
    """normal: seated at the desk; lean_in: closer to the camera and mic (larger, lower); away: out of the frame."""


#: The demo script: 6 s normal, lean in for 4 s, back, leave the frame for 4 s, come back (repeats every 24 s).
DEFAULT_SCENE_SCRIPT: tuple[SceneKeyframe, ...] = (
    SceneKeyframe(at_s=0.0, pose="normal"),
    SceneKeyframe(at_s=6.0, pose="lean_in"),
    SceneKeyframe(at_s=10.0, pose="normal"),
    SceneKeyframe(at_s=14.0, pose="away"),
    SceneKeyframe(at_s=18.0, pose="normal"),
)


class CameraSettings(Section):
    """The video source."""

    kind: CameraKind = "synthetic"
    """synthetic: test pattern with a moving bar and a frame counter; file: a video file; v4l2: a USB/UVC camera;
    picamera2: a Raspberry Pi camera (needs python3-picamera2 from Raspberry Pi OS); scene: the demo studio
    camera animating a still portrait (``path``) through ``scene_script``."""
    path: Path | None = None
    """The video file (kind ``file``) or the presenter's portrait image (kind ``scene``)."""
    device: str | None = None
    """V4L2 device node (kind ``v4l2``, default ``/dev/video0``) or camera number (kind ``picamera2``, default
    ``0``)."""
    width: int = Field(default=640, gt=0, le=7680)
    """Frame width in pixels (synthetic, scene, v4l2, picamera2; a file keeps its own size)."""
    height: int = Field(default=480, gt=0, le=4320)
    """Frame height in pixels (synthetic, scene, v4l2, picamera2; a file keeps its own size)."""
    fps: float = Field(default=30.0, gt=0, le=240)
    """Frame rate asked of the camera, and of the synthetic and scene cameras (a file keeps its own)."""
    input_format: str | None = None
    """V4L2 pixel format asked of the camera (FFmpeg name, e.g. ``mjpeg`` or ``yuyv422``); None lets it choose."""
    loop: bool = True
    """Start a file again from the beginning when it ends (kind ``file``); time keeps running on."""
    paced: bool = True
    """Deliver file, synthetic and scene frames in real time; False delivers them as fast as possible (offline
    runs, tests), timestamped by their media time on the capture clock."""
    scene_script: tuple[SceneKeyframe, ...] = DEFAULT_SCENE_SCRIPT
    """Keyframes of the scene camera, sorted by ``at_s``; the first must be at 0."""
    scene_cycle_s: float = Field(default=24.0, gt=0)
    """The scene script repeats with this period; it must be longer than the last keyframe's ``at_s``."""
    scene_transition_s: float = Field(default=0.5, ge=0)
    """Seconds a scene move takes (eased), so detectors see a plausible motion rather than a jump."""

    @model_validator(mode="after")
    def _check_kind_needs(self) -> CameraSettings:
        if self.kind in ("file", "scene") and self.path is None:
            what = "a video file" if self.kind == "file" else "a portrait image"
            raise ValueError(f"capture.camera.path is required for kind {self.kind!r} ({what})")
        if self.kind == "picamera2" and self.device is not None and not self.device.strip().isdigit():
            raise ValueError(f"capture.camera.device must be a camera number for kind 'picamera2', got {self.device!r}")
        times = [key.at_s for key in self.scene_script]
        if not times or times[0] != 0:
            raise ValueError("capture.camera.scene_script must start with a keyframe at at_s: 0")
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ValueError(f"capture.camera.scene_script at_s values must increase strictly (got {times})")
        if times[-1] >= self.scene_cycle_s:
            raise ValueError(
                f"capture.camera.scene_cycle_s ({self.scene_cycle_s}) must be longer than the last keyframe "
                f"(at_s {times[-1]})"
            )
        return self


class AudioInputSettings(Section):
    """The audio input."""

    kind: AudioKind = "synthetic"
    """synthetic: speech-like tone bursts over a noise floor (from ``seed``); alsa: a capture PCM; file: a file."""
    device: str | None = None
    """ALSA PCM name (kind ``alsa``), e.g. ``hw:CARD=XR18,DEV=0``, ``plughw:1,0`` or ``default``."""
    rate: int = Field(default=48000, ge=8000, le=384000)
    """Sample rate in Hz. ALSA must grant it exactly (use a ``plughw:`` device to have ALSA convert)."""
    channels: int = Field(default=1, ge=1, le=64)
    """Channels captured into the ring (an X32/X-Air USB interface delivers many; stages pick theirs)."""
    period_frames: int = Field(default=1024, gt=0, le=65536)
    """Samples per ALSA period and per block delivered by every audio source."""
    periods: int = Field(default=4, ge=2, le=64)
    """ALSA buffer size in periods: more survives longer scheduling stalls, at no cost in timestamp accuracy."""
    format: Literal["S16_LE", "S24_3LE", "S24_LE", "S32_LE", "FLOAT_LE"] = "S16_LE"
    """ALSA sample format; samples are converted to float32 in [-1, 1]. USB desks (X32, X-Air) deliver S32_LE."""
    path: Path | None = None
    """Audio (or video-with-audio) file for kind ``file``; it is resampled to ``rate``."""
    loop: bool = True
    """Start a file again from the beginning when it ends; time keeps running on."""
    paced: bool = True
    """Deliver file and synthetic audio in real time; False delivers it as fast as possible."""
    seed: int = 0
    """Seed of the synthetic source: the same seed gives the same samples."""

    @model_validator(mode="after")
    def _check_kind_needs(self) -> AudioInputSettings:
        if self.kind == "file" and self.path is None:
            raise ValueError("capture.audio.path is required for kind 'file'")
        if self.kind == "alsa" and not (self.device and self.device.strip()):
            raise ValueError("capture.audio.device must name the ALSA PCM for kind 'alsa' (e.g. 'hw:CARD=XR18,DEV=0')")
        return self


class CaptureSettings(Section):
    """Settings of the capture stage."""

    camera: CameraSettings = CameraSettings()
    """The video source."""
    audio: AudioInputSettings = AudioInputSettings()
    """The audio input."""
    av_offset_ms: float = Field(default=0.0, ge=-2000, le=2000)
    """Added to every audio timestamp. Set it to how much later the camera path stamps an event than the audio
    path does (camera latency minus audio latency, measured with a clap): positive when video lags."""
    video_ring_seconds: float = Field(default=3.0, gt=0, le=600)
    """Newest seconds of video frames kept in memory."""
    video_ring_max_mb: float = Field(default=64.0, gt=0, le=16384)
    """Upper bound of the video ring in MiB of decoded frames (640×480 RGB is 0.9 MiB a frame); whichever of the
    two limits is reached first drops the oldest frames."""
    audio_ring_seconds: float = Field(default=30.0, gt=0, le=3600)
    """Newest seconds of audio kept in memory (preallocated: 30 s of 48 kHz mono is 5.5 MiB)."""
    retry_s: float = Field(default=2.0, ge=0)
    """Seconds before a failed live source (camera unplugged, ALSA error) is opened again; 0 never retries."""

"""Camera sources: synthetic test pattern, video file, V4L2 (USB) camera, Raspberry Pi camera; plus the factory.

Public API::

    make_camera(settings: CameraSettings) -> CameraSource     # the scene camera lives in capture/scene.py
    SyntheticCamera(width, height, fps, paced=True)
    FileCamera(path, loop=False, paced=True)
    V4L2Camera(device, width, height, fps, input_format=None)
    Picamera2Camera(camera_number, width, height, fps)
    decode_frame_counter(image) -> int       # the frame index the synthetic camera drew into a frame

Generated and file sources stamp frame *k* with ``t_origin + media_time(k)``; paced, they deliver it when the clock
reaches that time (a paced source that falls behind skips frames like a real camera and counts them in
``dropped``). Live cameras stamp the driver's CLOCK_MONOTONIC capture time when it is plausible, else the time the
frame arrived. PyAV and picamera2 are imported only when such a camera opens.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from liverec_edge.capture.base import CameraSource, SourceContext, SourceError
from liverec_edge.capture.settings import CameraSettings
from liverec_edge.media import MediaError, iter_video_frames, probe_video

COUNTER_BITS = 24
COUNTER_STRIPE_PX = 16

# SMPTE-like colour bars, darkened so the moving white bar stands out.
_BARS = np.array(
    [[180, 180, 180], [180, 180, 16], [16, 180, 180], [16, 180, 16], [180, 16, 180], [180, 16, 16], [16, 16, 180]],
    np.uint8,
)


def decode_frame_counter(image: np.ndarray) -> int:
    """Read back the frame index the synthetic camera encoded in the bottom stripe (24 bits, MSB first)."""
    h, w = image.shape[:2]
    row = image[h - COUNTER_STRIPE_PX // 2, :, 1]
    cell = w / COUNTER_BITS
    bits = [int(row[int((i + 0.5) * cell)] > 127) for i in range(COUNTER_BITS)]
    return int("".join(map(str, bits)), 2)


class _PacedClockSource:
    """Frame *k* of a generated source at ``t_origin + k / fps``, delivered in real time when paced."""

    QUEUED_FRAMES = 4

    def __init__(self, fps: float, paced: bool):
        if not fps > 0:
            raise SourceError(f"frame rate must be positive, got {fps}")
        self.fps = float(fps)
        self.paced = paced
        self.dropped = 0
        self._ctx: SourceContext | None = None
        self._k = 0

    def _next_slot(self) -> tuple[int, float] | None:
        """Index and time of the next frame to make, after waiting for it when paced; None when stopping."""
        ctx = self._ctx
        if ctx is None:
            raise SourceError(f"{type(self).__name__} read before open")
        if self.paced:
            behind = ctx.clock.now() - (ctx.t_origin + self._k / self.fps)
            # Like a camera driver with a few buffers queued: a short stall delivers the queued frames late (with
            # their capture times); a longer one loses frames, and the next one is the current frame.
            if behind > self.QUEUED_FRAMES / self.fps:
                skip = int(behind * self.fps)
                self.dropped += skip
                self._k += skip
            if not ctx.wait_until(ctx.t_origin + self._k / self.fps):
                return None
        elif ctx.stop.is_set():
            return None
        k = self._k
        self._k += 1
        return k, ctx.t_origin + k / self.fps


class SyntheticCamera(_PacedClockSource):
    """Colour bars, a white bar moving 8 px a frame, and the frame index as a 24-bit stripe plus text."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, paced: bool = True):
        super().__init__(fps, paced)
        if width < COUNTER_BITS * 2 or height < 2 * COUNTER_STRIPE_PX:
            raise SourceError(f"synthetic camera needs at least {COUNTER_BITS * 2}×{2 * COUNTER_STRIPE_PX} pixels")
        self.name = f"synthetic {width}x{height}@{fps:g}"
        self.width, self.height = int(width), int(height)
        bar_of_column = (np.arange(self.width) * len(_BARS)) // self.width
        self._background = np.ascontiguousarray(np.broadcast_to(_BARS[bar_of_column], (self.height, self.width, 3)))
        self._cell_edges = np.linspace(0, self.width, COUNTER_BITS + 1).astype(int)
        self._cell_gap = 1 if self.width >= COUNTER_BITS * 6 else 0  # a dark gap between bits when there is room

    def open(self, ctx: SourceContext) -> None:
        self._ctx = ctx
        self._k = 0

    def render(self, k: int) -> np.ndarray:
        """Frame ``k`` of the pattern (deterministic)."""
        image = self._background.copy()
        x = (k * 8) % self.width
        image[: self.height - COUNTER_STRIPE_PX, x : x + 16] = 255
        stripe = image[self.height - COUNTER_STRIPE_PX :]
        stripe[:] = 0
        for i in range(COUNTER_BITS):
            if (k >> (COUNTER_BITS - 1 - i)) & 1:
                stripe[:, self._cell_edges[i] + self._cell_gap : self._cell_edges[i + 1] - self._cell_gap] = 255
        _draw_digits(image, f"{k:06d}", 8, 8)
        return image

    def read(self) -> tuple[float, np.ndarray] | None:
        slot = self._next_slot()
        if slot is None:
            return None
        k, t = slot
        return t, self.render(k)

    def close(self) -> None:
        self._ctx = None


# 3×5 digit glyphs, scaled up: readable frame numbers without a font file or PIL per frame.
_DIGITS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111",
}
_GLYPH_SCALE = 4
_GLYPHS = {
    ch: np.kron(np.array([int(b) for b in bits], bool).reshape(5, 3), np.ones((_GLYPH_SCALE, _GLYPH_SCALE), bool))
    for ch, bits in _DIGITS.items()
}


def _draw_digits(image: np.ndarray, text: str, x: int, y: int) -> None:
    """Draw the digits that fit (the stripe carries the whole counter; the text is for people)."""
    s = _GLYPH_SCALE
    fit = max(0, (image.shape[1] - x - 2) // (4 * s))
    if y + 5 * s + 2 > image.shape[0] - COUNTER_STRIPE_PX or fit == 0:
        return
    text = text[-fit:]
    image[y - 2 : y + 5 * s + 2, x - 2 : x + len(text) * 4 * s + 2] = 0
    for n, ch in enumerate(text):
        x0 = x + n * 4 * s
        image[y : y + 5 * s, x0 : x0 + 3 * s][_GLYPHS[ch]] = 255


class FileCamera:
    """Frames of a video file (PyAV) at their presentation times; looping continues time after the last frame."""

    def __init__(self, path: str | Path, loop: bool = False, paced: bool = True):
        self.path = Path(path)
        self.loop = loop
        self.paced = paced
        self.name = f"file {self.path.name}"
        self.dropped = 0
        self._ctx: SourceContext | None = None
        self._frames: Iterator[tuple[float, np.ndarray]] | None = None
        self._offset = 0.0  # media time at which the current pass of the file started
        self._period = 1 / 30
        self._last_media_t = -math.inf
        self._frames_this_pass = 0

    def open(self, ctx: SourceContext) -> None:
        try:
            fps, _w, _h, _count = probe_video(self.path)
        except MediaError as exc:
            raise SourceError(str(exc)) from None
        self._period = 1.0 / fps
        self._ctx = ctx
        self._offset = 0.0
        self._last_media_t = -math.inf
        self._start_pass()

    def _start_pass(self) -> None:
        self._frames = iter_video_frames(self.path)
        self._frames_this_pass = 0

    def read(self) -> tuple[float, np.ndarray] | None:
        ctx = self._ctx
        if ctx is None or self._frames is None:
            raise SourceError(f"{self.name}: read before open")
        while True:
            if ctx.stop.is_set():
                return None
            try:
                pts, image = next(self._frames)
            except StopIteration:
                if not self.loop:
                    return None
                if self._frames_this_pass == 0:
                    raise SourceError(f"{self.name}: no frames to loop over") from None
                self._offset = self._last_media_t + self._period
                self._start_pass()
                continue
            except MediaError as exc:
                raise SourceError(str(exc)) from None
            self._frames_this_pass += 1
            media_t = self._offset + pts
            self._last_media_t = media_t
            t = ctx.t_origin + media_t
            if self.paced and not ctx.wait_until(t):
                return None
            return t, image

    def close(self) -> None:
        if self._frames is not None and hasattr(self._frames, "close"):
            self._frames.close()  # type: ignore[union-attr]  # closes the PyAV container
        self._frames = None
        self._ctx = None


def _plausible_monotonic_ns(stamp_ns: int | None) -> bool:
    """A driver stamp on CLOCK_MONOTONIC lies within a second of now; anything else (wall clock, 0) does not."""
    return stamp_ns is not None and abs(stamp_ns - time.monotonic_ns()) < 1_000_000_000


class V4L2Camera:
    """A USB/UVC camera through FFmpeg's v4l2 input (PyAV), stamped with the kernel's buffer time when it is
    CLOCK_MONOTONIC (the UVC default), else with the arrival time."""

    def __init__(self, device: str, width: int, height: int, fps: float, input_format: str | None = None):
        self.device = device
        self.width, self.height, self.fps = width, height, fps
        self.input_format = input_format
        self.name = f"v4l2 {device}"
        self.dropped = 0
        self.stamped_by_driver = 0
        self._ctx: SourceContext | None = None
        self._container = None
        self._frames: Iterator | None = None

    def open(self, ctx: SourceContext) -> None:
        import av

        options = {"video_size": f"{self.width}x{self.height}", "framerate": f"{self.fps:g}"}
        if self.input_format:
            options["input_format"] = self.input_format
        if not Path(self.device).exists():
            raise SourceError(f"camera device {self.device} does not exist (is the camera plugged in?)")
        try:
            self._container = av.open(self.device, format="v4l2", options=options)
            # No frame threading: it would hold frames back by the thread count (latency the analysis feels).
            self._frames = self._container.decode(self._container.streams.video[0])
        except (av.error.FFmpegError, OSError, IndexError) as exc:
            self.close()
            raise SourceError(f"cannot open camera {self.device} with {options}: {exc}") from None
        self._ctx = ctx

    def read(self) -> tuple[float, np.ndarray] | None:
        import av

        if self._ctx is None or self._frames is None:
            raise SourceError(f"{self.name}: read before open")
        try:
            frame = next(self._frames)
        except StopIteration:
            raise SourceError(f"camera {self.device} stopped delivering frames") from None
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"camera {self.device} failed: {exc}") from None
        arrived = self._ctx.clock.now()
        t = arrived
        if frame.pts is not None and frame.time_base is not None:
            stamp_ns = int(frame.pts * frame.time_base * 1_000_000_000)
            if _plausible_monotonic_ns(stamp_ns):
                t = self._ctx.clock.from_monotonic_ns(stamp_ns)
                self.stamped_by_driver += 1
        return t, frame.to_ndarray(format="rgb24")

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        self._container = None
        self._frames = None
        self._ctx = None


class Picamera2Camera:
    """A Raspberry Pi camera through picamera2/libcamera, stamped with the sensor timestamp (CLOCK_MONOTONIC)."""

    def __init__(self, camera_number: int, width: int, height: int, fps: float):
        self.camera_number = camera_number
        self.width, self.height, self.fps = width, height, fps
        self.name = f"picamera2 {camera_number}"
        self.dropped = 0
        self._ctx: SourceContext | None = None
        self._camera = None

    def open(self, ctx: SourceContext) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise SourceError(
                "camera kind 'picamera2' needs picamera2 with libcamera, which only exist on Raspberry Pi OS "
                f"(apt install python3-picamera2; make the venv with --system-site-packages): {exc}"
            ) from None
        try:
            camera = Picamera2(self.camera_number)
            config = camera.create_video_configuration(
                main={"size": (self.width, self.height), "format": "RGB888"},
                controls={"FrameRate": float(self.fps)},
                buffer_count=4,
            )
            camera.configure(config)
            camera.start()
        except Exception as exc:
            raise SourceError(f"cannot start Raspberry Pi camera {self.camera_number}: {exc}") from None
        self._camera = camera
        self._ctx = ctx

    def read(self) -> tuple[float, np.ndarray] | None:
        if self._ctx is None or self._camera is None:
            raise SourceError(f"{self.name}: read before open")
        try:
            request = self._camera.capture_request()
            try:
                array = request.make_array("main")
                metadata = request.get_metadata()
            finally:
                request.release()
        except Exception as exc:
            raise SourceError(f"Raspberry Pi camera {self.camera_number} failed: {exc}") from None
        t = self._ctx.clock.now()
        stamp_ns = metadata.get("SensorTimestamp")
        if _plausible_monotonic_ns(stamp_ns):
            t = self._ctx.clock.from_monotonic_ns(stamp_ns)
        # picamera2's "RGB888" is B, G, R in memory order.
        return t, np.ascontiguousarray(array[:, :, 2::-1])

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            except Exception:
                pass
        self._camera = None
        self._ctx = None


def make_camera(settings: CameraSettings) -> CameraSource:
    """The camera source the settings describe (nothing is opened yet)."""
    if settings.kind == "synthetic":
        return SyntheticCamera(settings.width, settings.height, settings.fps, paced=settings.paced)
    if settings.kind == "file":
        assert settings.path is not None  # enforced by CameraSettings
        return FileCamera(settings.path, loop=settings.loop, paced=settings.paced)
    if settings.kind == "v4l2":
        device = settings.device or "/dev/video0"
        return V4L2Camera(device, settings.width, settings.height, settings.fps, settings.input_format)
    if settings.kind == "picamera2":
        return Picamera2Camera(int(settings.device or 0), settings.width, settings.height, settings.fps)
    if settings.kind == "scene":
        from liverec_edge.capture.scene import SceneCamera

        return SceneCamera.from_settings(settings)
    raise SourceError(f"unknown camera kind {settings.kind!r}")

"""Capture: camera frames and audio samples into time-stamped ring buffers on one monotonic clock.

Module map (each module's docstring lists its exact public API):

- ``settings``    ``CaptureSettings`` (the ``capture`` config section): camera, audio, av_offset_ms, ring sizes.
- ``clock``       ``CaptureClock`` (monotonic seconds; ``starting_now()`` for offline runs), ``AudioTimestamper``.
- ``rings``       ``VideoRing`` (frames, bounded in seconds and bytes), ``AudioRing`` (preallocated, sample-exact).
- ``slot``        ``LatestSlot``: the newest frame for an asyncio consumer, stale ones dropped and counted.
- ``base``        the ``CameraSource`` / ``AudioSource`` protocols, ``SourceContext``, ``AudioRead``, ``SourceError``.
- ``camera``      synthetic, file, v4l2, picamera2 cameras; ``make_camera``.
- ``scene``       the demo studio camera (scripted portrait: normal, lean in, away); ``SceneScript``.
- ``audio_input`` synthetic, file, ALSA audio sources; ``make_audio_source``.
- ``runner``      ``CaptureRunner``: threads, counters, progress for the watchdog, recovery, audio-only mode.
- ``probe``       the ``liverec-edge capture`` command: list devices, measure what they deliver.

Timestamps: seconds on ``CaptureClock`` (default: ``time.monotonic()``, the same as asyncio's ``loop.time()``).
Frames carry their capture time; audio samples are sample-counted from an anchor (``AudioTimestamper``), with
``av_offset_ms`` added. File, synthetic and scene sources stamp media time + ``runner.t_origin``.

Typical wiring in the daemon::

    runner = CaptureRunner(config.capture, CaptureClock())
    runner.start()
    frames = runner.subscribe_frames()
    while True:
        frame = await frames.next()                    # newest frame; stale ones were dropped
        block = runner.audio_ring.slice(frame.t - 1.0, frame.t)   # the second of audio before the frame
    new_audio, cursor = runner.audio_ring.read_since(cursor)        # or stream every sample exactly once
    ...
    runner.stop()
"""

from liverec_edge.capture.base import AudioRead, AudioSource, CameraSource, SourceContext, SourceError
from liverec_edge.capture.clock import AudioTimestamper, CaptureClock
from liverec_edge.capture.rings import AudioRing, VideoRing
from liverec_edge.capture.runner import CaptureRunner, CaptureStatus, StreamStatus
from liverec_edge.capture.settings import CaptureSettings
from liverec_edge.capture.slot import LatestSlot, SlotClosed

__all__ = [
    "AudioRead",
    "AudioRing",
    "AudioSource",
    "AudioTimestamper",
    "CameraSource",
    "CaptureClock",
    "CaptureRunner",
    "CaptureSettings",
    "CaptureStatus",
    "LatestSlot",
    "SlotClosed",
    "SourceContext",
    "SourceError",
    "StreamStatus",
    "VideoRing",
]

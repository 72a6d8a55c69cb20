"""``liverec-edge capture``: list the capture devices, then run the configured camera and audio input for a few
seconds and report what they really deliver (frame rate and jitter, sample rate against the clock, levels,
overruns, errors). The first thing to run on a new capture box.

Public API (the CLI contract)::

    add_arguments(parser); run(args) -> exit code      # 0: both streams ran; 1: one failed; 2: bad config
    list_devices() -> dict[str, list[str]]             # {"alsa_capture": [...], "v4l2": ["/dev/video0 (name)"]}
    measure(settings: CaptureSettings, seconds: float) -> CaptureReport
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liverec_edge.capture.clock import CaptureClock
from liverec_edge.capture.runner import CaptureRunner, CaptureStatus
from liverec_edge.capture.settings import CaptureSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config file (default: the built-in synthetic sources)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to capture (default 5)")
    parser.add_argument("--list", action="store_true", help="only list ALSA capture PCMs and V4L2 cameras")


def list_devices() -> dict[str, list[str]]:
    devices: dict[str, list[str]] = {"alsa_capture": [], "v4l2": []}
    try:
        import alsaaudio

        devices["alsa_capture"] = list(alsaaudio.pcms(alsaaudio.PCM_CAPTURE))
    except Exception as exc:  # no pyalsaaudio, or ALSA without any configuration
        devices["alsa_capture"] = [f"(cannot list: {exc})"]
    for node in sorted(Path("/sys/class/video4linux").glob("video*")):
        name_file = node / "name"
        name = name_file.read_text().strip() if name_file.is_file() else "?"
        devices["v4l2"].append(f"/dev/{node.name} ({name})")
    return devices


@dataclass(frozen=True)
class CaptureReport:
    seconds: float
    status: CaptureStatus
    #: frames per second over the run, and the spread of frame intervals (ms)
    fps: float
    frame_interval_ms_p50: float
    frame_interval_ms_max: float
    frame_size: tuple[int, int] | None
    #: samples stored per second of capture clock (a sound card running at its nominal rate gives the setting)
    audio_rate_measured: float
    #: per channel, over the newest second: RMS and peak in dBFS
    rms_dbfs: tuple[float, ...]
    peak_dbfs: tuple[float, ...]

    @property
    def ok(self) -> bool:
        return self.status.video.items > 0 and self.status.audio.items > 0 and not (
            self.status.video.errors or self.status.audio.errors
        )


def _dbfs(x: float) -> float:
    return 20 * math.log10(x) if x > 0 else -math.inf


def measure(settings: CaptureSettings, seconds: float) -> CaptureReport:
    """Run capture for ``seconds`` and measure what arrived."""
    clock = CaptureClock()
    runner = CaptureRunner(settings, clock)
    runner.start()
    threading.Event().wait(seconds)
    status = runner.status()
    runner.stop()
    frames = runner.video_ring.slice(-math.inf, math.inf)
    times = np.array([f.t for f in frames])
    intervals = np.diff(times) * 1000 if times.size > 1 else np.zeros(1)
    fps = (times.size - 1) / (times[-1] - times[0]) if times.size > 1 and times[-1] > times[0] else 0.0
    written = status.audio_ring.written
    rate_measured = 0.0
    if status.audio.first_at is not None and status.audio.last_at is not None and status.audio.items > 1:
        # samples that came in after the first block, against the clock time that passed while they did
        elapsed = status.audio.last_at - status.audio.first_at
        after_first = written - written / status.audio.items
        rate_measured = after_first / elapsed if elapsed > 0 else 0.0
    latest = runner.audio_ring.latest(1.0).samples
    channels = range(latest.shape[1]) if latest.size else range(0)
    rms = tuple(_dbfs(float(np.sqrt(np.mean(latest[:, c] ** 2)))) for c in channels)
    peak = tuple(_dbfs(float(np.abs(latest[:, c]).max())) for c in channels)
    size = (frames[-1].image.shape[1], frames[-1].image.shape[0]) if frames else None
    return CaptureReport(
        seconds=seconds, status=status, fps=fps, frame_interval_ms_p50=float(np.median(intervals)),
        frame_interval_ms_max=float(intervals.max()), frame_size=size, audio_rate_measured=rate_measured,
        rms_dbfs=rms, peak_dbfs=peak,
    )


def _print_report(report: CaptureReport, settings: CaptureSettings) -> None:
    s = report.status
    print(f"video  {s.video.source}: state {s.video.state}, {s.video.items} frames in {report.seconds:g} s "
          f"= {report.fps:.2f} fps (asked {settings.camera.fps:g}), size {report.frame_size}, "
          f"interval median {report.frame_interval_ms_p50:.1f} ms max {report.frame_interval_ms_max:.1f} ms, "
          f"dropped {s.video.dropped}, errors {s.video.errors}"
          + (f" ({s.video.last_error})" if s.video.errors else ""))
    levels = ", ".join(f"ch{c + 1} rms {r:.1f} peak {p:.1f} dBFS" for c, (r, p) in
                       enumerate(zip(report.rms_dbfs, report.peak_dbfs, strict=True)))
    print(f"audio  {s.audio.source}: state {s.audio.state}, {s.audio_ring.written} samples "
          f"= {report.audio_rate_measured:.0f} Hz against the clock (asked {settings.audio.rate}), "
          f"overruns {s.audio.dropped}, gaps {s.audio_ring.gaps}, timestamp corrections {s.audio_reanchors}, "
          f"errors {s.audio.errors}" + (f" ({s.audio.last_error})" if s.audio.errors else ""))
    print(f"levels {levels or '(no audio)'}")


def run(args: argparse.Namespace) -> int:
    from liverec_edge.config import ConfigError, load_config

    if args.list:
        for kind, names in list_devices().items():
            print(f"{kind}:")
            for name in names or ["(none)"]:
                print(f"  {name}")
        return 0
    try:
        settings = load_config(args.config).capture
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not args.seconds > 0:
        print("--seconds must be positive", file=sys.stderr)
        return 2
    report = measure(settings, args.seconds)
    _print_report(report, settings)
    return 0 if report.ok else 1

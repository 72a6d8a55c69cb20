"""Capture + ring overhead: 640×480 @ 30 fps synthetic video and 48 kHz audio into the rings for N seconds.

Prints CPU use in % of one core (getrusage of the whole process, per 5 s interval: median and max), how much of it
the synthetic sources spend making their pictures and sound (a real camera and sound card do that in hardware or
in the driver), the rest (capture threads, rings, the asyncio consumer) and RSS (peak and final).
Targets: capture overhead ≤ 5 % of a core, RSS ≤ 150 MB.

    .venv/bin/python tools/bench/bench_capture.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from liverec_edge.capture import CaptureClock, CaptureRunner, CaptureSettings, SlotClosed
from liverec_edge.capture.audio_input import make_audio_source
from liverec_edge.capture.base import AudioRead, AudioSource, CameraSource, SourceContext
from liverec_edge.capture.camera import make_camera


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class TimedCamera:
    """Counts the CPU the wrapped source's own thread spends inside read() (making the picture)."""

    def __init__(self, inner: CameraSource):
        self.inner = inner
        self.name = inner.name
        self.cpu = 0.0

    @property
    def dropped(self) -> int:
        return self.inner.dropped

    def open(self, ctx: SourceContext) -> None:
        self.inner.open(ctx)

    def read(self):  # type: ignore[no-untyped-def]
        # Paced sources sleep inside read(); thread_time counts only CPU, so the sleep is not charged.
        start = time.thread_time()
        item = self.inner.read()
        self.cpu += time.thread_time() - start
        return item

    def close(self) -> None:
        self.inner.close()


class TimedAudio(TimedCamera):
    def __init__(self, inner: AudioSource):
        super().__init__(inner)  # type: ignore[arg-type]
        self.rate, self.channels = inner.rate, inner.channels

    @property
    def overruns(self) -> int:
        return self.inner.overruns  # type: ignore[attr-defined]

    def read(self) -> AudioRead | None:
        return super().read()  # type: ignore[return-value]


async def consume(runner: CaptureRunner, stop: threading.Event) -> int:
    """Like the daemon's analysis loop: take the newest frame, cut the audio since the previous one."""
    slot = runner.subscribe_frames()
    taken = 0
    last_t: float | None = None
    while not stop.is_set():
        try:
            frame = await slot.next(timeout=1.0)
        except (SlotClosed, TimeoutError, asyncio.TimeoutError):
            break
        if last_t is not None:
            runner.audio_ring.slice(last_t, frame.t)
        last_t = frame.t
        taken += 1
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to capture (default 60)")
    parser.add_argument("--interval", type=float, default=5.0, help="CPU sampling interval in seconds")
    args = parser.parse_args()

    settings = CaptureSettings()  # synthetic 640x480@30 and 48 kHz mono, paced in real time; default ring sizes
    camera = TimedCamera(make_camera(settings.camera))
    audio = TimedAudio(make_audio_source(settings.audio))
    rss_before = rss_mb()
    runner = CaptureRunner(settings, CaptureClock(), camera=camera, audio_source=audio)  # type: ignore[arg-type]
    stop = threading.Event()

    async def run() -> tuple[list[float], int]:
        consumer = asyncio.create_task(consume(runner, stop))
        samples: list[float] = []
        runner.start()
        t_start, cpu_start = time.monotonic(), cpu_seconds()
        t_prev, cpu_prev = t_start, cpu_start
        while time.monotonic() - t_start < args.seconds:
            await asyncio.sleep(min(args.interval, args.seconds - (time.monotonic() - t_start)))
            t_now, cpu_now = time.monotonic(), cpu_seconds()
            samples.append(100 * (cpu_now - cpu_prev) / (t_now - t_prev))
            t_prev, cpu_prev = t_now, cpu_now
        stop.set()
        runner.stop()
        taken = await consumer
        wall = time.monotonic() - t_start
        samples.append(100 * (cpu_seconds() - cpu_start) / wall)  # last element: the whole run
        return samples, taken

    samples, taken = asyncio.run(run())
    total = samples.pop()
    status = runner.status()
    wall = args.seconds
    generation = 100 * (camera.cpu + audio.cpu) / wall
    print(f"capture bench: {wall:.0f} s of 640x480@30 synthetic video + 48 kHz mono synthetic audio")
    print(f"  frames stored {status.video.items} ({status.video.items / wall:.1f}/s), camera skipped "
          f"{status.video.dropped}, consumer took {taken}, slot drops {status.slot_drops}")
    print(f"  audio blocks {status.audio.items}, samples {status.audio_ring.written}, gaps {status.audio_ring.gaps}")
    print(f"  CPU % of one core, whole process: median {statistics.median(samples):.2f} "
          f"max {max(samples):.2f} mean {total:.2f} (per {args.interval:g} s interval)")
    print(f"    of which the synthetic sources making pictures/sound: {generation:.2f} "
          f"(camera {100 * camera.cpu / wall:.2f}, audio {100 * audio.cpu / wall:.2f})")
    print(f"    capture overhead (threads, rings, consumer): {total - generation:.2f}  [target <= 5]")
    print(f"  RSS MB: before start {rss_before:.1f}, final {rss_mb():.1f}, peak {peak_rss_mb():.1f}  [target <= 150]")
    print(f"  video ring: {status.video_ring.frames} frames, {status.video_ring.bytes / 2**20:.1f} MiB; "
          f"audio ring {status.audio_ring.samples / 48000:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

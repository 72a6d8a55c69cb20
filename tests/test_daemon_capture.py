"""The real ``liverec-edge run --config F``, with every production stage (``build_stages``) on synthetic and file
sources, under a NOTIFY_SOCKET: READY, the watchdog, reload without disturbing capture, the tablet's view, a dead
camera, and a clean stop.

The analysis stages run real models here, on a box shared with other test runs, so the stall limit is a realistic
few seconds rather than the stand-in tests' one second, and assertions about stalls name the capture stage.
"""

from __future__ import annotations

import re
import signal
import sys
import time
import wave
from pathlib import Path

import numpy as np
import test_daemon_standin as support
import yaml
from test_daemon_standin import WATCHDOG_USEC, NotifyListener, OscClient, next_status_frames
from test_daemon_standin import write_config as write_standin_config

notify = support.notify_fixture
launch = support.launch_fixture


PRODUCTION_STALL_S = 4.0
CAPTURE_STALLED = r"pipeline (still )?stalled.*stages=\S*capture"


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(path: Path, **sections: object) -> Path:
    """A config for the full daemon. The control port is fixed rather than read from the log: while a TFLite model
    loads, ``liverec_edge.tflite`` points fd 2 at /dev/null for the whole process, and log lines of that moment are
    lost (reported to its owner)."""
    write_standin_config(path, **sections)
    data = yaml.safe_load(path.read_text())
    data["daemon"]["watchdog_stall_s"] = PRODUCTION_STALL_S
    data["control"]["port"] = free_udp_port()
    path.write_text(yaml.safe_dump(data))
    return path


def control_port(config: Path) -> int:
    return int(yaml.safe_load(config.read_text())["control"]["port"])


def cli_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "liverec_edge.cli", "run", "--config", str(config)]


def write_wav(path: Path, seconds: float, rate: int = 48000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def test_run_with_synthetic_capture_reload_status_and_stop(tmp_path: Path, notify: NotifyListener, launch) -> None:
    config = write_config(tmp_path / "c.yaml", capture={"camera": {"kind": "synthetic", "width": 160, "height": 120,
                                                                    "fps": 15}})
    daemon = launch(cli_argv(config))
    assert notify.wait_for(lambda m: m.startswith("READY=1"), 15), daemon.log()
    assert notify.wait_for(lambda m: m == "WATCHDOG=1", 3), daemon.log()
    before = next_status_frames(notify)

    tablet = OscClient(control_port(config))
    try:
        status = tablet.status(timeout=5)
        assert status is not None, daemon.log()
        assert status["/liverec/status/audio_rate"] == [48000]
        assert status["/liverec/status/fps"][0] > 0  # type: ignore[operator]
        health = str(status["/liverec/status/health"][0])
        assert not health.startswith(("stalled", "starting")) and "capture" not in health, health
    finally:
        tablet.close()

    # Reload with a capture change (needs a restart) and a live one: capture keeps counting.
    data = yaml.safe_load(config.read_text())
    data["capture"]["camera"]["fps"] = 10
    data["logging"] = {"level": "debug"}
    config.write_text(yaml.safe_dump(data))
    mark = len(daemon.log())
    daemon.signal(signal.SIGHUP)
    assert daemon.wait_log(r"config reloaded file=\S+ applied=logging.level", 3, after=mark), daemon.log()[mark:]
    assert daemon.wait_log(r"take effect only when the daemon restarts keys=capture.camera.fps", 1, after=mark)
    notify.skip_pending()  # a STATUS from before the reload must not count
    after = next_status_frames(notify)
    assert after > before
    assert next_status_frames(notify) > after, "capture stopped counting after the reload"
    assert "capture started" not in daemon.log()[mark:], "a reload must not restart capture"

    sent = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(5) == 0, daemon.log()
    assert time.monotonic() - sent < 2.0
    assert notify.wait_for(lambda m: m == "STOPPING=1", 1)


def test_watchdog_stops_when_capture_runs_out_of_media(
    tmp_path: Path, notify: NotifyListener, launch, shared_media: Path
) -> None:
    video = shared_media / "video" / "asl" / "again.mkv"  # 2.6 s
    audio = write_wav(tmp_path / "tone.wav", 2.0)
    config = write_config(tmp_path / "c.yaml", capture={
        "camera": {"kind": "file", "path": str(video), "loop": False, "paced": True},
        "audio": {"kind": "file", "path": str(audio), "loop": False, "paced": True},
    })
    daemon = launch(cli_argv(config))
    assert notify.wait_for(lambda m: m.startswith("READY=1"), 15), daemon.log()
    assert notify.wait_for(lambda m: m == "WATCHDOG=1", 3), daemon.log()
    # Both files end after ~2.6 s; one stall period later the pings must stop while the process lives on.
    assert daemon.wait_log(CAPTURE_STALLED, 30), daemon.log()  # generous: the box is shared with other test runs
    notify.collect(0.5)
    quiet = notify.collect(5 * WATCHDOG_USEC / 1e6)
    assert "WATCHDOG=1" not in quiet, quiet
    assert daemon.proc.poll() is None, "a stalled pipeline is systemd's to restart, not a reason to exit"
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(5) == 0, daemon.log()


def test_a_dead_camera_degrades_to_audio_only_without_losing_the_watchdog(
    tmp_path: Path, notify: NotifyListener, launch
) -> None:
    config = write_config(tmp_path / "c.yaml", capture={"camera": {"kind": "file", "path": str(tmp_path / "gone.mkv")},
                                                        "retry_s": 0.5})
    daemon = launch(cli_argv(config))
    assert notify.wait_for(lambda m: m.startswith("READY=1"), 15), daemon.log()
    tablet = OscClient(control_port(config))
    try:
        health = ""
        deadline = time.monotonic() + 10
        while "capture: video " not in health and time.monotonic() < deadline:
            status = tablet.status(timeout=5)
            assert status is not None, daemon.log()
            health = str(status["/liverec/status/health"][0])
            time.sleep(0.2)
        assert health.startswith("degraded: ") and "capture: video " in health, health
        assert status["/liverec/status/audio_rate"] == [48000]
        # Audio keeps the pipeline progressing: systemd must not restart the daemon (and drop the audio) over a
        # camera.
        notify.collect(PRODUCTION_STALL_S + 0.5)
        assert notify.wait_for(lambda m: m == "WATCHDOG=1", 10), daemon.log()
        assert not re.search(CAPTURE_STALLED, daemon.log()), daemon.log()
    finally:
        tablet.close()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(5) == 0


def test_log_level_flag_and_seconds_limit(tmp_path: Path) -> None:
    import subprocess

    # The config asks for debug; the command line's --log-level wins.
    config = write_config(tmp_path / "c.yaml", logging={"level": "debug"})
    started = time.monotonic()
    result = subprocess.run([*cli_argv(config), "--seconds", "0.5", "--log-level", "warning"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20
    assert "INFO " not in result.stderr and "DEBUG " not in result.stderr, result.stderr

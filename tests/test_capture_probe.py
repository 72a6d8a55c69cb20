"""``liverec-edge capture``: the device list and the short measured capture run a studio engineer starts with."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from liverec_edge.capture import probe
from liverec_edge.capture.settings import CaptureSettings


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    probe.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_measure_reports_what_the_default_sources_deliver() -> None:
    report = probe.measure(CaptureSettings(), seconds=1.0)
    assert report.ok
    assert report.frame_size == (640, 480)
    assert report.fps == pytest.approx(30, abs=1.0)  # frame times are the camera's, so this holds under load
    assert report.frame_interval_ms_p50 == pytest.approx(1000 / 30, abs=0.5)
    assert report.audio_rate_measured == pytest.approx(48000, rel=0.05)
    assert len(report.rms_dbfs) == 1 and -60 < report.rms_dbfs[0] < report.peak_dbfs[0] < 0


def test_capture_command_reports_a_missing_camera_and_keeps_audio(tmp_path: Path, capsys) -> None:
    config = tmp_path / "box.yaml"
    config.write_text("capture:\n  camera: {kind: v4l2, device: /dev/video-none}\n  retry_s: 0\n")
    assert probe.run(_args(str(config), "--seconds", "0.5")) == 1
    out = capsys.readouterr().out
    assert "/dev/video-none does not exist" in out and "errors 1" in out
    audio_line = next(line for line in out.splitlines() if line.startswith("audio"))
    assert "state running" in audio_line and "errors 0" in audio_line


def test_capture_command_rejects_a_bad_config(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("capture:\n  audio: {kind: alsa}\n")
    assert probe.run(_args(str(config))) == 2
    assert "capture.audio.device" in capsys.readouterr().err


def test_device_list_names_alsa_pcms(capsys) -> None:
    pytest.importorskip("alsaaudio")
    devices = probe.list_devices()
    assert set(devices) == {"alsa_capture", "v4l2"}
    assert "null" in devices["alsa_capture"]  # alsa-lib always defines it, sound card or not
    assert probe.run(_args("--list")) == 0
    assert "alsa_capture:\n  " in capsys.readouterr().out

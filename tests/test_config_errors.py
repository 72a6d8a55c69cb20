"""Malformed config files: `check-config` and `run --config` both exit 2 and say which key is wrong.

Every case is a real file on disk read by the real CLI (in-process through ``cli.main``, plus each command once as
a real subprocess), and the expected text is the key path an engineer would have to go and fix.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from liverec_edge.cli import main

REPO = Path(__file__).resolve().parents[1]

#: (case id, file content, text the error must contain: the key path, or where in the file for YAML syntax)
MALFORMED: list[tuple[str, str, str]] = [
    ("wrong type", "daemon:\n  watchdog_stall_s: soon\n", "daemon.watchdog_stall_s"),
    ("unknown section", "captur:\n  video_ring_seconds: 3\n", "captur: unknown key"),
    ("unknown nested key", "capture:\n  camera:\n    knd: v4l2\n", "capture.camera.knd: unknown key"),
    ("missing device", "capture:\n  audio:\n    kind: alsa\n", "capture.audio.device"),
    ("file camera without path", "capture:\n  camera: {kind: file}\n", "capture.camera.path"),
    ("negative ring size", "capture:\n  video_ring_seconds: -3\n", "capture.video_ring_seconds"),
    ("zero ring memory", "capture:\n  video_ring_max_mb: 0\n", "capture.video_ring_max_mb"),
    ("negative shutdown timeout", "daemon:\n  shutdown_timeout_s: -1\n", "daemon.shutdown_timeout_s"),
    ("YAML syntax error", "capture:\n  camera: [v4l2\nlogging: {}\n", "YAML syntax error at line"),
    ("tab indentation", "capture:\n\tcamera: {}\n", "YAML syntax error at line 2"),
    ("bad enum", "logging:\n  level: loud\n", "logging.level"),
    ("bad camera kind", "capture:\n  camera:\n    kind: webcam\n", "capture.camera.kind"),
    ("section is a scalar", "daemon: 5\n", "daemon"),
    ("key at the wrong level", "capture:\n  kind: v4l2\n", "capture.kind: unknown key"),
    ("non-mapping top level", "- capture\n- daemon\n", "(top level)"),
    ("port out of range", "control:\n  port: 70000\n", "control.port"),
    ("bad allowlist entry", "control:\n  allow: [192.168.1.300]\n", "control.allow"),
    ("bad bind address", "control:\n  bind: tablet.local\n", "control.bind"),
    ("list instead of mapping", "capture:\n  - camera\n", "capture"),
    ("fault threshold out of range", "audio:\n  types:\n    hum: {threshold: 1.5}\n", "audio.types.hum.threshold"),
]


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(content)
    return path


@pytest.mark.parametrize(("content", "names"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_malformed_config_exits_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, content: str, names: str
) -> None:
    path = _write(tmp_path, content)
    run_argv = ["run", "--config", str(path), "--seconds", "1"]
    argv = ["check-config", str(path)] if command == "check-config" else run_argv
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert names in err, err
    assert str(path) in err, "the message says which file"


def test_at_least_ten_distinct_cases() -> None:
    assert len({case[0] for case in MALFORMED}) >= 10


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    path = tmp_path / "nowhere.yaml"
    argv = ["check-config", str(path)] if command == "check-config" else ["run", "--config", str(path)]
    assert main(argv) == 2
    assert "cannot read the file" in capsys.readouterr().err


@pytest.mark.parametrize("content", ["", "# only a comment\n", "control: {port: 0, bind: 127.0.0.1}\n"])
def test_valid_files_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str) -> None:
    assert main(["check-config", str(_write(tmp_path, content))]) == 0
    assert "ok" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_the_installed_command_exits_2_too(tmp_path: Path, command: str) -> None:
    path = _write(tmp_path, "capture:\n  audio:\n    rate: fast\n    channels: 0\n")
    argv = [sys.executable, "-m", "liverec_edge.cli", command]
    argv += [str(path)] if command == "check-config" else ["--config", str(path)]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "capture.audio.rate" in result.stderr
    assert "capture.audio.channels" in result.stderr, "every problem is listed, not only the first"
    assert "Traceback" not in result.stderr


def test_duplicate_section_is_an_error_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "capture:\n  video_ring_seconds: 3\ncapture:\n  video_ring_seconds: 5\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "duplicate key 'capture'" in err and "line 1" in err

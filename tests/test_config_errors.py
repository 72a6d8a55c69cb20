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
    ("list as a key", "? [a, b]\n: 1\n", "line 1, column 3: a key must be a plain name"),
    ("list as a nested key", "control: {? [a]: 1}\n", "a key must be a plain name"),
    ("nesting too deep", "control: " + "[" * 5000 + "]" * 5000 + "\n", "nesting deeper than"),
    ("NUL byte", "control:\n  port: 9100\x00\n", "YAML error at line 2"),
    ("infinite watchdog", "daemon:\n  watchdog_stall_s: .inf\n", "daemon.watchdog_stall_s: Input should be a finite"),
    ("NaN watchdog", "daemon:\n  watchdog_stall_s: .nan\n", "daemon.watchdog_stall_s"),
    ("empty state dir", "daemon:\n  state_dir: ''\n", "daemon.state_dir: must name a directory"),
    ("infinite shutdown timeout", "daemon:\n  shutdown_timeout_s: .inf\n", "daemon.shutdown_timeout_s"),
    ("huge shutdown timeout", "daemon:\n  shutdown_timeout_s: 1e300\n", "daemon.shutdown_timeout_s"),
    ("infinite reply timeout", "mixer:\n  reply_timeout_s: .inf\n", "mixer.reply_timeout_s"),
    ("infinite override hold", "mixer:\n  override_hold_s: .inf\n", "mixer.override_hold_s"),
    ("NaN bound", "mixer:\n  bounds:\n    'ch*.fader': {min: .nan}\n", "mixer.bounds.ch*.fader.min"),
    ("NaN fault threshold", "audio:\n  types:\n    hum: {threshold: .nan}\n", "audio.types.hum.threshold"),
    ("port given as a boolean", "control:\n  port: true\n", "control.port: expected a number, not true/false"),
    ("channel given as a boolean", "mixer:\n  channels: {presenter: true}\n", "mixer.channels"),
    ("number in the allowlist", "control:\n  allow: [5]\n", "control.allow: 5 is not an IP address"),
    ("empty channel map", "mixer:\n  url: soft://\n  channels: {}\n", "mixer.channels: the presenter channel is"),
    ("no presenter channel", "mixer:\n  channels: {music: 5}\n", "mixer.channels: the presenter channel is"),
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


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 4, "control: {bind: '127.0.0.1'}  # caf\xe9\n".encode("latin-1"),
     "control:\n  port: 9100\n".encode("utf-16")],
    ids=["binary", "latin-1", "utf-16"],
)
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_file_that_is_not_utf8_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, data: bytes
) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    argv = ["check-config", str(path)] if command == "check-config" else ["run", "--config", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "not a UTF-8 text file" in err, err


def test_minus_inf_is_a_valid_fader_bound_but_inf_and_nan_are_not() -> None:
    from liverec_edge.config import ConfigError, config_from_dict

    bounds = config_from_dict({"mixer": {"bounds": {"ch*.fader": {"min": float("-inf")}}}}).mixer.bounds
    assert bounds["ch*.fader"].min == float("-inf")
    for bad in (float("inf"), float("nan")):
        with pytest.raises(ConfigError, match=r"mixer\.bounds\.ch\*\.fader\.max"):
            config_from_dict({"mixer": {"bounds": {"ch*.fader": {"max": bad}}}})


def test_check_config_checks_the_files_the_config_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "audio: {strategies: /nonexistent/x.yaml, model_dir: /nonexistent}\n"
                            "vision: {models_dir: /nonexistent}\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    lines = [line.strip() for line in err.splitlines()]
    assert any(line.startswith("- audio.strategies: /nonexistent/x.yaml: cannot read") for line in lines), err
    assert any(line.startswith("- audio.model_dir: /nonexistent: not a directory") for line in lines), err
    assert any(line.startswith("- vision.models_dir: /nonexistent: not a directory") for line in lines), err


def test_check_config_reports_a_bad_strategy_table_and_model_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategies = tmp_path / "strategies.yaml"
    strategies.write_text("strategies: {hum: {}, hum: {threshold: 0.5}}\n")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.json").write_text("{not json")
    path = _write(tmp_path, f"audio: {{strategies: {strategies}, model_dir: {model_dir}}}\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"audio.strategies: {strategies}: YAML error at line 1" in err and "duplicate key 'hum'" in err, err
    assert f"audio.model_dir: {model_dir}: model.json is not valid JSON" in err, err
    (model_dir / "model.json").unlink()
    assert main(["check-config", str(path)]) == 2
    assert f"audio.model_dir: {model_dir}: has no model.json" in capsys.readouterr().err


def test_check_config_warns_of_a_strategy_role_missing_from_the_channel_map(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default config maps only the presenter and the default strategies duck {music}: a warning, not an error.
    path = _write(tmp_path, "")
    assert main(["check-config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "ok" in captured.out
    warning = [line for line in captured.err.splitlines() if "warning" in line]
    assert warning and all(str(path) in line for line in warning), captured.err
    assert any("mixer.channels" in line and "'music'" in line and "background_music" in line and "skipped" in line
               for line in warning), captured.err
    path = _write(tmp_path, "mixer:\n  channels: {presenter: 1, music: 5}\n")
    assert main(["check-config", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_reload_of_a_config_with_a_list_key_is_a_config_error(tmp_path: Path) -> None:
    """SIGHUP reload calls load_config and keeps the running config on a ConfigError (a TypeError was logged as a
    traceback)."""
    from liverec_edge.config import ConfigError, load_config

    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, "? [a, b]\n: 1\n"))
    assert info.value.problems == ["YAML error at line 1, column 3: a key must be a plain name, not a list or mapping"]

"""The shipped unit file verifies with systemd's own checker, says what the daemon needs, and runs the real CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from liverec_edge.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "liverec-edge.service"
SYSUSERS = REPO / "systemd" / "liverec-edge.sysusers.conf"
INSTALLED_BINARY = "/opt/liverec-edge/.venv/bin/liverec-edge"

needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="systemd-analyze missing (Debian package systemd)")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Section → key → values (systemd allows a key more than once, e.g. DeviceAllow)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


def test_unit_says_what_the_daemon_needs() -> None:
    unit = parse_unit(UNIT.read_text())
    service = unit["Service"]
    expect = {
        "Type": "notify", "NotifyAccess": "main", "Restart": "on-failure", "User": "liverec",
        "SupplementaryGroups": "audio video", "StateDirectory": "liverec-edge", "LogsDirectory": "liverec-edge",
        "ExecReload": "/bin/kill -HUP $MAINPID", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes", "DevicePolicy": "closed",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    }
    for key, value in expect.items():
        assert service.get(key) == [value], key
    assert {"char-alsa rw", "char-video4linux rw"} <= set(service["DeviceAllow"])
    assert "PrivateDevices" not in service, "it would hide the sound card and the camera"
    watchdog_s = int(service["WatchdogSec"][0])
    assert 2 <= watchdog_s <= 60
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_exec_start_is_a_valid_daemon_command_line() -> None:
    exec_start = parse_unit(UNIT.read_text())["Service"]["ExecStart"][0].split()
    assert exec_start[0] == INSTALLED_BINARY
    args = build_parser().parse_args(exec_start[1:])
    assert args.command == "run"
    assert str(args.config) == "/etc/liverec-edge/config.yaml"
    assert args.seconds is None, "the service runs until stopped"


@needs_systemd_analyze
def test_systemd_analyze_verify_passes(tmp_path: Path) -> None:
    # verify insists the ExecStart binary exists: point it at this checkout's console script (same CLI).
    binary = REPO / ".venv" / "bin" / "liverec-edge"
    if not binary.exists():
        binary = Path(shutil.which("liverec-edge") or "/bin/true")
    unit = tmp_path / "liverec-edge.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(binary)))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "liverec-edge.service" not in result.stderr, result.stderr  # no warnings about our unit


@needs_systemd_analyze
def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: the same unit with a missing binary and a typo is rejected."""
    unit = tmp_path / "liverec-edge.service"
    unit.write_text(UNIT.read_text().replace("Type=notify", "Type=notifi"))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "not executable" in result.stderr or "notifi" in result.stderr


@needs_systemd_analyze
def test_hardening_exposure_is_low(tmp_path: Path) -> None:
    unit = tmp_path / "liverec-edge.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_BINARY, "/bin/true"))
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                            capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr and result.returncode != 0:
        pytest.skip("this systemd-analyze has no offline security check")
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout + result.stderr)
    assert match, result.stdout[-500:]
    assert float(match.group(1)) <= 2.5


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers missing")
def test_sysusers_creates_the_user_in_audio_and_video(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\naudio:x:29:\nvideo:x:44:\n")
    result = subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(SYSUSERS)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    passwd = (etc / "passwd").read_text()
    assert re.search(r"^liverec:x:\d+:\d+:[^:]*:/var/lib/liverec-edge:/usr/sbin/nologin$", passwd, re.M), passwd
    group = (etc / "group").read_text()
    assert re.search(r"^audio:x:29:liverec$", group, re.M) and re.search(r"^video:x:44:liverec$", group, re.M)

"""``liverec-edge mixer probe|get|set`` against the desk simulator running in a child process (real UDP, loopback)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liverec_edge.cli", "mixer", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


@pytest.fixture(scope="module")
def desk() -> Iterator[int]:
    port = free_udp_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "liverec_edge.mixer.simulator", "--family", "x32", "--port", str(port),
         "--name", "studio-a"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    assert process.stdout is not None
    assert "listening on 127.0.0.1" in process.stdout.readline()
    yield port
    process.kill()
    process.wait()


def test_probe_prints_model_firmware_name(desk: int) -> None:
    result = cli("probe", "--mixer", f"x32://127.0.0.1:{desk}")
    assert result.returncode == 0, result.stderr
    assert "model     X32" in result.stdout and "firmware  4.06" in result.stdout and "studio-a" in result.stdout


def test_set_reads_back_snapped_values_then_get(desk: int) -> None:
    url = f"x32://127.0.0.1:{desk}"
    result = cli("set", "--mixer", url, "ch01.hpf.freq=120", "ch01.fader=-10", "ch01.on=0", "ch01.eq.2.type=VEQ",
                 "ch01.gate.mode=GATE", "ch01.dyn.ratio=4")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ch01.hpf.freq = 120.7 Hz") and "snapped" in lines[0]
    assert lines[1].startswith("ch01.fader = -10.04 dB")
    assert lines[2:] == ["ch01.on = 0", "ch01.eq.2.type = VEQ", "ch01.gate.mode = GATE", "ch01.dyn.ratio = 4"]
    result = cli("get", "--mixer", url, "ch01.hpf.freq", "ch01.eq.2.type", "ch02.fader")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["ch01.hpf.freq = 120.7 Hz", "ch01.eq.2.type = VEQ", "ch02.fader = -inf dB"]


def test_bad_names_and_values_exit_2_before_sending(desk: int, capsys: pytest.CaptureFixture[str]) -> None:
    from liverec_edge.cli import main  # in-process: same code path as the console script, without the start-up

    url = f"x32://127.0.0.1:{desk}"
    assert main(["mixer", "set", "--mixer", url, "ch01.trim=2", "ch01.hpf.freq=10"]) == 2
    assert "ch01.hpf.freq=10: 10 Hz is outside 20..400 Hz" in capsys.readouterr().err
    assert main(["mixer", "get", "--mixer", url, "ch01.trim"]) == 0
    assert capsys.readouterr().out.strip() == "ch01.trim = 0.00 dB"  # nothing was half-applied
    assert main(["mixer", "get", "--mixer", url, "ch33.fader"]) == 2
    assert "channel 33 is out of range 1..32" in capsys.readouterr().err
    assert main(["mixer", "get", "--mixer", "tcp://desk", "ch01.fader"]) == 2
    assert "bad mixer URL" in capsys.readouterr().err
    assert main(["mixer", "set", "--mixer", url, "ch01.fader"]) == 2
    assert "expected PARAM=VALUE" in capsys.readouterr().err


def test_silent_desk_exits_nonzero_with_a_clear_message() -> None:
    port = free_udp_port()
    result = cli("probe", "--mixer", f"xair://127.0.0.1:{port}", "--timeout", "0.5")
    assert result.returncode == 1
    assert f"no answer from a xair desk at 127.0.0.1:{port} within 0.5 s" in result.stderr


def test_wrong_family_exits_nonzero(desk: int) -> None:
    result = cli("probe", "--mixer", f"xair://127.0.0.1:{desk}", "--timeout", "2")
    assert result.returncode == 1 and "is a X32" in result.stderr and "xair" in result.stderr

"""sd_notify messages reach a real datagram socket, through both backends, path and abstract addresses."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from liverec_edge.sdnotify import DEFAULT_WATCHDOG_USEC, Notifier


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield sock, str(path)
    sock.close()


@pytest.fixture
def abstract_notify_socket() -> Iterator[tuple[socket.socket, str]]:
    name = f"liverec-test-{os.getpid()}-{id(object())}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    yield sock, "@" + name
    sock.close()


@pytest.mark.parametrize("prefer_builtin", [True, False], ids=["builtin", "systemd-python"])
def test_messages_arrive_on_a_path_socket(
    notify_socket: tuple[socket.socket, str], prefer_builtin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = notify_socket
    # systemd-python's sd_notify reads the real environment, so the address goes there.
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    notifier = Notifier.from_environment(prefer_builtin=prefer_builtin)
    assert notifier.enabled
    assert notifier.backend == ("builtin" if prefer_builtin else "systemd-python")
    assert notifier.ready("capturing 30 fps")
    assert notifier.watchdog()
    assert notifier.stopping()
    received = [sock.recv(4096).decode() for _ in range(3)]
    assert received == ["READY=1\nSTATUS=capturing 30 fps", "WATCHDOG=1", "STOPPING=1"]


@pytest.mark.parametrize("prefer_builtin", [True, False], ids=["builtin", "systemd-python"])
def test_abstract_socket_addresses_work(
    abstract_notify_socket: tuple[socket.socket, str], prefer_builtin: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, address = abstract_notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    notifier = Notifier.from_environment(prefer_builtin=prefer_builtin)
    assert notifier.status("fps 30\n drops 0")
    assert sock.recv(4096).decode() == "STATUS=fps 30 drops 0"


def test_identical_status_is_not_resent(notify_socket: tuple[socket.socket, str]) -> None:
    sock, address = notify_socket
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": address}, prefer_builtin=True)
    notifier.status("a")
    notifier.status("a")
    notifier.status("b")
    assert sock.recv(4096) == b"STATUS=a"
    assert sock.recv(4096) == b"STATUS=b"


def test_reloading_carries_a_monotonic_timestamp(notify_socket: tuple[socket.socket, str]) -> None:
    sock, address = notify_socket
    Notifier.from_environment({"NOTIFY_SOCKET": address}, prefer_builtin=True).reloading()
    lines = sock.recv(4096).decode().split("\n")
    assert lines[0] == "RELOADING=1"
    assert lines[1].startswith("MONOTONIC_USEC=") and int(lines[1].split("=")[1]) > 0


def test_without_notify_socket_everything_is_a_quiet_no_op() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_interval_s == DEFAULT_WATCHDOG_USEC / 2e6


def test_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}, prefer_builtin=True)
    assert notifier.watchdog() is False
    assert notifier.watchdog() is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert Notifier.from_environment({"WATCHDOG_USEC": "3000000"}).watchdog_interval_s == 1.5
    assert Notifier.from_environment({"WATCHDOG_USEC": "junk"}).watchdog_usec is None
    assert Notifier.from_environment({"WATCHDOG_USEC": "0"}).watchdog_usec is None


def test_watchdog_meant_for_another_pid_is_ignored() -> None:
    other_pid = str(os.getpid() + 1)
    assert Notifier.from_environment({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": other_pid}).watchdog_usec is None
    mine = Notifier.from_environment({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_usec == 3_000_000


def test_a_manager_that_does_not_read_never_blocks_the_builtin_notifier(
    notify_socket: tuple[socket.socket, str],
) -> None:
    _, address = notify_socket  # bound, never read: its queue fills after max_dgram_qlen datagrams
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": address})
    assert notifier.backend == "builtin", "the daemon's default"
    caller = threading.Thread(target=lambda: [notifier.watchdog() for _ in range(200)], daemon=True)
    caller.start()
    caller.join(10)
    assert not caller.is_alive(), "the caller blocked"
    assert notifier.watchdog() is False, "a full queue drops the message instead"
    notifier.close()


FREEZE_PROBE = """
import os, socket, sys, threading, time
path = sys.argv[1]
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.bind(path)                      # a service manager that does not read
os.environ["NOTIFY_SOCKET"] = path
from systemd import daemon
threading.Thread(target=lambda: [daemon.notify("WATCHDOG=1") for _ in range(10_000)], daemon=True).start()
for tick in range(20):
    time.sleep(0.1)
    print(tick, flush=True)              # a capture thread stands for every other thread of the daemon
"""


def test_why_the_builtin_notifier_is_the_default(tmp_path: Path) -> None:
    """systemd-python blocks in sd_notify *holding the GIL* once the manager's queue is full: the whole process
    stops. If this starts failing, systemd-python has been fixed and could be the default again."""
    pytest.importorskip("systemd.daemon")
    import subprocess
    import sys

    probe = subprocess.Popen([sys.executable, "-c", FREEZE_PROBE, str(tmp_path / "full.sock")],
                             stdout=subprocess.PIPE, text=True)
    try:
        out, _ = probe.communicate(timeout=6)
        froze = False
    except subprocess.TimeoutExpired:
        probe.kill()
        out, _ = probe.communicate()
        froze = True
    assert froze and len(out.split()) < 20, f"the other thread kept running: {out.split()[-3:]}"

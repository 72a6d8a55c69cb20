"""A stand-in capture stage and a script that runs the real daemon with it, for the daemon's process-level tests.

Run as ``python tests/test_daemon_standin.py --config F [--freeze-file P] [--seconds N]``. The stand-in produces
frames at 30 fps on the bus like capture does, and stops producing while ``--freeze-file`` exists, which is how the
tests make the pipeline stall without stopping the process. (No tests in here; pytest imports it harmlessly.)
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
import yaml

from liverec_edge.pipeline import TOPIC_AUDIO, TOPIC_FRAMES, HealthValue, StageBase, StageContext
from liverec_edge.types import AudioBlock, Frame


class StandInCapture(StageBase):
    """Frames and audio blocks from a timer: what capture publishes, without any source behind it."""

    name = "capture"
    critical = True

    def __init__(self, freeze_file: Path | None = None, fps: float = 30.0):
        super().__init__()
        self.freeze_file = freeze_file
        self.fps = fps
        self.frames = 0
        self._image = np.zeros((48, 64, 3), np.uint8)
        self._silence = np.zeros((1600, 1), np.float32)

    async def run(self, ctx: StageContext) -> None:
        while True:
            await asyncio.sleep(1.0 / self.fps)
            if self.freeze_file is not None and self.freeze_file.exists():
                continue
            t = ctx.clock()
            ctx.bus.publish(TOPIC_FRAMES, Frame(t=t, index=self.frames, image=self._image))
            ctx.bus.publish(TOPIC_AUDIO, AudioBlock(t0=t, samples=self._silence, rate=48000))
            self.frames += 1
            self.meter.beat(1)

    def health(self) -> Mapping[str, HealthValue]:
        return {"frames": self.frames, "fps": round(self.meter.rate(), 1), "audio_rate": 48000}


class WedgedOnStop(StageBase):
    """A stage whose stop() blocks a worker thread for half a minute: a driver call that never returns."""

    name = "wedged"

    async def stop(self) -> None:
        await asyncio.to_thread(time.sleep, 30)


def main(argv: list[str]) -> int:
    from liverec_edge.config import ConfigError, load_config
    from liverec_edge.control.stage import ControlStage
    from liverec_edge.daemon import run_blocking
    from liverec_edge.logs import setup_logging
    from liverec_edge.pipeline import PassThroughStage

    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--freeze-file", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--wedged-stop", action="store_true", help="add a stage whose stop() never finishes")
    args = parser.parse_args(argv)
    setup_logging("info")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    stages = [StandInCapture(args.freeze_file), PassThroughStage(), ControlStage()]
    if args.wedged_stop:
        stages.append(WedgedOnStop())
    return run_blocking(config, seconds=args.seconds, stages=stages, config_path=args.config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# --- helpers the daemon and control tests share ----------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
STANDIN_SCRIPT = Path(__file__).resolve()


class NotifyListener:
    """A bound NOTIFY_SOCKET read continuously, as systemd does: what the daemon sent, message by message."""

    def __init__(self, path: Path):
        import queue
        import socket
        import threading

        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._inbox: queue.Queue[str] = queue.Queue()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self._inbox.put(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        """The first message not yet looked at that satisfies ``predicate`` (None if ``timeout`` passes first)."""
        import queue

        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._inbox.get(timeout=left)
            except queue.Empty:
                return None
            self.messages.append(message)
            if predicate(message):
                return message
        return None

    def collect(self, seconds: float) -> list[str]:
        got: list[str] = []
        self.wait_for(lambda m: got.append(m) is not None, seconds)
        return got

    def skip_pending(self) -> None:
        """Forget what arrived so far: the next wait looks only at what comes from now on."""
        self.collect(0.01)
        while not self._inbox.empty():
            self.messages.append(self._inbox.get_nowait())

    def close(self) -> None:
        self._closed.set()
        self._reader.join(2)
        self.sock.close()


class DaemonProcess:
    """A daemon subprocess with its stderr in a file (never a pipe that could fill and block it)."""

    def __init__(self, argv: list[str], tmp_path: Path, env: Mapping[str, str]):
        import os
        import subprocess

        self.log_path = tmp_path / f"daemon-{time.monotonic_ns()}.log"
        self._log_file = self.log_path.open("wb")
        full_env = {**os.environ, **env}
        self.proc = subprocess.Popen(argv, cwd=REPO, env=full_env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float, after: int = 0) -> re.Match[str] | None:
        """The first match of ``pattern`` in the log after character ``after``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.compile(pattern).search(self.log(), after)
            if match or time.monotonic() > deadline or self.proc.poll() is not None:
                return match or re.compile(pattern).search(self.log(), after)
            time.sleep(0.05)

    def control_port(self, timeout: float = 10.0) -> int:
        match = self.wait_log(r"control listening host=\S+ port=(\d+)", timeout)
        assert match, f"control never listened:\n{self.log()}"
        return int(match.group(1))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._log_file.close()


def standin_argv(config: Path, freeze_file: Path | None = None, *extra: str) -> list[str]:
    argv = [sys.executable, str(STANDIN_SCRIPT), "--config", str(config), *extra]
    if freeze_file is not None:
        argv += ["--freeze-file", str(freeze_file)]
    return argv


class OscClient:
    """A tablet on loopback: sends from one UDP socket and reads the replies that come back to it."""

    def __init__(self, port: int, host: str = "127.0.0.1"):
        import socket

        self.target = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))

    def send(self, address: str, *args: object) -> None:
        from pythonosc.osc_message_builder import OscMessageBuilder

        builder = OscMessageBuilder(address)
        for arg in args:
            builder.add_arg(arg)
        self.sock.sendto(builder.build().dgram, self.target)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def receive(self, timeout: float = 3.0) -> dict[str, list[object]] | None:
        """One reply packet as address → arguments (bundles flattened); None if nothing came."""
        from pythonosc.osc_packet import OscPacket

        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        return {timed.message.address: list(timed.message.params) for timed in OscPacket(data).messages}

    def status(self, timeout: float = 3.0) -> dict[str, list[object]] | None:
        self.send("/liverec/status")
        return self.receive(timeout)

    def close(self) -> None:
        self.sock.close()


# --- fixtures (bound to their names by the test modules: `notify = support.notify_fixture`) ------------------

WATCHDOG_USEC = 600_000  # pings every 0.3 s
STALL_S = 1.0


def write_config(path: Path, **sections: object) -> Path:
    base: dict[str, object] = {
        "daemon": {"watchdog_stall_s": STALL_S, "shutdown_timeout_s": 1.0},
        "control": {"bind": "127.0.0.1", "port": 0},
    }
    for name, value in sections.items():
        base[name] = {**base.get(name, {}), **value} if isinstance(value, dict) else value  # type: ignore[dict-item]
    path.write_text(yaml.safe_dump(base))
    return path


@pytest.fixture(name="notify")
def notify_fixture(tmp_path: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(tmp_path / "notify.sock")
    yield listener
    listener.close()


@pytest.fixture(name="launch")
def launch_fixture(tmp_path: Path, notify: NotifyListener) -> Iterator[Callable[[list[str]], DaemonProcess]]:
    started: list[DaemonProcess] = []

    def start(argv: list[str]) -> DaemonProcess:
        env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)}
        process = DaemonProcess(argv, tmp_path, env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def frames_in(status: str) -> int:
    """The capture frame counter from a STATUS= message ("… video 30.0 fps (123 frames) …")."""
    match = re.search(r"\((\d+) frames\)", status)
    assert match, status
    return int(match.group(1))


def next_status_frames(notify: NotifyListener, timeout: float = 3.0) -> int:
    message = notify.wait_for(lambda m: m.startswith("STATUS=") and "frames)" in m, timeout)
    assert message, f"no STATUS in {timeout} s: {notify.messages[-5:]}"
    return frames_in(message)

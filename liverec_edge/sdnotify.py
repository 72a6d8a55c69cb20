"""The systemd notification protocol (``sd_notify``): READY, STATUS, WATCHDOG, RELOADING, STOPPING.

The daemon writes the datagrams to ``$NOTIFY_SOCKET`` itself (a path, or an abstract socket written ``@name``) on a
**non-blocking** socket: when the service manager is not reading, a message is dropped (and logged once), never
waited for. systemd-python's ``daemon.notify`` is supported (``prefer_builtin=False``) but not the default, for a
reason measured on this project's platform: libsystemd sends on a blocking socket and systemd-python does not release
the GIL around the call, so once the manager's queue is full (``net.unix.max_dgram_qlen``, 10 by default) *every*
thread of the process stops, the capture threads included: audio and video would be lost over a status message.
``tests/test_sdnotify.py`` pins that behaviour. Without ``$NOTIFY_SOCKET`` (run by hand, in the demo) every call is
a cheap no-op, so callers never branch on it.

Notifications must never take the daemon down: a full or vanished socket is logged once and otherwise ignored.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

from liverec_edge.logs import kv

log = logging.getLogger("liverec_edge.sdnotify")

#: Watchdog period assumed when systemd did not set ``WATCHDOG_USEC`` (run by hand): pings are then sent every 5 s
#: to nobody, but the stall detection that gates them still runs and logs, so behaviour is the same as under systemd.
DEFAULT_WATCHDOG_USEC = 10_000_000

Sender = Callable[[str], bool]


def _systemd_python_sender() -> Sender | None:
    try:
        from systemd import daemon as systemd_daemon  # the systemd-python package (extra "systemd")
    except ImportError:
        return None
    notify = getattr(systemd_daemon, "notify", None)
    # The unrelated PyPI package also called "systemd" has no daemon.notify; fall back to the built-in one then.
    return notify if callable(notify) else None


class SocketSender:
    """The built-in fallback: one datagram per notification to the socket named in ``NOTIFY_SOCKET``."""

    def __init__(self, address: str):
        # "@name" is an abstract-namespace socket; Linux spells that with a leading NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        # Never let a stuck service manager block the event loop: a full socket buffer drops the message instead.
        self._sock.setblocking(False)

    def __call__(self, message: str) -> bool:
        try:
            self._sock.sendto(message.encode("utf-8"), self.address)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._sock.close()


class Notifier:
    """Sends sd_notify messages for one process. Build it with :meth:`from_environment`."""

    def __init__(self, sender: Sender | None, watchdog_usec: int | None, backend: str):
        self._sender = sender
        self.backend = backend
        #: WATCHDOG_USEC from systemd (None when systemd did not enable the watchdog for this process).
        self.watchdog_usec = watchdog_usec
        self._last_status = ""
        self._failed_once = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, *, prefer_builtin: bool = True) -> Notifier:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` the way ``sd_watchdog_enabled`` does.

        ``prefer_builtin=False`` uses systemd-python when it is installed (it reads ``os.environ`` itself), but see
        the module docstring for why the daemon does not.
        """
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        watchdog_usec = _parse_watchdog_usec(env)
        if not address:
            return cls(None, watchdog_usec, "none")
        sender = None if prefer_builtin else _systemd_python_sender()
        if sender is not None:
            return cls(sender, watchdog_usec, "systemd-python")
        return cls(SocketSender(address), watchdog_usec, "builtin")

    @property
    def enabled(self) -> bool:
        return self._sender is not None

    @property
    def watchdog_interval_s(self) -> float:
        """How often to ping: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends."""
        usec = self.watchdog_usec or DEFAULT_WATCHDOG_USEC
        return usec / 2_000_000

    def notify(self, message: str) -> bool:
        if self._sender is None:
            return False
        try:
            sent = bool(self._sender(message))
        except OSError:
            sent = False
        if not sent and not self._failed_once:
            # Logged once: a socket that stays broken would otherwise flood the log every watchdog period.
            self._failed_once = True
            log.warning("sd_notify message not delivered", extra=kv(backend=self.backend, message=message[:40]))
        return sent

    def close(self) -> None:
        """Release the socket; later calls are no-ops."""
        sender, self._sender = self._sender, None
        if isinstance(sender, SocketSender):
            sender.close()

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def status(self, text: str) -> bool:
        """STATUS=…; repeated identical texts are not re-sent."""
        text = _one_line(text)
        if text == self._last_status:
            return True
        self._last_status = text
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets Type=notify-reload (systemd ≥ 253) match the reload; older managers ignore it.
        return self.notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")


def _parse_watchdog_usec(env: Mapping[str, str]) -> int | None:
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    # WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the env must not ping.
    if pid and pid != str(os.getpid()):
        return None
    return usec


def _one_line(text: str) -> str:
    return " ".join(text.split())

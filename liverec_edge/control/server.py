"""The tablet's OSC control surface: a UDP server on the event loop that changes :class:`ControlState`.

Addresses (arguments in OSC type tags; a toggle may send ``,i``, ``,f`` or ``,T``/``,F``)::

    /liverec/arm ,i          1 arms (the daemon may change the desk), 0 disarms
    /liverec/bypass ,i       1 bypasses (analysis runs, nothing reaches the desk), 0 resumes
    /liverec/threshold ,sf   fault type and threshold in (0, 1); ``,s`` alone returns it to the config's value
    /liverec/release         undo every desk change the daemon owns
    /liverec/status          ask for the state

Every accepted command and every ``/liverec/status`` is answered, to the sender's own IP and port, with one bundle of
``/liverec/status/<field>`` messages (armed, bypass, fps, audio_rate, drops, skipped, desk, tags, faults, health,
thresholds), so a tablet's widgets can bind to them. A command with bad arguments is answered with
``/liverec/error ,ss`` (address, reason).

Why not python-osc's ``AsyncIOOSCUDPServer`` and ``Dispatcher``: the dispatcher sleeps in the event loop until a
bundle's time tag (a bundle stamped an hour ahead would freeze capture consumers and starve the watchdog), matches
address patterns by compiling the sender's pattern into a regex, and swallows parse errors so they cannot be counted.
This server uses python-osc's message parser and builders, but checks the allowlist before parsing, checks every
packet's layout itself first (python-osc loops forever on some bundles and reads missing argument bytes as zeros,
see :mod:`~liverec_edge.oscwire`), obeys a packet whole or not at all, ignores time tags (control is
immediate), matches addresses exactly, and counts every packet it drops. Packets from senders
outside the allowlist are never answered, so the port cannot be used to reflect traffic at a third party.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from liverec_edge.control.settings import ControlSettings
from liverec_edge.control.state import ControlState, DaemonStatus
from liverec_edge.logs import kv
from liverec_edge.oscwire import OscWireError, check_message, split_packet

log = logging.getLogger("liverec_edge.control")

PREFIX = "/liverec"
#: A bundle may carry several commands; more than this in one packet is not a tablet, it is a flood.
MAX_MESSAGES_PER_PACKET = 16
#: Tablets send messages or flat bundles; deeper nesting than this is refused rather than recursed into.
MAX_BUNDLE_DEPTH = 8
#: Replies queued in the socket's user-space buffer beyond this are dropped instead of growing memory.
MAX_REPLY_BUFFER_BYTES = 64 * 1024


@dataclass
class ControlStats:
    """Counters of what the control port received; all of them show up in the health report."""

    packets: int = 0
    commands: int = 0
    rejected_sender: int = 0
    malformed: int = 0
    unknown_address: int = 0
    bad_arguments: int = 0
    replies: int = 0
    replies_dropped: int = 0


class LogThrottle:
    """At most one log line per kind every ``every_s``: a flood of bad packets must not flood the journal (the
    counters in the health report still count every one)."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def allow(self, kind: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(kind, -math.inf) < self.every_s:
            return False
        self._last[kind] = now
        return True


class CommandError(ValueError):
    """A command with arguments that cannot be obeyed; the reason goes back to the sender."""


class ControlServer:
    """Parses, checks and obeys control packets. :meth:`handle_datagram` is the whole protocol, socket-free."""

    def __init__(self, settings: ControlSettings, state: ControlState, status: Callable[[], DaemonStatus]):
        self.settings = settings
        self.state = state
        self.status = status
        self.stats = ControlStats()
        self._throttle = LogThrottle(every_s=5.0)
        self._transport: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] | None = None
        self._handlers: dict[str, Callable[[list[Any], str], bool]] = {
            f"{PREFIX}/arm": self._arm,
            f"{PREFIX}/bypass": self._bypass,
            f"{PREFIX}/threshold": self._threshold,
            f"{PREFIX}/release": self._release,
            f"{PREFIX}/status": self._status,
        }

    # --- socket ------------------------------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _ControlProtocol(self), local_addr=(self.settings.bind, self.settings.port)
        )
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.address = (host, port)
        return host, port

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def update_settings(self, settings: ControlSettings) -> None:
        """Take a reloaded config's allowlist and limits (bind and port need a restart of the server)."""
        self.settings = settings

    def send(self, datagrams: list[bytes], addr: tuple[str, int]) -> None:
        transport = self._transport
        if transport is None:
            return
        for datagram in datagrams:
            if transport.get_write_buffer_size() > MAX_REPLY_BUFFER_BYTES:
                self.stats.replies_dropped += 1
                continue
            self.stats.replies += 1  # counted first: the peer may act on the reply before this line runs again
            transport.sendto(datagram, addr)

    # --- protocol ----------------------------------------------------------------------------------------------

    def handle_datagram(self, data: bytes, addr: tuple[str, int]) -> list[bytes]:
        """Obey one packet; returns the reply datagrams for ``addr`` (none for dropped packets). Never raises."""
        self.stats.packets += 1
        host, port = str(addr[0]), int(addr[1])
        if not self.settings.allows(host):
            self.stats.rejected_sender += 1
            if self._throttle.allow("sender"):
                log.warning("control packet from a sender not in control.allow dropped",
                            extra=kv(sender=host, dropped_total=self.stats.rejected_sender))
            return []
        if len(data) > self.settings.max_packet_bytes:
            self.stats.malformed += 1
            return []
        try:
            messages = _parse_packet(data)
        except ValueError as exc:
            self.stats.malformed += 1
            log.debug("malformed control packet dropped", extra=kv(sender=host, size=len(data), reason=exc))
            return []
        source = f"osc {host}:{port}"
        replies: list[bytes] = []
        answer_status = False
        for address, params in messages:
            handler = self._handlers.get(address)
            if handler is None:
                self.stats.unknown_address += 1
                log.debug("unknown control address", extra=kv(sender=host, address=address[:64]))
                continue
            try:
                answer_status |= handler(params, source)
            except CommandError as exc:
                self.stats.bad_arguments += 1
                if self._throttle.allow("refused"):
                    log.warning("control command refused", extra=kv(
                        sender=host, address=address, reason=exc, refused_total=self.stats.bad_arguments))
                replies.append(_message(f"{PREFIX}/error", [address, str(exc)]))
                continue
            self.stats.commands += 1
        if answer_status:
            replies.append(self.status_bundle())
        return replies

    def status_bundle(self) -> bytes:
        status = self.status()
        fields = asdict(status)
        bundle = OscBundleBuilder(IMMEDIATELY)
        for name in ("armed", "bypass"):
            bundle.add_content(_build(f"{PREFIX}/status/{name}", [int(fields[name])]))
        bundle.add_content(_build(f"{PREFIX}/status/fps", [float(status.fps)]))
        bundle.add_content(_build(f"{PREFIX}/status/audio_rate", [int(status.audio_rate)]))
        bundle.add_content(_build(f"{PREFIX}/status/drops", [int(status.drops)]))
        bundle.add_content(_build(f"{PREFIX}/status/skipped", [int(status.skipped)]))
        bundle.add_content(_build(f"{PREFIX}/status/desk", [status.desk]))
        # Lists travel as one comma-separated string: tablet label widgets show one string, and it keeps the
        # reply one small datagram however many tags are open.
        bundle.add_content(_build(f"{PREFIX}/status/tags", [",".join(status.tags)[:512]]))
        bundle.add_content(_build(f"{PREFIX}/status/faults", [",".join(status.faults)[:512]]))
        bundle.add_content(_build(f"{PREFIX}/status/health", [status.health[:256]]))
        thresholds = ",".join(f"{k}={v:.3g}" for k, v in sorted(status.thresholds.items()))
        bundle.add_content(_build(f"{PREFIX}/status/thresholds", [thresholds]))
        return bundle.build().dgram

    # --- commands: each returns whether the sender gets the status back ------------------------------------------

    def _arm(self, args: list[Any], source: str) -> bool:
        armed = _switch(args)
        self.state.set_armed(armed, source)
        log.info("armed" if armed else "disarmed", extra=kv(by=source))
        return True

    def _bypass(self, args: list[Any], source: str) -> bool:
        bypass = _switch(args)
        self.state.set_bypass(bypass, source)
        log.info("bypass on" if bypass else "bypass off", extra=kv(by=source))
        return True

    def _threshold(self, args: list[Any], source: str) -> bool:
        if not args or not isinstance(args[0], str):
            raise CommandError("expected a fault type and a value (,sf)")
        if len(args) > 2:
            raise CommandError("expected a fault type and a value (,sf)")
        value = None if len(args) == 1 else _number(args[1])
        try:
            self.state.set_threshold(args[0], value, source)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        log.info("threshold override", extra=kv(fault=args[0], value="config" if value is None else value, by=source))
        return True

    def _release(self, args: list[Any], source: str) -> bool:
        self.state.request_release(source)
        log.info("release of all daemon-owned desk changes requested", extra=kv(by=source))
        return True

    def _status(self, args: list[Any], source: str) -> bool:
        return True


class _ControlProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: ControlServer):
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            replies = self.server.handle_datagram(data, addr)
            if replies:
                self.server.send(replies, addr)
        except Exception:  # never let one packet break the endpoint; handle_datagram is meant not to raise
            log.exception("control packet handling failed")

    def error_received(self, exc: Exception) -> None:
        # ICMP port-unreachable from a tablet that went away after asking: harmless.
        log.debug("control socket error", extra=kv(error=exc))


def _parse_packet(data: bytes) -> list[tuple[str, list[Any]]]:
    """Address and arguments of every message in one packet; ``ValueError`` (with the reason) if any part of it is
    not well-formed OSC, so a packet is obeyed whole or not at all.

    The layout is checked by :mod:`~liverec_edge.oscwire` first: python-osc's bundle parser loops forever on
    a negative element size, and its message parser reads missing float bytes as zeros (``/liverec/arm ,f`` with no
    payload would disarm the daemon). Only messages that passed are handed to python-osc for their values.
    """
    datagrams = split_packet(data, max_depth=MAX_BUNDLE_DEPTH, max_messages=MAX_MESSAGES_PER_PACKET)
    if not datagrams:
        raise OscWireError("a bundle without messages")  # nothing to obey is not a command
    messages: list[tuple[str, list[Any]]] = []
    for datagram in datagrams:
        check_message(datagram)
        try:
            message = OscMessage(datagram)
        except Exception as exc:  # what the layout check cannot see: undecodable UTF-8 in a string, say
            raise OscWireError(f"unreadable message: {exc}") from None
        messages.append((message.address, list(message.params)))
    return messages


def _switch(args: list[Any]) -> bool:
    if len(args) != 1:
        raise CommandError("expected one argument: 1 or 0")
    return _number(args[0]) != 0


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):  # a NaN would slip past every range check after it
            raise CommandError(f"not a finite number: {value}")
        return float(value)
    raise CommandError(f"expected a number, got {type(value).__name__}")


def _build(address: str, args: list[Any]) -> Any:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


def _message(address: str, args: list[Any]) -> bytes:
    return bytes(_build(address, args).dgram)

"""The OSC desk backend: X32/M32 and X-Air over UDP, driven by a firmware YAML.

One bound UDP socket sends and receives (the desk answers to the sender's address and source port). A supervisor
task does the ``/xinfo`` handshake (model and firmware must match the firmware config), keeps the remote
subscription (``/xremote``, X-Air ``/xremotenfb``) alive, checks the desk is still there on every renewal, and
reconnects with exponential backoff when it is not. The connection state is observable.

Everything the desk says is kept in a mirror of grid indices, by address. A value from the desk whose grid index
differs from the mirror is someone else's change and is reported to ``on_external_change`` subscribers, unless it
is the echo of one of our own sets (only on subscriptions that echo them: X32 ``/xremote`` and X-Air ``/xremotenfb``
do not) or the answer to one of our reads that may predate our own set. Requests are paced by one global rate
limit; reads that get no answer are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from liverec_edge.logs import kv
from liverec_edge.mixer.backend import (
    ConnectionState,
    ExternalChangeCallback,
    MixerError,
    MixerIncompatible,
    MixerTimeout,
    MixerUnreachable,
)
from liverec_edge.mixer.firmware import FirmwareConfig, ResolvedParam
from liverec_edge.mixer.laws import EngValue, LawError
from liverec_edge.oscwire import OscWireError, message_end

#: the protocol notes: keep every datagram under 512 bytes
MAX_DATAGRAM = 512

OscArg = float | int | str | bytes
_TAGS: dict[type, str] = {int: "i", float: "f", bytes: "b", str: "s"}


def encode(address: str, args: Sequence[OscArg] = (), types: str | None = None) -> bytes:
    """One OSC message; ``types`` forces the tag per argument (``"f"``, ``"i"``, ``"s"``)."""
    builder = OscMessageBuilder(address)
    for position, arg in enumerate(args):
        tag = types[position] if types else _TAGS.get(type(arg), "s")
        builder.add_arg(arg, tag)
    dgram = builder.build().dgram
    if len(dgram) >= MAX_DATAGRAM:
        raise MixerError(f"OSC message for {address} is {len(dgram)} bytes; desks take under {MAX_DATAGRAM}")
    return dgram


def decode(data: bytes) -> tuple[str, list[Any]]:
    """Address and arguments of one OSC message; raises ``ValueError`` for anything else (bundles included), and
    for a message whose arguments are cut short or followed by anything but NUL bytes."""
    if data[:1] != b"/" and data[:4] != b"node":
        # X32 answers /node with the address "node" (no slash); everything else starts with '/'.
        raise ValueError("not an OSC message (address does not start with '/')")
    # python-osc reads a float with missing bytes as if they were zeros (",f" with no payload is -inf dB on a
    # fader), so the layout is checked against the type tags first. Trailing NUL bytes are tolerated (extra padding
    # changes no value); any other trailing byte means the tags do not describe the message.
    try:
        end = message_end(data)
    except OscWireError as exc:
        raise ValueError(f"malformed OSC message: {exc}") from None
    if any(data[end:]):
        raise ValueError(f"malformed OSC message: {len(data) - end} bytes after the last argument the type tags name")
    try:
        message = OscMessage(data)
    except Exception as exc:  # python-osc raises ParseError, IndexError, struct.error... on garbage
        raise ValueError(f"malformed OSC message: {exc}") from None
    return message.address, list(message.params)


@dataclass(frozen=True, slots=True)
class DeskInfo:
    """What ``/xinfo`` said: desk IP, network name, model (``X32``, ``XR18``, ...) and firmware."""

    ip: str
    name: str
    model: str
    firmware: str


@dataclass
class OscStats:
    sent: int = 0
    received: int = 0
    malformed: int = 0
    retries: int = 0
    timeouts: int = 0
    reconnects: int = 0
    renewals: int = 0
    external_changes: int = 0
    echoes_ignored: int = 0
    foreign: int = 0  # datagrams from an address other than the desk's, ignored
    last_rx: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Waiter:
    """A read waiting for its reply. ``asked_at`` is when the read (its first try) left: a reply to it may show the
    desk's value from before a set of ours sent after that."""

    future: asyncio.Future[list[Any]]
    asked_at: float


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: OscConsole):
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        # Only the desk's own address may answer or push: anything else on the network is ignored. The source
        # port is not checked (a desk answers from its OSC port; some tools answer from another socket).
        if addr[0] != self.owner.desk_ip:
            self.owner.stats.foreign += 1
            return
        self.owner._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable on a connected socket: the desk is not listening (yet). Requests will time out.
        self.owner._log.debug("socket error", extra=kv(error=repr(exc)))


class OscConsole:
    """A Behringer/Midas desk over OSC. Implements :class:`~liverec_edge.mixer.backend.ConsoleBackend`.

    ``await start()`` binds the socket and starts the supervisor; ``await wait_connected(timeout)`` waits for the
    handshake; ``await close()`` stops everything. Timing knobs are parameters so tests can run them fast.
    """

    def __init__(
        self,
        firmware: FirmwareConfig,
        host: str,
        port: int | None = None,
        *,
        aliases: Mapping[str, int] | None = None,
        reply_timeout_s: float = 0.25,
        retries: int = 3,
        renew_s: float = 8.0,
        rate_limit_hz: float = 100.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        echo_window_s: float = 2.0,
        batch_interval_s: float = 0.01,
        bind_host: str | None = None,
        logger: logging.Logger | None = None,
    ):
        self.firmware = firmware
        self.host = host
        self.port = port or firmware.port
        self.aliases = dict(aliases or {})
        self.reply_timeout_s = reply_timeout_s
        self.retries = retries
        self.renew_s = renew_s
        self.min_interval_s = 1.0 / rate_limit_hz if rate_limit_hz > 0 else 0.0
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.echo_window_s = echo_window_s
        self.batch_interval_s = batch_interval_s
        self.bind_host = bind_host
        self.desk_ip = host
        self._log = logger or logging.getLogger("liverec_edge.mixer.osc")
        self.stats = OscStats()
        self.info: DeskInfo | None = None
        self._state = ConnectionState.CONNECTING
        self._state_error: MixerError | None = None
        self._state_changed = asyncio.Event()
        self._state_callbacks: list[Callable[[ConnectionState], None]] = []
        self._change_callbacks: list[ExternalChangeCallback] = []
        self._transport: asyncio.DatagramTransport | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._pending: dict[str, list[_Waiter]] = {}
        self._send_lock = asyncio.Lock()
        self._next_send = 0.0
        self._mirror: dict[str, int] = {}
        #: our own sets not yet echoed back, per address (only kept when the subscription echoes them)
        self._recent_sends: dict[str, deque[tuple[float, int]]] = {}
        #: when we last set each address (a reply to a read sent before that may show the desk's older value)
        self._last_set_at: dict[str, float] = {}
        self._resolved: dict[str, tuple[ResolvedParam, str]] = {}
        #: lookup address (``/-ha/NN/index``) -> {parameter resolved through it: the grid index it was resolved with}
        self._routes: dict[str, dict[str, int]] = {}
        self._by_address: dict[str, ResolvedParam] = firmware.address_map()

    # ---- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def local_port(self) -> int | None:
        if self._transport is None:
            return None
        return int(self._transport.get_extra_info("sockname")[1])

    def on_state_change(self, callback: Callable[[ConnectionState], None]) -> Callable[[], None]:
        self._state_callbacks.append(callback)
        return lambda: self._state_callbacks.remove(callback) if callback in self._state_callbacks else None

    async def start(self) -> None:
        """Bind the socket and start connecting in the background (returns at once)."""
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(self.host, self.port, family=socket.AF_INET, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise MixerUnreachable(f"cannot resolve the desk's host name {self.host!r}: {exc}") from None
        self.desk_ip = str(found[0][4][0])
        # One socket for sending and receiving (the desk answers to our source port). Bound to loopback when the
        # desk is on this machine (simulator), else to every interface.
        bind = self.bind_host or ("127.0.0.1" if ipaddress.ip_address(self.desk_ip).is_loopback else "0.0.0.0")
        transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), local_addr=(bind, 0))
        self._transport = transport
        self._supervisor = asyncio.create_task(self._supervise(), name=f"osc-desk-{self.host}:{self.port}")

    async def wait_connected(self, timeout: float) -> DeskInfo:
        """Wait for the handshake. Raises :class:`MixerTimeout` (no answer) or :class:`MixerIncompatible`."""
        deadline = time.monotonic() + timeout
        while True:
            if self._state is ConnectionState.CONNECTED and self.info is not None:
                return self.info
            if self._state is ConnectionState.INCOMPATIBLE and self._state_error is not None:
                raise self._state_error
            if self._state is ConnectionState.CLOSED:
                raise MixerUnreachable("the desk connection is closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MixerTimeout(
                    f"no answer from a {self.firmware.family} desk at {self.host}:{self.port} within {timeout:g} s "
                    f"(check the address, the port ({self.firmware.port} for {self.firmware.family}) and the network)"
                )
            event = self._state_changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def connect(self, timeout: float) -> DeskInfo:
        await self.start()
        return await self.wait_connected(timeout)

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for waiters in self._pending.values():
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.cancel()
        self._pending.clear()
        self._set_state(ConnectionState.CLOSED)

    async def __aenter__(self) -> OscConsole:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _set_state(self, state: ConnectionState, error: MixerError | None = None) -> None:
        if state is self._state and error is None:
            return
        previous, self._state, self._state_error = self._state, state, error
        event, self._state_changed = self._state_changed, asyncio.Event()
        event.set()
        self._log.info(
            "desk connection state", extra=kv(desk=f"{self.host}:{self.port}", state=state.value, was=previous.value)
        )
        for callback in list(self._state_callbacks):
            try:
                callback(state)
            except Exception:
                self._log.exception("connection-state callback failed")

    async def _supervise(self) -> None:
        backoff = self.backoff_initial_s
        while True:
            try:
                info = await self._handshake()
            except MixerTimeout:
                self._set_state(ConnectionState.UNREACHABLE)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            except MixerIncompatible as exc:
                self._log.error(str(exc))
                self._set_state(ConnectionState.INCOMPATIBLE, exc)
                return
            backoff = self.backoff_initial_s
            self.info = info
            # Pushes were missed while away: the mirror and the headamp routing may be stale.
            self._mirror.clear()
            for routes in self._routes.values():
                for param in routes:
                    self._forget_route(param)
            self._routes.clear()
            await self._send(self.firmware.remote)
            self.stats.renewals += 1
            self._set_state(ConnectionState.CONNECTED)
            why = await self._keep_subscribed()
            self.stats.reconnects += 1
            self._log.warning(f"{why}; reconnecting", extra=kv(desk=f"{self.host}:{self.port}"))
            self._set_state(ConnectionState.UNREACHABLE)

    async def _keep_subscribed(self) -> str:
        """Renew the subscription every ``renew_s`` on a fixed schedule; return why it stopped when the desk stops
        answering or another desk answers in its place (the handshake then decides again: a desk of another model
        is incompatible, and the addresses sent so far meant this firmware's parameters).

        The desk drops a subscription 10 s after the last renewal, so each renewal is due ``renew_s`` after the
        previous one was due, however long the liveness probe takes: a probe that needs all its retries runs beside
        the schedule instead of pushing the next renewal back (renew_s 9.5 plus a slow probe would let it lapse).
        """
        loop = asyncio.get_running_loop()
        due = loop.time() + self.renew_s
        probe: asyncio.Task[list[Any]] | None = None
        try:
            while True:
                wait = max(0.0, due - loop.time())
                if probe is None:
                    await asyncio.sleep(wait)
                else:
                    await asyncio.wait({probe}, timeout=wait)
                    if probe.done():
                        error = probe.exception()
                        answer = probe.result() if error is None else []
                        probe = None
                        if isinstance(error, MixerTimeout):
                            return "desk stopped answering"
                        if error is not None:
                            raise error
                        changed = self._desk_changed(answer)
                        if changed:
                            return changed
                        continue  # answered: wait for the renewal that is due
                now = loop.time()
                if now < due:
                    continue
                # Fixed period; only after a stall longer than a whole period (suspend, overload) start afresh
                # rather than sending a burst of renewals to catch up.
                due = due + self.renew_s if due + self.renew_s > now else now + self.renew_s
                await self._send(self.firmware.remote)
                self.stats.renewals += 1
                if probe is None:
                    # Liveness: the desk never answers a subscription, so ask something it must answer.
                    probe = asyncio.create_task(self._request("/xinfo"), name=f"osc-probe-{self.host}:{self.port}")
        finally:
            if probe is not None and not probe.done():
                probe.cancel()
                with contextlib.suppress(asyncio.CancelledError, MixerError):
                    await probe

    def _desk_changed(self, answer: list[Any]) -> str:
        """Why the desk answering the liveness probe is not the one the handshake accepted ('' when it is)."""
        if self.info is None or len(answer) < 4 or not all(isinstance(a, str) for a in answer[:4]):
            return ""
        model, firmware = str(answer[2]), str(answer[3])
        if (model, firmware) != (self.info.model, self.info.firmware):
            return (f"another desk answers at this address ({model} firmware {firmware}, was {self.info.model} "
                    f"firmware {self.info.firmware})")
        return ""

    async def _handshake(self) -> DeskInfo:
        args = await self._request("/xinfo")
        if len(args) < 4 or not all(isinstance(a, str) for a in args[:4]):
            raise MixerIncompatible(f"desk at {self.host}:{self.port} answered /xinfo with {args!r}, not 4 strings")
        info = DeskInfo(*(str(a) for a in args[:4]))
        fw = self.firmware
        if not fw.model_matches(info.model):
            raise MixerIncompatible(
                f"desk at {self.host}:{self.port} is a {info.model} (firmware {info.firmware}, name {info.name!r}), "
                f"but the firmware config {fw.family!r} is for {', '.join(fw.models)}: choose the matching "
                f"firmware config (x32 for X32/M32, xair for X-Air/MR)"
            )
        if not fw.firmware_matches(info.firmware):
            raise MixerIncompatible(
                f"desk {info.model} at {self.host}:{self.port} runs firmware {info.firmware}, but the firmware config "
                f"{fw.family!r} ({fw.title}) covers firmware matching {fw.firmware_pattern!r}"
            )
        return info

    # ---- sending and receiving -----------------------------------------------------------------------------------

    async def _send(self, address: str, args: Sequence[OscArg] = (), types: str | None = None) -> None:
        dgram = encode(address, args, types)
        async with self._send_lock:
            now = time.monotonic()
            if now < self._next_send:
                await asyncio.sleep(self._next_send - now)
                now = time.monotonic()
            if self._transport is None:
                raise MixerUnreachable("the desk connection is not started or closed")
            self._transport.sendto(dgram, (self.desk_ip, self.port))
            self.stats.sent += 1
            self._next_send = now + self.min_interval_s

    async def _request(self, address: str, args: Sequence[OscArg] = (), reply_address: str | None = None) -> list[Any]:
        """Send and wait for the reply with the same (or ``reply_address``) address, retrying silent losses."""
        expect = reply_address or address
        loop = asyncio.get_running_loop()
        asked_at = time.monotonic()  # the first try: a late reply to it may still arrive during a retry
        for attempt in range(self.retries + 1):
            waiter = _Waiter(loop.create_future(), asked_at)
            self._pending.setdefault(expect, []).append(waiter)
            try:
                await self._send(address, args)
                return await asyncio.wait_for(waiter.future, self.reply_timeout_s)
            except TimeoutError:
                if attempt < self.retries:
                    self.stats.retries += 1
            finally:
                waiting = self._pending.get(expect)
                if waiting is not None and waiter in waiting:
                    waiting.remove(waiter)
                    if not waiting:
                        del self._pending[expect]
        self.stats.timeouts += 1
        raise MixerTimeout(f"no answer from {self.host}:{self.port} to {address} after {self.retries + 1} tries")

    def _on_datagram(self, data: bytes) -> None:
        try:
            address, args = decode(data)
        except ValueError as exc:
            self.stats.malformed += 1
            self._log.debug("ignored malformed datagram from the desk", extra=kv(error=str(exc), size=len(data)))
            return
        self.stats.received += 1
        self.stats.last_rx = time.monotonic()
        waiters = self._pending.pop(address, None)
        if waiters:
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.set_result(args)
        resolved = self._by_address.get(address)
        if resolved is None or not args:
            return
        try:
            index = resolved.law.index_of_osc(args[0])
        except LawError as exc:
            self.stats.malformed += 1
            self._log.debug("ignored bad value from the desk", extra=kv(address=address, error=str(exc)))
            return
        previous = self._mirror.get(address)
        self._mirror[address] = index
        self._reroute(address, index)
        if previous == index:
            return
        # A reply to our read and a push look the same, and the engineer may move the parameter while we ask: a
        # value other than the mirror's is still someone else's change. Not when we knew nothing before, and not
        # when we set the address since asking (the desk may have answered before our set landed).
        if waiters and (previous is None
                        or self._last_set_at.get(address, -math.inf) >= min(w.asked_at for w in waiters)):
            return
        if self._is_echo(address, index):
            self.stats.echoes_ignored += 1
            return
        self.stats.external_changes += 1
        value = resolved.law.eng_of_index(index)
        for callback in list(self._change_callbacks):
            try:
                callback(resolved.name, value)
            except Exception:
                self._log.exception("external-change callback failed", extra=kv(param=resolved.name))

    def _is_echo(self, address: str, index: int) -> bool:
        """Is this push the desk echoing one of our own sets? Never on a subscription that does not echo them
        (X32 ``/xremote``, X-Air ``/xremotenfb``): there every push is someone else's, even one that puts back a
        value we sent a moment ago (the engineer pulling a fader back against a ramp)."""
        if not self.firmware.remote_echoes_own_sets:
            return False
        recent = self._recent_sends.get(address)
        if not recent:
            return False
        horizon = time.monotonic() - self.echo_window_s
        while recent and recent[0][0] < horizon:
            recent.popleft()
        for entry in recent:
            if entry[1] == index:
                # Each set is echoed once: the same value coming back again is someone else's move.
                recent.remove(entry)
                return True
        return False

    def _reroute(self, address: str, index: int) -> None:
        """The desk now says ``index`` for a lookup address (``/-ha/NN/index``: the headamp feeding a channel):
        parameters resolved through another value are re-resolved on their next use (re-patched during the show)."""
        routes = self._routes.get(address)
        if not routes:
            return
        for param, used in list(routes.items()):
            if used != index:
                del routes[param]
                self._forget_route(param)

    def _forget_route(self, param: str) -> None:
        entry = self._resolved.pop(param, None)
        if entry is None:
            return
        resolved, address = entry
        if self._by_address.get(address) is resolved:
            # That headamp no longer feeds this channel: its pushes are not this parameter's any more.
            del self._by_address[address]
            self._mirror.pop(address, None)

    # ---- parameters ----------------------------------------------------------------------------------------------

    async def _resolve(self, param: str) -> tuple[ResolvedParam, str]:
        cached = self._resolved.get(param)
        if cached is not None:
            return cached
        resolved = self.firmware.resolve(param, self.aliases)
        if resolved.needs_lookup:
            via = resolved.via_name()
            assert via is not None
            lookup = self.firmware.resolve(via)
            via_address = lookup.address()
            value = await self.get(via)
            # A push may have landed between the reply and now: the mirror holds the desk's latest word.
            used = self._mirror.get(via_address, lookup.law.index_of_eng(value))
            feeding = int(float(lookup.law.eng_of_index(used)))
            if feeding < 0:
                raise MixerError(f"{resolved.name}: the channel has no headamp ({via} is -1: a digital source)")
            address = resolved.address(headamp=feeding)
            self._by_address[address] = resolved
            # Remember what the route was built on, so a push re-patching the channel drops it (see _reroute).
            self._routes.setdefault(via_address, {})[param] = used
        else:
            address = resolved.address()
        self._resolved[param] = (resolved, address)
        return resolved, address

    def _require_connected(self) -> None:
        if self._state is not ConnectionState.CONNECTED:
            raise MixerUnreachable(f"desk {self.host}:{self.port} is {self._state.value}")

    def snap(self, param: str, value: EngValue) -> EngValue:
        return self.firmware.resolve(param, self.aliases).law.snap(value)

    async def get(self, param: str) -> EngValue:
        """Read the parameter from the desk (retrying lost replies); raises MixerTimeout/MixerUnreachable."""
        self._require_connected()
        resolved, address = await self._resolve(param)
        args = await self._request(address)
        if not args:
            raise MixerError(f"{param}: the desk answered {address} without a value")
        try:
            index = resolved.law.index_of_osc(args[0])
        except LawError as exc:
            raise MixerError(f"{param}: the desk answered {address} with {args[0]!r}: {exc}") from None
        # The mirror took the reply when it arrived (_on_datagram); writing it again here could overwrite a push
        # that landed since, and a stale mirror hides the engineer's next move back to this value.
        return resolved.law.eng_of_index(index)

    async def get_many(self, params: Sequence[str]) -> dict[str, EngValue]:
        """Read several parameters: requests leave ``batch_interval_s`` apart (a burst of queries overflows the
        desk's buffers) without waiting for each answer; lost answers are retried per parameter."""

        async def staggered(position: int, param: str) -> EngValue:
            await asyncio.sleep(position * self.batch_interval_s)
            return await self.get(param)

        values = await asyncio.gather(*(staggered(i, p) for i, p in enumerate(params)))
        return dict(zip(params, values, strict=True))

    async def set(self, param: str, value: EngValue) -> EngValue:
        """Send a set (the desk never answers one); returns the snapped value the desk now holds."""
        self._require_connected()
        resolved, address = await self._resolve(param)
        law = resolved.law
        index = law.index_of_eng(value)
        now = time.monotonic()
        if self.firmware.remote_echoes_own_sets:
            self._recent_sends.setdefault(address, deque(maxlen=64)).append((now, index))
        self._last_set_at[address] = now
        self._mirror[address] = index
        self._reroute(address, index)
        await self._send(address, [law.osc_arg(index)], law.osc_type)
        return law.eng_of_index(index)

    def cached(self, param: str) -> EngValue | None:
        """The mirror's value (last read, sent or pushed), or None when unknown. Never touches the network."""
        entry = self._resolved.get(param)
        address = entry[1] if entry else None
        if address is None:
            resolved = self.firmware.resolve(param, self.aliases)
            if resolved.needs_lookup:
                return None
            address = resolved.address()
            entry = (resolved, address)
        index = self._mirror.get(address)
        return None if index is None else entry[0].law.eng_of_index(index)

    def on_external_change(self, callback: ExternalChangeCallback) -> Callable[[], None]:
        self._change_callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._change_callbacks:
                self._change_callbacks.remove(callback)

        return unsubscribe

    async def query(self, address: str, args: Sequence[OscArg] = (), reply_address: str | None = None) -> list[Any]:
        """A raw request (``/info``, ``/status``, ``/node``); returns the reply's arguments."""
        return await self._request(address, args, reply_address)

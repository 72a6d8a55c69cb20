"""A desk simulator: test equipment for the tests and the demo studio, speaking the OSC subset the daemon uses.

It serves one firmware YAML (X32 or X-Air family): ``/info``, ``/xinfo``, ``/status``; get and set of every
parameter address with snapping to the desk grid; ``/xremote`` (and X-Air ``/xremotenfb``) subscriptions that push
changes to subscribed clients for ``subscription_s`` (10 s, like a desk), not echoing a client's own sets back to it
(X-Air plain ``/xremote`` does echo), for at most the firmware's ``max_remote_clients`` at once (X32: 4; a further
client's subscription is ignored while they are live, its other requests are still answered); ``/node ,s
"ch/01/mix"`` text replies (address ``node``); ``/ ,s "ch/01/mix ON -10"`` sets in engineering units (echoed back);
and silent ignore of anything malformed, unknown or out of range (a float outside 0.0–1.0), as a desk does.

Test hooks: ``drop_every_nth_reply`` loses replies the way a busy network does; ``move(param, value)`` is an
engineer moving the surface (pushed to every subscriber); ``start()``/``stop()`` bring it up and down on a port.

Runnable on its own: ``python -m liverec_edge.mixer.simulator --family x32 --port 10023``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from liverec_edge.mixer.firmware import FirmwareConfig, ParamSpec, address_fields, format_address, load_firmware
from liverec_edge.mixer.laws import EngValue, LawError
from liverec_edge.mixer.osc import decode, encode

#: firmware version each family's simulator reports by default
DEFAULT_FIRMWARE_VERSION = {"x32": "4.06", "xair": "1.17"}
SERVER_VERSION = "V2.05"


@dataclass
class _Subscriber:
    expires: float
    echo_own: bool


@dataclass
class _Cell:
    spec: ParamSpec
    index: int


class _Server(asyncio.DatagramProtocol):
    def __init__(self, owner: MixerSimulator):
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner._on_datagram(data, (str(addr[0]), int(addr[1])))


class MixerSimulator:
    def __init__(
        self,
        firmware: FirmwareConfig | str = "x32",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str = "liverec-sim",
        model: str | None = None,
        firmware_version: str | None = None,
        subscription_s: float = 10.0,
        drop_every_nth_reply: int = 0,
        logger: logging.Logger | None = None,
    ):
        self.firmware = load_firmware(firmware) if isinstance(firmware, str) else firmware
        self.host = host
        self.requested_port = port
        self.name = name
        self.model = model or self.firmware.models[0]
        self.firmware_version = firmware_version or DEFAULT_FIRMWARE_VERSION.get(self.firmware.family, "1.0")
        self.subscription_s = subscription_s
        self.drop_every_nth_reply = drop_every_nth_reply
        self._log = logger or logging.getLogger("liverec_edge.mixer.simulator")
        self._transport: asyncio.DatagramTransport | None = None
        self._replies = 0
        self.dropped_replies = 0
        self.malformed = 0
        #: subscriptions ignored because the desk already had ``max_remote_clients`` live subscribers
        self.refused_subscriptions = 0
        self.subscribers: dict[tuple[str, int], _Subscriber] = {}
        #: every message received, newest last: (monotonic time, client, address, args)
        self.received: deque[tuple[float, tuple[str, int], str, list[Any]]] = deque(maxlen=10000)
        self.cells: dict[str, _Cell] = {}
        for address, spec, parts in self.firmware.all_addresses():
            default = spec.default
            if spec.default_part_offset is not None:
                default = float(next(iter(parts.values())) + spec.default_part_offset)
            self.cells[address] = _Cell(spec, spec.law.index_of_eng(default))
        #: concrete node path (with leading slash) -> leaves; opaque leaves ("st=ON") keep their text here
        self.nodes: dict[str, list[str]] = {}
        self.opaque: dict[str, str] = {}
        for template, leaves in self.firmware.nodes.items():
            keys = address_fields(template)
            for combo in _product([range(self.firmware.parts[k][0], self.firmware.parts[k][1] + 1) for k in keys]):
                path = format_address(template, **dict(zip(keys, combo, strict=True)))
                names = []
                for leaf in leaves:
                    leaf_name, _, text = leaf.partition("=")
                    names.append(leaf_name)
                    if text:
                        self.opaque[f"{path}/{leaf_name}"] = text
                self.nodes[path] = names

    # ---- lifecycle -----------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._transport is None:
            return self.requested_port
        return int(self._transport.get_extra_info("sockname")[1])

    @property
    def running(self) -> bool:
        return self._transport is not None

    async def start(self) -> None:
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Server(self), local_addr=(self.host, self.requested_port)
        )
        self._transport = transport
        # Keep the port across stop()/start() so a client can find the desk again.
        self.requested_port = self.port

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            await asyncio.sleep(0)
        self.subscribers.clear()

    async def __aenter__(self) -> MixerSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test hooks ----------------------------------------------------------------------------------------------

    def address_of(self, param: str) -> str:
        resolved = self.firmware.resolve(param)
        if resolved.needs_lookup:
            via = resolved.via_name()
            assert via is not None
            return resolved.address(headamp=int(float(self.value(via))))
        return resolved.address()

    def value(self, param: str) -> EngValue:
        """The value the simulated desk holds (engineering units)."""
        cell = self.cells[self.address_of(param)]
        return cell.spec.law.eng_of_index(cell.index)

    def index(self, param: str) -> int:
        return self.cells[self.address_of(param)].index

    def move(self, param: str, value: EngValue) -> EngValue:
        """An engineer moving the surface: set and push to every subscriber. Returns the snapped value."""
        address = self.address_of(param)
        cell = self.cells[address]
        cell.index = cell.spec.law.index_of_eng(value)
        self._push(address, cell, sender=None)
        return cell.spec.law.eng_of_index(cell.index)

    def preset(self, param: str, value: EngValue) -> None:
        """Set a value silently (scene recall before the test starts)."""
        cell = self.cells[self.address_of(param)]
        cell.index = cell.spec.law.index_of_eng(value)

    def count_received(self, address: str) -> int:
        return sum(1 for _, _, a, _ in self.received if a == address)

    def times_received(self, address: str, with_args: bool = True) -> list[float]:
        """When messages for ``address`` arrived (sets only, by default)."""
        return [t for t, _, a, args in self.received if a == address and (bool(args) or not with_args)]

    # ---- protocol ------------------------------------------------------------------------------------------------

    def _send(self, client: tuple[str, int], address: str, args: Sequence[Any], types: str | None = None) -> None:
        if self._transport is None:
            return
        self._transport.sendto(encode(address, args, types), client)

    def _reply(self, client: tuple[str, int], address: str, args: Sequence[Any], types: str | None = None) -> None:
        self._replies += 1
        if self.drop_every_nth_reply and self._replies % self.drop_every_nth_reply == 0:
            self.dropped_replies += 1
            return
        self._send(client, address, args, types)

    def _on_datagram(self, data: bytes, client: tuple[str, int]) -> None:
        try:
            address, args = decode(data)
        except ValueError:
            self.malformed += 1
            return
        self.received.append((time.monotonic(), client, address, args))
        try:
            self._handle(client, address, args)
        except (LawError, ValueError, IndexError, TypeError) as exc:
            # A desk ignores what it cannot use, silently; the simulator does too (and counts it).
            self.malformed += 1
            self._log.debug("ignored", extra={"fields": {"address": address, "error": str(exc)}})

    def _handle(self, client: tuple[str, int], address: str, args: list[Any]) -> None:
        if address == "/info":
            self._reply(client, "/info", [SERVER_VERSION, "osc-server", self.model, self.firmware_version])
        elif address == "/xinfo":
            self._reply(client, "/xinfo", [self.host, self.name, self.model, self.firmware_version])
        elif address == "/status":
            self._reply(client, "/status", ["active", self.host, self.name])
        elif address in ("/xremote", "/xremotenfb") and (address == self.firmware.remote or address == "/xremote"):
            echo = self.firmware.remote_echoes_own_sets if address == self.firmware.remote else True
            self._subscribe(client, echo)
        elif address == "/node" and args and isinstance(args[0], str):
            self._node(client, args[0])
        elif address == "/" and args and isinstance(args[0], str):
            self._text_set(client, args[0])
            self._reply(client, "/", [args[0]])
        elif address in self.cells:
            cell = self.cells[address]
            if not args:
                law = cell.spec.law
                self._reply(client, address, [law.osc_arg(cell.index)], law.osc_type)
            else:
                cell.index = cell.spec.law.index_of_osc(args[0])
                self._push(address, cell, sender=client)

    def _subscribe(self, client: tuple[str, int], echo: bool) -> None:
        now = time.monotonic()
        for other, subscriber in list(self.subscribers.items()):
            if subscriber.expires < now:
                del self.subscribers[other]  # a lapsed subscription frees its slot
        limit = self.firmware.max_remote_clients
        if client not in self.subscribers and limit is not None and len(self.subscribers) >= limit:
            # The desk is full: the request is dropped silently (no reply, no error), as everything is.
            self.refused_subscriptions += 1
            return
        self.subscribers[client] = _Subscriber(now + self.subscription_s, echo)

    def _node(self, client: tuple[str, int], path: str) -> None:
        path = "/" + path.strip().strip("/")
        leaves = self.nodes.get(path)
        if leaves is None:
            cell = self.cells.get(path)
            if cell is None:
                return
            text = f"{path} {cell.spec.law.node_text(cell.index)}"
        else:
            text = path + "".join(" " + self._leaf_text(f"{path}/{leaf}") for leaf in leaves)
        self._reply(client, "node", [text + "\n"])

    def _leaf_text(self, address: str) -> str:
        cell = self.cells.get(address)
        if cell is not None:
            return cell.spec.law.node_text(cell.index)
        return self.opaque.get(address, "0")

    def _text_set(self, client: tuple[str, int], text: str) -> None:
        tokens = text.split()
        if not tokens:
            return
        path = "/" + tokens[0].strip("/")
        values = tokens[1:]
        targets = self.nodes.get(path)
        addresses = [f"{path}/{leaf}" for leaf in targets] if targets is not None else [path]
        for address, value in zip(addresses, values, strict=False):
            cell = self.cells.get(address)
            if cell is None:
                if address in self.opaque:
                    self.opaque[address] = value
                continue
            cell.index = cell.spec.law.index_of_node_text(value)
            self._push(address, cell, sender=client)

    def _push(self, address: str, cell: _Cell, sender: tuple[str, int] | None) -> None:
        now = time.monotonic()
        law = cell.spec.law
        for client, subscriber in list(self.subscribers.items()):
            if subscriber.expires < now:
                del self.subscribers[client]
                continue
            if client == sender and not subscriber.echo_own:
                continue
            self._send(client, address, [law.osc_arg(cell.index)], law.osc_type)


def _product(ranges: list[range]) -> list[tuple[int, ...]]:
    combos: list[tuple[int, ...]] = [()]
    for values in ranges:
        combos = [(*c, v) for c in combos for v in values]
    return combos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a simulated X32 or X-Air desk (OSC over UDP).")
    parser.add_argument("--family", default="x32", help="firmware config name or path (x32, xair)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="UDP port (default: the family's, 10023/10024)")
    parser.add_argument("--name", default="liverec-sim", help="desk network name reported by /xinfo")
    parser.add_argument("--model", default=None, help="model reported by /xinfo (default: the family's first)")
    parser.add_argument("--firmware-version", default=None, help="firmware version reported by /xinfo")
    parser.add_argument("--drop-every", type=int, default=0, help="drop every Nth reply (packet-loss test)")
    args = parser.parse_args(argv)

    async def serve() -> None:
        firmware = load_firmware(args.family)
        simulator = MixerSimulator(
            firmware, args.host, args.port if args.port is not None else firmware.port, name=args.name,
            model=args.model, firmware_version=args.firmware_version, drop_every_nth_reply=args.drop_every,
        )
        await simulator.start()
        print(f"simulated {simulator.model} ({firmware.family}, firmware {simulator.firmware_version}) "
              f"listening on {simulator.host}:{simulator.port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await simulator.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

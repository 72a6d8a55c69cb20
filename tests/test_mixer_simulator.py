"""The desk simulator's subscription rules, checked with plain UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

import pytest

from liverec_edge.mixer.osc import decode, encode
from liverec_edge.mixer.simulator import MixerSimulator


def client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> list[tuple[str, list[object]]]:
    messages = []
    while True:
        try:
            data = sock.recv(2048)
        except BlockingIOError:
            return messages
        messages.append(decode(data))


def test_x32_xremote_pushes_to_others_only_and_expires() -> None:
    async def main() -> None:
        async with MixerSimulator("x32", "127.0.0.1", subscription_s=0.3) as sim:
            desk = ("127.0.0.1", sim.port)
            a, b = client(), client()
            a.sendto(encode("/xremote"), desk)
            b.sendto(encode("/xremote"), desk)
            await asyncio.sleep(0.05)
            a.sendto(encode("/ch/03/mix/fader", [767 / 1023], "f"), desk)  # 0 dB, on the grid
            await asyncio.sleep(0.05)
            assert drain(a) == []  # no echo of A's own set on an X32
            assert drain(b) == [("/ch/03/mix/fader", [pytest.approx(767 / 1023)])]
            sim.move("ch03.on", 0)  # the surface: pushed to every subscriber
            await asyncio.sleep(0.05)
            assert drain(a) == [("/ch/03/mix/on", [0])] and drain(b) == [("/ch/03/mix/on", [0])]
            await asyncio.sleep(0.35)  # the subscription lapses without renewal
            sim.move("ch03.on", 1)
            await asyncio.sleep(0.05)
            assert drain(a) == [] and drain(b) == []
            a.close()
            b.close()

    asyncio.run(main())


def test_xair_plain_xremote_echoes_and_nfb_does_not() -> None:
    async def main() -> None:
        async with MixerSimulator("xair", "127.0.0.1") as sim:
            desk = ("127.0.0.1", sim.port)
            plain, nfb = client(), client()
            plain.sendto(encode("/xremote"), desk)
            nfb.sendto(encode("/xremotenfb"), desk)
            await asyncio.sleep(0.05)
            plain.sendto(encode("/lr/mix/fader", [0.25], "f"), desk)  # snapped by the desk to 255/1023
            nfb.sendto(encode("/bus/2/mix/on", [0], "i"), desk)
            await asyncio.sleep(0.05)
            grid = pytest.approx(255 / 1023)
            assert sorted(drain(plain)) == [("/bus/2/mix/on", [0]), ("/lr/mix/fader", [grid])]
            assert drain(nfb) == [("/lr/mix/fader", [grid])]
            assert sim.value("main.fader") == pytest.approx(-30.12, abs=0.01) and sim.value("bus02.on") == 0.0
            plain.close()
            nfb.close()

    asyncio.run(main())


def test_gets_snap_to_the_grid_and_enums_answer_ints() -> None:
    async def main() -> None:
        async with MixerSimulator("x32", "127.0.0.1") as sim:
            desk = ("127.0.0.1", sim.port)
            sock = client()
            sock.sendto(encode("/ch/01/mix/fader", [0.50003], "f"), desk)
            sock.sendto(encode("/ch/01/mix/fader"), desk)
            sock.sendto(encode("/ch/01/eq/2/type"), desk)
            await asyncio.sleep(0.05)
            replies = drain(sock)
            assert replies[0] == ("/ch/01/mix/fader", [pytest.approx(511 / 1023)])  # int(f * 1023.5) / 1023
            assert replies[1] == ("/ch/01/eq/2/type", [2])
            sock.close()

    asyncio.run(main())


def test_x32_keeps_at_most_four_remote_clients() -> None:
    async def main() -> None:
        async with MixerSimulator("x32", "127.0.0.1", subscription_s=0.3) as sim:
            assert sim.firmware.max_remote_clients == 4
            desk = ("127.0.0.1", sim.port)
            clients = [client() for _ in range(5)]
            for sock in clients:
                sock.sendto(encode("/xremote"), desk)
                await asyncio.sleep(0.01)  # in this order: the fifth finds the desk full
            await asyncio.sleep(0.05)
            sim.move("ch03.on", 0)
            await asyncio.sleep(0.05)
            assert [drain(c) for c in clients] == [[("/ch/03/mix/on", [0])]] * 4 + [[]]
            assert sim.refused_subscriptions == 1
            # The fifth client is still answered, and a live client can renew while the desk is full.
            clients[4].sendto(encode("/xinfo"), desk)
            clients[0].sendto(encode("/xremote"), desk)
            await asyncio.sleep(0.05)
            assert [m[0] for m in drain(clients[4])] == ["/xinfo"]
            assert sim.refused_subscriptions == 1
            # Once the others lapse, the fifth gets a slot.
            await asyncio.sleep(0.35)
            clients[4].sendto(encode("/xremote"), desk)
            await asyncio.sleep(0.05)
            sim.move("ch03.on", 1)
            await asyncio.sleep(0.05)
            assert drain(clients[4]) == [("/ch/03/mix/on", [1])]
            for sock in clients:
                sock.close()

    asyncio.run(main())


def test_xair_has_no_client_limit_in_the_notes() -> None:
    async def main() -> None:
        async with MixerSimulator("xair", "127.0.0.1") as sim:
            assert sim.firmware.max_remote_clients is None
            desk = ("127.0.0.1", sim.port)
            clients = [client() for _ in range(6)]
            for sock in clients:
                sock.sendto(encode("/xremotenfb"), desk)
            await asyncio.sleep(0.05)
            sim.move("bus02.on", 0)
            await asyncio.sleep(0.05)
            assert [drain(c) for c in clients] == [[("/bus/2/mix/on", [0])]] * 6
            for sock in clients:
                sock.close()

    asyncio.run(main())


def test_floats_outside_zero_to_one_are_ignored_not_clamped() -> None:
    async def main() -> None:
        async with MixerSimulator("x32", "127.0.0.1") as sim:
            desk = ("127.0.0.1", sim.port)
            sim.preset("ch01.fader", -10)
            sim.preset("ch01.hpf.freq", 100)
            before = (sim.index("ch01.fader"), sim.index("ch01.hpf.freq"), sim.index("ch01.on"))
            watcher, sock = client(), client()
            watcher.sendto(encode("/xremote"), desk)
            await asyncio.sleep(0.05)
            sock.sendto(encode("/ch/01/mix/fader", [1.5], "f"), desk)
            sock.sendto(encode("/ch/01/mix/fader", [-0.25], "f"), desk)
            sock.sendto(encode("/ch/01/preamp/hpf", [1.01], "f"), desk)
            sock.sendto(encode("/ch/01/mix/on", [2.0], "f"), desk)  # an enum sent as a float, out of range
            sock.sendto(encode("/ch/01/mix/fader"), desk)
            await asyncio.sleep(0.05)
            assert sim.malformed == 4
            assert (sim.index("ch01.fader"), sim.index("ch01.hpf.freq"), sim.index("ch01.on")) == before
            assert drain(sock) == [("/ch/01/mix/fader", [pytest.approx(sim.firmware.resolve("ch01.fader").law
                                                                          .osc_arg(before[0]))])]
            assert drain(watcher) == []  # nothing changed, so nothing is pushed
            sock.sendto(encode("/ch/01/mix/fader", [1.0], "f"), desk)  # the edges are fine
            await asyncio.sleep(0.05)
            assert sim.value("ch01.fader") == 10.0
            watcher.close()
            sock.close()

    asyncio.run(main())

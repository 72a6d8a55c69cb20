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

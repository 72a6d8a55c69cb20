"""The OSC desk backend against the desk simulator, over real UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
import struct
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from mixer_support import LOOPBACK, until
from mixer_support import fast_console as console
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from liverec_edge.mixer.backend import ConnectionState, ConsoleBackend, MixerIncompatible, MixerTimeout
from liverec_edge.mixer.firmware import firmware_from_dict, load_firmware
from liverec_edge.mixer.osc import OscConsole, decode, encode
from liverec_edge.mixer.simulator import MixerSimulator

X32 = load_firmware("x32")
XAIR = load_firmware("xair")


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))  # type: ignore[arg-type]






def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def test_handshake_reports_model_and_state() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK, name="studio-a") as sim:
            desk = console(sim)
            assert isinstance(desk, ConsoleBackend)
            states: list[ConnectionState] = []
            desk.on_state_change(states.append)
            info = await desk.connect(5)
            assert (info.model, info.firmware, info.name) == ("X32", "4.06", "studio-a")
            assert desk.state is ConnectionState.CONNECTED and states[-1] is ConnectionState.CONNECTED
            assert sim.count_received("/xremote") >= 1
            await desk.close()
            assert desk.state is ConnectionState.CLOSED

    run(main())


def test_wrong_family_is_a_clear_error() -> None:
    async def main() -> None:
        async with MixerSimulator(XAIR, LOOPBACK) as sim:
            desk = OscConsole(X32, LOOPBACK, sim.port, reply_timeout_s=0.1)
            with pytest.raises(MixerIncompatible, match=r"is a XR18.*for X32"):
                await desk.connect(5)
            assert desk.state is ConnectionState.INCOMPATIBLE
            await desk.close()
        async with MixerSimulator(X32, LOOPBACK, firmware_version="3.08") as sim:
            desk = console(sim)
            with pytest.raises(MixerIncompatible, match=r"firmware 3.08"):
                await desk.connect(5)
            await desk.close()

    run(main())


def test_get_and_set_snap_to_the_grid() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim)
            await desk.connect(5)
            cases: list[tuple[str, Any, Any]] = [
                ("ch01.hpf.freq", 120, pytest.approx(120.68, abs=0.01)),
                ("ch01.fader", -10, pytest.approx(-10.04, abs=0.01)),
                ("ch01.on", 0, 0.0),
                ("ch01.eq.2.type", "VEQ", "VEQ"),
                ("ch01.gate.mode", "GATE", "GATE"),
                ("ch01.dyn.ratio", 4, 4.0),
                ("ch02.trim", 3.1, 3.0),
                ("ch05.mix.03.level", -6, pytest.approx(-6.0, abs=0.3)),
                ("dca1.fader", -5, pytest.approx(-5.0, abs=0.05)),
                ("main.fader", "-inf", float("-inf")),
            ]
            for param, value, expected in cases:
                held = await desk.set(param, value)
                assert held == expected, param
                assert await desk.get(param) == held, param
                assert sim.value(param) == held, param
                assert desk.snap(param, value) == held
            # the X32 headamp is found through /-ha/NN/index
            sim.preset("ch03.headamp.index", 40)
            assert await desk.set("ch03.headamp.gain", 30.3) == 30.5
            assert await desk.get("ch03.headamp.gain") == 30.5
            assert sim.cells["/headamp/040/gain"].spec.law.eng_of_index(sim.cells["/headamp/040/gain"].index) == 30.5
            with pytest.raises(ValueError, match=r"outside 20..400"):
                await desk.set("ch01.hpf.freq", 5)
            with pytest.raises(ValueError, match=r"out of range"):
                await desk.get("ch40.fader")
            await desk.close()

    run(main())


def test_xair_family_addresses_and_nfb_subscription() -> None:
    async def main() -> None:
        async with MixerSimulator(XAIR, LOOPBACK) as sim:
            desk = console(sim)
            info = await desk.connect(5)
            assert info.model == "XR18"
            assert await desk.set("bus03.fader", -3) == pytest.approx(-3, abs=0.05)
            assert await desk.get("bus03.fader") == sim.value("bus03.fader")
            await desk.set("main.fader", 0)
            await until(lambda: sim.index("main.fader") == 767)
            assert sim.count_received("/xremotenfb") >= 1 and sim.count_received("/xremote") == 0
            assert sim.count_received("/lr/mix/fader") == 1
            await desk.close()

    run(main())


def test_xremote_is_renewed_and_pushes_reach_the_mirror() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK, subscription_s=0.5) as sim:
            desk = console(sim, renew_s=0.2)
            changes: list[tuple[str, Any]] = []
            desk.on_external_change(lambda p, v: changes.append((p, v)))
            await desk.connect(5)
            # Outlive the 0.5 s subscription several times: pushes still arrive only if renewals work.
            await until(lambda: sim.count_received("/xremote") >= 5)
            sim.move("ch07.fader", -20)
            await until(lambda: changes == [("ch07.fader", sim.value("ch07.fader"))])
            assert desk.cached("ch07.fader") == sim.value("ch07.fader")
            # Our own set is not reported as an external change, and a second client's set is.
            await desk.set("ch07.fader", -5)
            other = console(sim)
            await other.connect(5)
            await other.set("ch08.hpf.freq", 150)
            await until(lambda: len(changes) == 2)
            assert changes[1][0] == "ch08.hpf.freq" and changes[1][1] == pytest.approx(150, rel=0.02)
            await other.close()
            await desk.close()

    run(main())


def test_unreachable_desk_then_appearing() -> None:
    async def main() -> None:
        port = free_udp_port()
        desk = OscConsole(X32, LOOPBACK, port, reply_timeout_s=0.05, retries=1, renew_s=0.2,
                          backoff_initial_s=0.05, backoff_max_s=0.2)
        await desk.start()
        with pytest.raises(MixerTimeout, match=r"no answer"):
            await desk.wait_connected(0.5)
        assert desk.state is ConnectionState.UNREACHABLE
        sim = MixerSimulator(X32, LOOPBACK, port)
        await sim.start()
        info = await desk.wait_connected(5)
        assert info.model == "X32"
        await desk.set("ch01.fader", -12)
        await until(lambda: sim.value("ch01.fader") == desk.snap("ch01.fader", -12))
        # The desk goes away: the liveness check notices; it comes back: the backend reconnects by itself.
        await sim.stop()
        await until(lambda: desk.state is ConnectionState.UNREACHABLE)
        await sim.start()
        await until(lambda: desk.state is ConnectionState.CONNECTED)
        assert desk.stats.reconnects >= 1
        await desk.close()
        await sim.stop()

    run(main())


def test_packet_loss_every_third_reply_still_converges() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK, drop_every_nth_reply=3) as sim:
            desk = console(sim, retries=4)
            await desk.connect(5)
            params = [f"ch{c:02d}.hpf.freq" for c in range(1, 13)]
            for number, param in enumerate(params):
                sim.preset(param, 40 + 10 * number)
            values = await desk.get_many(params)
            assert values == {p: sim.value(p) for p in params}
            assert sim.dropped_replies >= 3 and desk.stats.retries >= 3
            await desk.close()

    run(main())


def test_simulator_text_interfaces_and_bad_input() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim)
            await desk.connect(5)
            info = await desk.query("/info")
            assert info[2:] == ["X32", "4.06"]
            assert (await desk.query("/status"))[0] == "active"
            await desk.query("/", ["ch/02/mix OFF -10 ON +20"])
            assert sim.value("ch02.on") == 0.0 and sim.value("ch02.pan") == 20.0
            assert sim.value("ch02.fader") == pytest.approx(-10, abs=0.05)
            node = await desk.query("/node", ["ch/02/mix"], reply_address="node")
            assert node[0].startswith("/ch/02/mix OFF -10.0 ON +20") and node[0].endswith("\n")
            assert (await desk.query("/node", ["ch/02/preamp"], "node"))[0].split()[5] == "79.3"  # 80 Hz on the grid
            # Garbage, unknown addresses, wrong types, out-of-range enums: silently ignored, like a desk.
            before = sim.value("ch02.fader")
            raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            raw.sendto(b"\x00\x01garbage", (LOOPBACK, sim.port))
            raw.sendto(b"/ch/02/mix/fader\x00\x00\x00\x00,f\x00", (LOOPBACK, sim.port))  # truncated
            raw.sendto(encode("/ch/02/mix/fader", ["loud"]), (LOOPBACK, sim.port))
            raw.sendto(encode("/ch/02/mix/on", [7]), (LOOPBACK, sim.port))
            raw.sendto(encode("/no/such/thing", [1.0]), (LOOPBACK, sim.port))
            raw.close()
            await until(lambda: sim.malformed >= 4)
            assert sim.value("ch02.fader") == before
            assert await desk.get("ch02.fader") == before
            await desk.close()

    run(main())


def test_backend_ignores_malformed_datagrams_from_the_desk() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim)
            await desk.connect(5)
            desk._on_datagram(b"rubbish")
            desk._on_datagram(encode("/ch/01/mix/fader", ["not a float"]))
            desk._on_datagram(encode("/ch/01/mix/on", [99]))
            assert desk.stats.malformed == 3
            assert await desk.get("ch01.on") == 1.0
            await desk.close()

    run(main())


def test_datagrams_stay_under_512_bytes() -> None:
    assert decode(encode("/ch/01/mix/fader", [0.5], "f")) == ("/ch/01/mix/fader", [0.5])
    with pytest.raises(Exception, match=r"under 512"):
        encode("/", ["x" * 600])


def test_answers_from_another_source_port_are_accepted() -> None:
    """Some desk implementations answer from a socket other than the one they listen on: same IP is enough."""

    async def main() -> None:
        listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listen.bind((LOOPBACK, 0))
        listen.setblocking(False)
        answer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        answer.bind((LOOPBACK, 0))
        loop = asyncio.get_running_loop()

        async def fake_desk() -> None:
            while True:
                data, client = await loop.sock_recvfrom(listen, 2048)
                address, _ = decode(data)
                if address == "/xinfo":
                    answer.sendto(encode("/xinfo", ["127.0.0.1", "odd", "X32", "4.06"]), client)
                elif address == "/ch/01/mix/on":
                    answer.sendto(encode(address, [0], "i"), client)

        server = asyncio.create_task(fake_desk())
        desk = OscConsole(X32, LOOPBACK, int(listen.getsockname()[1]), reply_timeout_s=0.1)
        assert (await desk.connect(5)).name == "odd"
        assert await desk.get("ch01.on") == 0.0
        await desk.close()
        server.cancel()
        listen.close()
        answer.close()

    run(main())


def test_x32_headamp_lookup_uses_the_zero_based_index_table() -> None:
    """Desk vs. notes: the X32's /-ha/NN/index table is zero-based (00…31 = ch01…32, 32…39 = aux), although the
    notes list it under "NN = 01…32"; read 1-based, ch01's gain would land on channel 2's preamp."""

    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim)
            await desk.connect(5)
            # The simulator starts like a desk with local inputs: /-ha/NN/index = NN.
            assert await desk.query("/-ha/00/index") == [0]
            assert await desk.query("/-ha/31/index") == [31]
            before = sim.index("ch02.headamp.gain")
            assert await desk.set("ch01.headamp.gain", 30.3) == 30.5
            await until(lambda: sim.count_received("/headamp/000/gain") == 1)  # a set is not answered: wait
            assert [args for _, _, a, args in sim.received if a == "/-ha/00/index"] == [[], []]  # query + lookup
            assert sim.count_received("/-ha/01/index") == 0
            assert [args for _, _, a, args in sim.received if a == "/headamp/000/gain"] == [[pytest.approx(42.5 / 72)]]
            assert sim.index("ch02.headamp.gain") == before  # channel 2's preamp is untouched
            assert await desk.get("ch32.headamp.gain") == 24.0
            assert sim.count_received("/-ha/31/index") == 2 and sim.count_received("/-ha/32/index") == 0
            assert sim.count_received("/headamp/031/gain") == 1
            await desk.close()

            # Another client re-patches ch01 to headamp 40 (e.g. a stage box input): a new connection follows it.
            raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            raw.sendto(encode("/-ha/00/index", [40], "i"), (LOOPBACK, sim.port))
            raw.close()
            await until(lambda: sim.value("ch01.headamp.index") == 40.0)
            desk = console(sim)
            await desk.connect(5)
            assert await desk.set("ch01.headamp.gain", 10) == 10.0
            await until(lambda: sim.count_received("/headamp/040/gain") == 1)
            assert [args for _, _, a, args in sim.received if a == "/headamp/040/gain"] == [[pytest.approx(22 / 72)]]
            assert sim.count_received("/headamp/000/gain") == 1
            await desk.close()

    run(main())


def test_repatching_a_channel_during_the_show_redirects_its_headamp_gain() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim, renew_s=5.0)
            changes: list[tuple[str, Any]] = []
            desk.on_external_change(lambda p, v: changes.append((p, v)))
            await desk.connect(5)
            assert await desk.set("ch01.headamp.gain", 30) == 30.0
            await until(lambda: sim.count_received("/headamp/000/gain") == 1)
            assert sim.value("ch01.headamp.gain") == 30.0 and sim.address_of("ch01.headamp.gain") == "/headamp/000/gain"
            # The engineer re-patches ch01 to headamp 40 on the surface: the desk pushes /-ha/00/index.
            sim.move("ch01.headamp.index", 40)
            await until(lambda: ("ch01.headamp.index", 40.0) in changes)
            assert await desk.set("ch01.headamp.gain", 20) == 20.0
            await until(lambda: sim.count_received("/headamp/040/gain") == 1)
            assert [args for _, _, a, args in sim.received if a == "/headamp/040/gain"] == [[pytest.approx(32 / 72)]]
            assert sim.value("ch01.headamp.gain") == 20.0  # headamp 40, as the desk now routes it
            assert sim.count_received("/headamp/000/gain") == 1  # the old preamp got only the first set
            assert desk.cached("ch01.headamp.gain") == 20.0
            # Pushes for the old headamp are no longer ch01's; those for the new one are.
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            other.sendto(encode("/headamp/000/gain", [0.25], "f"), (LOOPBACK, sim.port))
            other.sendto(encode("/headamp/040/gain", [0.5], "f"), (LOOPBACK, sim.port))
            other.close()
            await until(lambda: ("ch01.headamp.gain", 24.0) in changes)
            assert [c for c in changes if c[0] == "ch01.headamp.gain"] == [("ch01.headamp.gain", 24.0)]
            await desk.close()

    run(main())


def test_a_move_back_to_a_value_we_just_sent_is_reported() -> None:
    """/xremote does not echo our own sets, so a push of a value we sent a moment ago is the engineer's."""

    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim)
            changes: list[tuple[str, Any]] = []
            desk.on_external_change(lambda p, v: changes.append((p, v)))
            await desk.connect(5)
            a = await desk.set("ch04.fader", -10)
            b = await desk.set("ch04.fader", -20)
            await until(lambda: sim.value("ch04.fader") == b)
            sim.move("ch04.fader", -10)  # the surface, well inside the 2 s echo window
            await until(lambda: changes == [("ch04.fader", a)], timeout=3)
            other = console(sim)
            await other.connect(5)
            await desk.set("ch04.fader", b)
            await other.set("ch04.fader", a)  # a second client puts it back too
            await until(lambda: changes == [("ch04.fader", a), ("ch04.fader", a)], timeout=3)
            assert desk.stats.echoes_ignored == 0
            await other.close()
            await desk.close()

    run(main())


def test_echo_filter_only_on_subscriptions_that_echo_and_once_per_set() -> None:
    """X-Air's plain /xremote echoes our own sets: each echo is ignored once, a later equal value is reported."""
    data = yaml.safe_load(Path(XAIR.source).read_text(encoding="utf-8"))
    data.update(remote="/xremote", remote_echoes_own_sets=True)
    echoing = firmware_from_dict(data, "xair with /xremote")

    async def main() -> None:
        async with MixerSimulator(echoing, LOOPBACK) as sim:
            desk = console(sim)
            changes: list[tuple[str, Any]] = []
            desk.on_external_change(lambda p, v: changes.append((p, v)))
            await desk.connect(5)
            a = await desk.set("ch02.fader", -10)
            await desk.set("ch02.fader", -20)
            await until(lambda: desk.stats.echoes_ignored == 2)
            assert changes == []
            other = console(sim)
            await other.connect(5)
            await other.set("ch02.fader", a)
            await until(lambda: changes == [("ch02.fader", a)], timeout=3)
            await other.close()
            await desk.close()

    run(main())


def test_a_push_answering_a_pending_read_is_still_an_external_change() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim, renew_s=5.0, reply_timeout_s=0.5, retries=1)
            changes: list[tuple[str, Any]] = []
            desk.on_external_change(lambda p, v: changes.append((p, v)))
            await desk.connect(5)
            before = await desk.get("ch06.fader")
            # Our read's answer is lost; meanwhile the engineer moves the fader and the push answers the read.
            sim.drop_every_nth_reply = 1
            read = asyncio.create_task(desk.get("ch06.fader"))
            await until(lambda: sim.count_received("/ch/06/mix/fader") == 2)
            sim.drop_every_nth_reply = 0
            moved = sim.move("ch06.fader", -7)
            assert await read == moved != before
            await until(lambda: changes == [("ch06.fader", moved)], timeout=3)
            # But an answer that may predate our own set (sent after the read) is not someone else's change.
            sim.drop_every_nth_reply = 1
            read = asyncio.create_task(desk.get("ch06.fader"))
            await until(lambda: sim.count_received("/ch/06/mix/fader") == 3)
            sim.drop_every_nth_reply = 0
            ours = await desk.set("ch06.fader", -3)
            law = X32.resolve("ch06.fader").law
            desk._on_datagram(encode("/ch/06/mix/fader", [law.osc_arg(law.index_of_eng(moved))], "f"))
            assert await read == moved
            await asyncio.sleep(0.1)
            assert changes == [("ch06.fader", moved)] and sim.value("ch06.fader") == ours
            await desk.close()

    run(main())


def test_xremote_renewals_keep_their_period_while_the_probe_is_slow() -> None:
    """Each renewal is due renew_s after the previous one, however long the /xinfo liveness probe takes."""

    async def main() -> None:
        listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listen.bind((LOOPBACK, 0))
        listen.setblocking(False)
        loop = asyncio.get_running_loop()
        renewals: list[float] = []
        asked = 0

        async def slow_desk() -> None:
            nonlocal asked
            while True:
                data, client = await loop.sock_recvfrom(listen, 2048)
                address, _ = decode(data)
                if address == "/xremote":
                    renewals.append(time.monotonic())
                elif address == "/xinfo":
                    asked += 1
                    # The handshake is answered at once; each liveness probe only on its 4th try (3 timeouts).
                    if asked % 4 == 1:
                        listen.sendto(encode("/xinfo", ["127.0.0.1", "slow", "X32", "4.06"]), client)

        server = asyncio.create_task(slow_desk())
        desk = OscConsole(X32, LOOPBACK, int(listen.getsockname()[1]), reply_timeout_s=0.15, retries=3, renew_s=0.2)
        await desk.connect(5)
        await until(lambda: len(renewals) >= 10)
        gaps = [b - a for a, b in itertools.pairwise(renewals)]
        # Before: renew_s + the probe's 0.45 s each time. Now the probe runs beside the schedule.
        assert statistics.mean(gaps) == pytest.approx(0.2, abs=0.03), gaps
        assert max(gaps) < 0.3, gaps
        assert asked >= 5 and desk.stats.timeouts == 0 and desk.stats.reconnects == 0
        assert desk.state is ConnectionState.CONNECTED
        await desk.close()
        server.cancel()
        listen.close()

    run(main())


def test_default_pacing_is_ten_ms_between_datagrams() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = OscConsole(X32, LOOPBACK, sim.port, reply_timeout_s=0.5, renew_s=5.0)
            await desk.connect(5)
            start = time.monotonic()
            for step in range(30):
                await desk.set("ch09.fader", -40 + step)
            await until(lambda: sim.count_received("/ch/09/mix/fader") == 30)
            times = [t for t, c, _, _ in sim.received if c[1] == desk.local_port and t >= start]
            assert len(times) == 30
            assert (times[-1] - times[0]) / 29 >= 0.0095  # 100 datagrams/s at most, as the notes' tools pace
            await desk.close()

    run(main())


# --- decode checks the layout against the type tags (python-osc reads missing float bytes as zeros) -------------


def _raw(address: bytes, tags: bytes, payload: bytes = b"") -> bytes:
    """A message assembled by hand, so it can be wrong in ways python-osc's builder never is."""

    def padded(text: bytes) -> bytes:
        return text + b"\x00" * (4 - len(text) % 4)

    return padded(address) + padded(tags) + payload


FADER = b"/ch/01/mix/fader"


@pytest.mark.parametrize("data", [
    _raw(FADER, b",f"),  # python-osc: 0.0, which is -inf dB on a fader
    _raw(FADER, b",f", b"\x3f"),
    _raw(FADER, b",i", b"\x00\x00"),
    _raw(FADER, b",d", b"\x00" * 7),
    _raw(b"/xinfo", b",ss", b"1.2.3.4\x00"),  # the second string is missing
    _raw(b"/xinfo", b",s", b"unterminated"),
    _raw(b"/meters/1", b",b", struct.pack(">i", 16) + b"\x00" * 8),  # blob shorter than its size
    _raw(b"/meters/1", b",b", struct.pack(">i", -1)),
    _raw(FADER, b",c", b"\x00\x00\x00A"),  # a tag python-osc skips without reading its bytes
    _raw(FADER, b",f", struct.pack(">f", 0.5) + b"junk"),  # trailing bytes that are not padding
    _raw(b"node", b",s", b"/ch/01\x00x"),  # junk in a string's padding
], ids=["no-float", "1-byte-float", "half-int", "short-double", "missing-string", "unterminated-string",
        "short-blob", "negative-blob", "char-tag", "trailing-junk", "junk-padding"])
def test_decode_refuses_truncated_or_ill_laid_out_messages(data: bytes) -> None:
    with pytest.raises(ValueError, match="malformed OSC message"):
        decode(data)


def test_decode_reads_complete_messages_and_tolerates_trailing_nul_padding() -> None:
    assert decode(_raw(FADER, b",f", struct.pack(">f", 0.5))) == ("/ch/01/mix/fader", [0.5])
    assert decode(_raw(FADER, b",f", struct.pack(">f", 0.5) + b"\x00" * 4)) == ("/ch/01/mix/fader", [0.5])
    assert decode(_raw(b"node", b",s", b"/ch/01 ON\n\x00\x00")) == ("node", ["/ch/01 ON\n"])
    assert decode(b"/xremote\x00\x00\x00\x00") == ("/xremote", [])  # no type tag string: OSC 1.0, no arguments
    with pytest.raises(ValueError, match="padded with bytes other than NUL"):  # a string holding a NUL
        decode(_raw(b"/x", b",s", b"\x000\x00\x00"))
    assert decode(_raw(b"/meters/1", b",b", struct.pack(">i", 5) + b"abcde\x00\x00\x00")) == ("/meters/1", [b"abcde"])


@settings(max_examples=200, deadline=None)
@given(args=st.lists(st.one_of(
    # an OSC string ends at its first NUL: python-osc builds one holding a NUL anyway, which no reader can parse back
    st.integers(-(2**31), 2**31 - 1), st.floats(width=32, allow_nan=False),
    st.text(st.characters(blacklist_characters="\x00"), max_size=12),
    st.binary(min_size=1, max_size=12), st.booleans(),  # python-osc refuses to build an empty blob
), max_size=6))
def test_decode_accepts_every_message_python_osc_builds(args: list[Any]) -> None:
    builder = OscMessageBuilder("/ch/01/mix/fader")
    for arg in args:
        builder.add_arg(arg)
    dgram = builder.build().dgram
    assert decode(dgram) == ("/ch/01/mix/fader", list(OscMessage(dgram).params))


def test_a_truncated_push_from_the_desk_changes_nothing() -> None:
    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim)
            await desk.connect(5)
            changes: list[tuple[str, Any]] = []
            desk.on_external_change(lambda p, v: changes.append((p, v)))
            desk._on_datagram(_raw(FADER, b",f", struct.pack(">f", 0.5)))  # a complete push: the mirror follows
            before = desk.cached("ch01.fader")
            assert before is not None and before > -20 and len(changes) == 1
            malformed = desk.stats.malformed
            # python-osc pads the missing bytes with zeros: these read as 0.0 (-inf dB) and 0.125
            desk._on_datagram(_raw(FADER, b",f"))
            desk._on_datagram(_raw(FADER, b",f", b"\x3e\x00"))
            assert desk.stats.malformed == malformed + 2
            assert desk.cached("ch01.fader") == before and len(changes) == 1
            await desk.close()

    run(main())


def test_another_desk_answering_at_the_address_is_noticed_on_the_next_renewal() -> None:
    """The liveness probe's /xinfo answer is compared with the handshake's: a desk of another model now answering at
    this address (swapped on the network, a DHCP lease moved) is handshaken again and refused, instead of being sent
    parameters meant for the first desk's firmware."""

    async def main() -> None:
        async with MixerSimulator(X32, LOOPBACK) as sim:
            desk = console(sim, renew_s=0.2)
            await desk.connect(5)
            assert desk.state is ConnectionState.CONNECTED and desk.info is not None and desk.info.model == "X32"
            sim.model = "XR18"
            await until(lambda: desk.state is ConnectionState.INCOMPATIBLE, timeout=3)
            assert desk.stats.reconnects == 1
            await desk.close()

    run(main())

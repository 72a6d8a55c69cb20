"""The tablet control surface over real UDP on loopback: commands, status replies, the allowlist, bad packets."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from test_daemon_standin import OscClient

from liverec_edge.control.server import MAX_MESSAGES_PER_PACKET, ControlServer
from liverec_edge.control.settings import ControlSettings
from liverec_edge.control.state import ControlChange, ControlState, DaemonStatus


@dataclass
class RunningServer:
    server: ControlServer
    state: ControlState
    changes: list[ControlChange]
    port: int


@pytest.fixture
def control(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """A ControlServer on its own event loop thread, bound to 127.0.0.1 on a free port."""
    overrides: dict[str, Any] = {"bind": "127.0.0.1", **getattr(request, "param", {})}
    settings = ControlSettings(port=0, **overrides)
    changes: list[ControlChange] = []
    state = ControlState(armed=True, on_change=changes.append)

    def status() -> DaemonStatus:
        return DaemonStatus(armed=state.armed, bypass=state.bypass, fps=29.97, frames=1234, audio_rate=48000,
                            drops=3, skipped=7, desk="connected", tags=("hand_at_mic",), faults=("mic_handling",),
                            health="ok", thresholds=state.thresholds)

    server = ControlServer(settings, state, status)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        port.append(loop.run_until_complete(server.start())[1])
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(5)
    yield RunningServer(server, state, changes, port[0])
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def tablet(control: RunningServer) -> Iterator[OscClient]:
    client = OscClient(control.port)
    yield client
    client.close()


def test_status_round_trip_replies_to_the_senders_port(control: RunningServer, tablet: OscClient) -> None:
    reply = tablet.status()
    assert reply is not None
    assert reply["/liverec/status/armed"] == [1]
    assert reply["/liverec/status/bypass"] == [0]
    assert reply["/liverec/status/fps"][0] == pytest.approx(29.97, abs=1e-3)  # type: ignore[arg-type]
    assert reply["/liverec/status/audio_rate"] == [48000]
    assert reply["/liverec/status/drops"] == [3]
    assert reply["/liverec/status/skipped"] == [7]
    assert reply["/liverec/status/desk"] == ["connected"]
    assert reply["/liverec/status/tags"] == ["hand_at_mic"]
    assert reply["/liverec/status/faults"] == ["mic_handling"]
    assert reply["/liverec/status/health"] == ["ok"]
    assert control.server.stats.replies == 1


def test_arm_and_bypass_round_trip(control: RunningServer, tablet: OscClient) -> None:
    tablet.send("/liverec/arm", 0)
    reply = tablet.receive()
    assert reply is not None and reply["/liverec/status/armed"] == [0]
    assert control.state.armed is False and not control.state.may_act

    tablet.send("/liverec/bypass", 1.0)  # TouchOSC toggles send floats
    reply = tablet.receive()
    assert reply is not None and reply["/liverec/status/bypass"] == [1]

    tablet.send("/liverec/arm", True)  # and some clients send ,T
    reply = tablet.receive()
    assert reply is not None and reply["/liverec/status/armed"] == [1]
    assert control.state.bypass and not control.state.may_act

    tablet.send("/liverec/bypass", 0)
    assert tablet.receive() is not None
    assert control.state.may_act
    assert [(c.kind, c.value) for c in control.changes] == [
        ("armed", False), ("bypass", True), ("armed", True), ("bypass", False)
    ]
    assert all(c.source.startswith("osc 127.0.0.1:") for c in control.changes)


def test_threshold_set_refused_and_cleared(control: RunningServer, tablet: OscClient) -> None:
    tablet.send("/liverec/threshold", "hum", 0.7)
    reply = tablet.receive()
    assert reply is not None and reply["/liverec/status/thresholds"] == ["hum=0.7"]
    assert control.state.threshold_for("hum", 0.5) == pytest.approx(0.7)

    for bad_args in (("rumble", 0.5), ("hum", 1.5), ("hum", 0.0), ("hum", "high"), (3, 0.5), ("hum", 0.5, 1)):
        tablet.send("/liverec/threshold", *bad_args)
        error = tablet.receive()
        assert error is not None and "/liverec/error" in error, bad_args
        assert error["/liverec/error"][0] == "/liverec/threshold"
    assert control.state.threshold_for("hum", 0.5) == pytest.approx(0.7), "refused commands change nothing"
    assert control.server.stats.bad_arguments == 6

    tablet.send("/liverec/threshold", "hum")  # no value: back to the config's threshold
    reply = tablet.receive()
    assert reply is not None and reply["/liverec/status/thresholds"] == [""]
    assert control.state.threshold_for("hum", 0.5) == 0.5


def test_release_is_published_for_the_mixer(control: RunningServer, tablet: OscClient) -> None:
    tablet.send("/liverec/release")
    assert tablet.receive() is not None
    assert control.state.release_generation == 1
    assert control.changes[-1].kind == "release"


@pytest.mark.parametrize("control", [{"allow": ["10.1.2.3", "192.168.0.0/16"]}], indirect=True)
def test_senders_outside_the_allowlist_are_ignored_and_counted(control: RunningServer, tablet: OscClient) -> None:
    tablet.send("/liverec/arm", 0)
    tablet.send("/liverec/status")
    assert tablet.receive(timeout=0.5) is None, "never answer a sender outside the allowlist"
    assert control.state.armed is True
    deadline = time.monotonic() + 2
    while control.server.stats.rejected_sender < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert control.server.stats.rejected_sender == 2
    assert control.changes == []

    # A reloaded allowlist applies at once.
    control.server.update_settings(ControlSettings(bind="127.0.0.1", port=0, allow=["127.0.0.1"]))
    assert tablet.status() is not None


def _bundle(*messages: Any, timetag: float) -> bytes:
    bundle = OscBundleBuilder(timetag)
    for message in messages:
        bundle.add_content(message)
    return bundle.build().dgram


def _message(address: str, *args: Any) -> Any:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()


def test_malformed_packets_are_dropped_counted_and_the_server_carries_on(
    control: RunningServer, tablet: OscClient
) -> None:
    arm = _message("/liverec/arm", 0).dgram
    garbage = [
        b"",
        b"\x00\x01\x02",
        b"not osc at all",
        arm[:-3],  # truncated argument
        b"/liverec/arm\x00\x00\x00\x00,i\x00\x00",  # type tag promises an int that is not there
        b"#bundle\x00" + b"\xff" * 8 + struct.pack(">i", 1000) + b"xx",  # element longer than the packet
        b"/liverec/arm\x00\x00\x00\x00,\xff\xfe\x00" + b"\x00" * 4,  # undecodable type tags
        b"x" * 5000,  # larger than control.max_packet_bytes
        _bundle(*[_message("/liverec/status")] * (MAX_MESSAGES_PER_PACKET + 1), timetag=0),
    ]
    for packet in garbage:
        tablet.send_raw(packet)
    tablet.send("/liverec/nonsense", 1)
    tablet.send("/liverec/arm")  # missing argument: refused with a reason
    error = tablet.receive()
    assert error is not None and "/liverec/error" in error
    assert control.server.stats.malformed == len(garbage) - 1 + 1  # the empty packet counts too
    assert control.server.stats.unknown_address == 1
    assert control.state.armed is True, "no malformed packet may change state"
    assert tablet.status() is not None, "the server still answers"


def test_a_future_timetag_does_not_stall_the_event_loop(control: RunningServer, tablet: OscClient) -> None:
    # python-osc's dispatcher would sleep until the time tag; control is immediate, whatever the bundle says.
    an_hour_ahead = time.time() + 3600
    tablet.send_raw(_bundle(_message("/liverec/arm", 0), timetag=an_hour_ahead))
    reply = tablet.receive(timeout=2)
    assert reply is not None and reply["/liverec/status/armed"] == [0]


def test_a_bundle_of_commands_is_obeyed_in_order_with_one_reply(control: RunningServer, tablet: OscClient) -> None:
    tablet.send_raw(_bundle(_message("/liverec/arm", 0), _message("/liverec/bypass", 1),
                            _message("/liverec/threshold", "keyboard", 0.4), timetag=0))
    reply = tablet.receive()
    assert reply is not None
    assert reply["/liverec/status/armed"] == [0] and reply["/liverec/status/bypass"] == [1]
    assert reply["/liverec/status/thresholds"] == ["keyboard=0.4"]
    assert tablet.receive(timeout=0.3) is None, "one status bundle per packet"


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=256))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    state = ControlState(armed=True)
    server = ControlServer(ControlSettings(), state, lambda: DaemonStatus(armed=True, bypass=False))
    server.handle_datagram(data, ("127.0.0.1", 9000))
    server.handle_datagram(b"/liverec/arm\x00\x00\x00\x00" + data, ("127.0.0.1", 9000))
    assert server.stats.packets == 2


def test_allowlist_matching() -> None:
    settings = ControlSettings(allow=["192.168.1.50", "10.0.0.0/24", "fd00::/8"])
    assert settings.allows("192.168.1.50")
    assert not settings.allows("192.168.1.51")
    assert settings.allows("10.0.0.200") and not settings.allows("10.0.1.1")
    assert settings.allows("::ffff:10.0.0.7"), "IPv4 peers reported by a dual-stack socket"
    assert settings.allows("fd12::1") and not settings.allows("fe80::1%eth0")
    assert not settings.allows("not-an-address")
    assert ControlSettings().allows("127.0.0.1") and ControlSettings().allows("::1")
    assert not ControlSettings().allows("192.168.1.50"), "by default only this box may control the daemon"


@pytest.mark.parametrize("control", [{"bind": "::"}], indirect=True)
def test_dual_stack_bind_serves_ipv6_and_ipv4_tablets(control: RunningServer) -> None:
    import socket

    from pythonosc.osc_packet import OscPacket

    for family, host in ((socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")):
        with socket.socket(family, socket.SOCK_DGRAM) as client:
            client.settimeout(3)
            client.sendto(_message("/liverec/status").dgram, (host, control.port))
            reply = {m.message.address: m.message.params for m in OscPacket(client.recv(65536)).messages}
            assert reply["/liverec/status/armed"] == [1], host


# --- wire-format robustness: packets are checked against the OSC layout before anything in them is obeyed ---------


class _Hung(BaseException):
    """Raised by the alarm. Not an Exception: the code under test catches those, and would count a hang as a
    malformed packet."""


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Turn a hang into a failure. SIGALRM interrupts the loop itself; a worker thread with a timeout would leave it
    spinning (and logging at MB/s) for the rest of the test run."""

    def expire(signum: int, frame: object) -> None:
        raise _Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _direct_server() -> tuple[ControlServer, ControlState]:
    state = ControlState(armed=True)
    server = ControlServer(ControlSettings(), state, lambda: DaemonStatus(armed=state.armed, bypass=state.bypass))
    return server, state


def _raw(address: bytes, tags: bytes, payload: bytes = b"") -> bytes:
    """A message assembled by hand, so it can be wrong in ways python-osc's builder never is."""

    def padded(text: bytes) -> bytes:
        return text + b"\x00" * (4 - len(text) % 4)

    return padded(address) + padded(tags) + payload


def _raw_bundle(*elements: bytes) -> bytes:
    return b"#bundle\x00" + b"\x00" * 8 + b"".join(struct.pack(">i", len(e)) + e for e in elements)


SENDER = ("127.0.0.1", 9000)


def test_a_negative_bundle_element_size_is_malformed_not_a_hang() -> None:
    # python-osc's bundle parser steps backwards on a negative size and never ends.
    server, _ = _direct_server()
    with _deadline(2.0):
        for size in (-4, -8, -16):
            assert server.handle_datagram(b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", size), SENDER) == []
        status = _message("/liverec/status").dgram
        assert server.handle_datagram(b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", -4) + status, SENDER) == []
    assert server.stats.malformed == 4 and server.stats.commands == 0
    assert server.handle_datagram(_message("/liverec/status").dgram, SENDER), "the server still answers"
    assert server.stats.commands == 1


def test_zero_size_bundle_elements_are_malformed_without_a_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    server, _ = _direct_server()
    caplog.set_level(logging.DEBUG)
    with _deadline(2.0):
        assert server.handle_datagram(b"#bundle\x00" + b"\x00" * 8 + b"\x00" * 4000, SENDER) == []
    assert server.stats.malformed == 1
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert len(caplog.records) <= 1, "at most one (debug) line for the whole packet"


@pytest.mark.parametrize("bad_element", [
    _raw(b"/liverec/bypass", b",f"),  # a float the type tags promise, missing
    _raw(b"/liverec/bypass", b",i", b"\x00\x00"),  # half an int
    b"garbage!",  # neither a message nor a bundle
    _raw_bundle(b"\x00" * 4),  # a nested bundle that is wrong inside
], ids=["missing-float", "half-int", "garbage", "bad-nested-bundle"])
def test_a_bundle_with_one_bad_element_is_not_partly_obeyed(bad_element: bytes) -> None:
    server, state = _direct_server()
    good = _message("/liverec/arm", 0).dgram
    assert server.handle_datagram(_raw_bundle(good, bad_element), SENDER) == []
    assert server.handle_datagram(_raw_bundle(bad_element, good), SENDER) == []
    assert state.armed is True, "the valid element of a malformed bundle was obeyed"
    assert (server.stats.malformed, server.stats.commands) == (2, 0)


def test_a_bundle_element_running_past_the_packet_is_not_partly_obeyed() -> None:
    server, state = _direct_server()
    good = _message("/liverec/arm", 0).dgram
    status = _message("/liverec/status").dgram
    truncated = _raw_bundle(good) + struct.pack(">i", len(status) + 8) + status
    assert server.handle_datagram(truncated, SENDER) == []
    assert server.handle_datagram(_raw_bundle(good, status)[:-4], SENDER) == []  # the last element cut short
    assert state.armed is True and server.stats.malformed == 2


def test_nested_bundles_are_obeyed_up_to_a_depth_limit() -> None:
    server, state = _direct_server()
    packet = _message("/liverec/arm", 0).dgram
    for _ in range(2):
        packet = _raw_bundle(packet)
    assert server.handle_datagram(packet, SENDER) and state.armed is False
    for _ in range(200):
        packet = _raw_bundle(packet)
    assert server.handle_datagram(packet, SENDER) == [] and server.stats.malformed == 1


#: Type tags and payload of a toggle's one argument, each wrong in one way.
_BROKEN_ARGUMENTS: dict[str, tuple[bytes, bytes]] = {
    "no-float": (b",f", b""),  # python-osc reads the missing float as 0.0: this used to disarm
    "half-float": (b",f", b"\x3f\x80"),
    "half-double": (b",d", b"\x00" * 4),
    "no-int64": (b",h", b""),
    "unterminated-string": (b",s", b"zero"),
    "short-blob": (b",b", struct.pack(">i", 8) + b"abcd"),
    "negative-blob": (b",b", struct.pack(">i", -4)),
    "extra-bytes": (b",i", b"\x00" * 8),  # bytes the type tags do not account for
    "char-tag": (b",c", b"\x00" * 4),  # a tag python-osc skips without reading its bytes
    "impulse-tag": (b",I", b""),
    "unclosed-array": (b",[i", b"\x00" * 4),
}


@pytest.mark.parametrize(("tags", "payload"), list(_BROKEN_ARGUMENTS.values()), ids=list(_BROKEN_ARGUMENTS))
def test_truncated_or_ill_laid_out_arguments_are_refused(tags: bytes, payload: bytes) -> None:
    server, state = _direct_server()
    state.set_bypass(True)
    for address in (b"/liverec/arm", b"/liverec/bypass"):
        assert server.handle_datagram(_raw(address, tags, payload), SENDER) == []
    assert state.armed is True and state.bypass is True
    assert server.stats.malformed == 2 and server.stats.commands == 0


def test_strings_padded_with_junk_or_unpadded_are_refused() -> None:
    server, state = _direct_server()
    # "hum\0xx\0\0" is "hum" to python-osc, and the "xx" the start of the next argument
    junk = _raw(b"/liverec/threshold", b",sf", b"hum\x00xx\x00\x00" + struct.pack(">f", 0.5))
    assert server.handle_datagram(junk, SENDER) == []
    assert server.handle_datagram(b"/liverec/arm\x00\x00\x00\x00,i", SENDER) == []  # type tags not padded
    assert state.thresholds == {} and state.armed is True
    assert server.stats.malformed == 2


def test_the_same_arguments_complete_are_obeyed() -> None:
    # The counterpart of the test above: the checks refuse the broken layouts, not the argument types.
    server, state = _direct_server()
    for packet in (
        _raw(b"/liverec/arm", b",f", struct.pack(">f", 0.0)),
        _raw(b"/liverec/arm", b",h", struct.pack(">q", 1)),
        _raw(b"/liverec/arm", b",F"),
        _raw(b"/liverec/threshold", b",sd", b"hum\x00" + struct.pack(">d", 0.25)),
        _raw(b"/liverec/status", b",ib[s]", struct.pack(">ii", 1, 3) + b"abc\x00" + b"xy\x00\x00"),
        _message("/liverec/status", "x" * 7, b"blob", 1.5, True).dgram,
        b"/liverec/status\x00",  # no type tag string at all: OSC 1.0's message without arguments
    ):
        assert server.handle_datagram(packet, SENDER), packet
    assert server.stats.malformed == 0 and server.stats.commands == 7
    assert state.armed is False and state.thresholds == {"hum": 0.25}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_is_refused_saying_so(control: RunningServer, tablet: OscClient, value: float) -> None:
    for args in ((value,), ("hum", value)):
        tablet.send("/liverec/arm" if len(args) == 1 else "/liverec/threshold", *args)
        error = tablet.receive()
        assert error is not None and "/liverec/error" in error, args
        assert "not a finite number" in error["/liverec/error"][1], error
    assert control.state.armed is True and control.state.thresholds == {}

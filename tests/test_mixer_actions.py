"""The action engine driving the desk simulator over real UDP on 127.0.0.1 (and its journal on disk)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from mixer_support import LOOPBACK, fast_console, until

from liverec_edge.mixer.actions import MixerEngine
from liverec_edge.mixer.firmware import load_firmware
from liverec_edge.mixer.journal import Journal
from liverec_edge.mixer.osc import OscConsole
from liverec_edge.mixer.settings import MixerSettings, ParamBounds
from liverec_edge.mixer.simulator import MixerSimulator
from liverec_edge.types import Action

X32 = load_firmware("x32")


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))  # type: ignore[arg-type]






@contextlib.asynccontextmanager
async def studio(
    tmp_path: Path, settings: MixerSettings | None = None, **sim_options: Any
) -> AsyncIterator[tuple[MixerSimulator, OscConsole, MixerEngine]]:
    sim = MixerSimulator(X32, LOOPBACK, **sim_options)
    await sim.start()
    sim.preset("ch01.fader", 0.0)
    sim.preset("ch02.fader", -5.0)
    sim.preset("ch01.hpf.freq", 60.0)
    desk = fast_console(sim)
    await desk.connect(5)
    settings = settings or MixerSettings(override_hold_s=30)
    engine = MixerEngine(desk, settings, journal=Journal(tmp_path / "state"), reconcile_s=0.1)
    await engine.start()
    try:
        yield sim, desk, engine
    finally:
        await engine.close(restore=False)
        await desk.close()
        await sim.stop()


def test_set_then_restore_after_hold(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            baseline = sim.value("ch01.hpf.freq")
            result = await engine.apply(Action("ch01.hpf.freq", 150, hold_s=0.3, owner="audio:hum", reason="hum"))
            assert result.accepted and result.target == pytest.approx(150, rel=0.02)
            await until(lambda: sim.value("ch01.hpf.freq") == result.target)
            assert engine.journal is not None and [p.param for p in engine.journal.pending()] == ["ch01.hpf.freq"]
            await until(lambda: sim.value("ch01.hpf.freq") == baseline)
            await until(lambda: engine.holdings() == [])
            assert engine.journal.pending() == []

    run(main())


def test_at_least_never_undoes_the_engineers_setting(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            sim.preset("ch01.hpf.freq", 160.0)  # the engineer's high-pass is above the strategy's 100 Hz
            kept = await engine.apply(Action("ch01.hpf.freq", 100, mode="at_least", owner="t1"))
            assert kept.accepted and kept.target == pytest.approx(160, rel=0.02)
            sim.preset("ch02.hpf.freq", 40.0)  # below it: raised
            raised = await engine.apply(Action("ch02.hpf.freq", 100, mode="at_least", owner="t1"))
            assert raised.target == pytest.approx(100, rel=0.02)
            await until(lambda: sim.value("ch02.hpf.freq") == raised.target)
            sim.preset("ch03.fader", 0.0)
            lowered = await engine.apply(Action("ch03.fader", -20, mode="at_most", owner="t1"))
            assert lowered.target == pytest.approx(-20, abs=0.2)
            sim.preset("ch04.fader", -30.0)  # already lower: left there
            left = await engine.apply(Action("ch04.fader", -20, mode="at_most", owner="t1"))
            assert left.target == pytest.approx(-30, abs=0.2)
            await engine.release("t1")
            await until(lambda: sim.value("ch02.hpf.freq") == pytest.approx(40, rel=0.02))
            assert sim.value("ch01.hpf.freq") == pytest.approx(160, rel=0.02)

    run(main())


def test_relative_move_is_bounded_by_its_own_limits(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            sim.preset("ch01.trim", -16.5)
            result = await engine.apply(Action("ch01.trim", -6, mode="relative", restore=False, owner="audio:clip",
                                               min_value=-18.0))
            assert result.accepted and result.target == pytest.approx(-18.0, abs=0.3)
            await until(lambda: sim.value("ch01.trim") == result.target)
            # sticky: the floor is the new baseline, and a further step at the floor moves nothing
            again = await engine.apply(Action("ch01.trim", -3, mode="relative", restore=False, owner="audio:clip",
                                              min_value=-18.0))
            assert again.accepted and again.target == result.target
            await asyncio.sleep(0.1)
            assert sim.value("ch01.trim") == result.target

    run(main())


def test_ramp_slews_at_most_50_updates_per_second(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            result = await engine.apply(Action("ch01.fader", -20, mode="ramp", ramp_ms=400, owner="t1"))
            assert result.accepted
            await engine.wait_idle()
            await until(lambda: sim.value("ch01.fader") == result.target)
            times = sim.times_received("/ch/01/mix/fader")
            assert 10 <= len(times) <= 20  # 400 ms at <= 50 Hz, only grid changes sent
            # Rate limit: the engine spaces its sends by >= 1/50 s (measured after each send);
            # on the desk side, with arrival jitter, the average rate stays at or under 50 Hz.
            sends = [t for t, p, _ in engine.sent_log if p == "ch01.fader"]
            assert min(b - a for a, b in itertools.pairwise(sends)) >= 0.0195
            assert (len(times) - 1) / (times[-1] - times[0]) <= 50 * 1.05
            assert times[-1] - times[0] >= 0.3  # it really slewed
            steps = [float(v) for _, p, v in engine.sent_log if p == "ch01.fader"]
            assert steps == sorted(steps, reverse=True) and steps[-1] == result.target  # monotonic, ends on target
            # Release: ramps back to the baseline (0 dB) with the claim's ramp time.
            sent_before = len(times)
            await engine.release("t1")
            await engine.wait_idle()
            await until(lambda: sim.value("ch01.fader") == sim.firmware.resolve("ch01.fader").law.snap(0.0))
            assert len(sim.times_received("/ch/01/mix/fader")) - sent_before >= 10

    run(main())


def test_overlapping_owners_most_protective_wins_and_true_baseline_returns(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            fader0, hpf0 = sim.value("ch01.fader"), sim.value("ch01.hpf.freq")
            # Fader: lower wins, whatever the order.
            a = await engine.apply(Action("ch01.fader", -6, mode="relative", owner="A"))
            b = await engine.apply(Action("ch01.fader", -20, owner="B"))
            await until(lambda: sim.value("ch01.fader") == b.target)
            assert b.effective == b.target and a.target == pytest.approx(-6, abs=0.05)
            # A re-sending its relative change does not compound.
            again = await engine.apply(Action("ch01.fader", -6, mode="relative", owner="A"))
            assert again.target == a.target
            await engine.release("B")
            await until(lambda: sim.value("ch01.fader") == a.target)
            await engine.release("A")
            await until(lambda: sim.value("ch01.fader") == fader0)
            # HPF: higher wins; releasing the winner falls back to the other claim, then the baseline.
            await engine.apply(Action("ch01.hpf.freq", 150, owner="A"))
            await engine.apply(Action("ch01.hpf.freq", 100, owner="B"))
            assert sim.value("ch01.hpf.freq") == pytest.approx(150, rel=0.02) or True
            await until(lambda: sim.value("ch01.hpf.freq") == engine.current("ch01.hpf.freq"))
            assert engine.current("ch01.hpf.freq") == pytest.approx(150, rel=0.02)
            await engine.release("A")
            await until(lambda: sim.value("ch01.hpf.freq") == pytest.approx(100, rel=0.02))
            await engine.release("B")
            await until(lambda: sim.value("ch01.hpf.freq") == hpf0)
            # Mute beats unmute on a non-presenter channel.
            await engine.apply(Action("ch02.on", 0, owner="A"))
            await engine.apply(Action("ch02.on", 1, owner="B"))
            await until(lambda: sim.value("ch02.on") == 0.0)
            await engine.release_all()
            await until(lambda: sim.value("ch02.on") == 1.0)
            await until(lambda: engine.holdings() == [])
            assert engine.journal is not None and engine.journal.pending() == []

    run(main())


def test_second_client_moving_a_fader_is_a_manual_override(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            result = await engine.apply(Action("ch02.fader", -15, owner="tag-1"))
            await until(lambda: sim.value("ch02.fader") == result.target)
            engineer = fast_console(sim)
            await engineer.connect(5)
            await engineer.set("ch02.fader", -3)
            await until(lambda: len(engine.overrides) == 1)
            assert engine.overrides[0].param == "ch02.fader"
            assert engine.holdings() == [] and engine.locked_for("ch02.fader") > 20
            # The engineer's value stays: releasing the owner restores nothing, new actions are refused.
            await engine.release("tag-1")
            refused = await engine.apply(Action("ch02.fader", -30, owner="tag-2"))
            assert not refused.accepted and "took ch02.fader over" in refused.reason
            await asyncio.sleep(0.3)
            assert sim.value("ch02.fader") == engineer.snap("ch02.fader", -3)
            assert engine.journal is not None and engine.journal.pending() == []
            # Moving another, unowned parameter is no override.
            await engineer.set("ch05.fader", -3)
            await asyncio.sleep(0.2)
            assert len(engine.overrides) == 1
            await engineer.close()

    run(main())


def test_surface_move_during_a_ramp_is_an_override(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            await engine.apply(Action("ch01.fader", -40, ramp_ms=2000, owner="t"))
            await until(lambda: sim.value("ch01.fader") < -1)
            sim.move("ch01.fader", 5)
            await until(lambda: len(engine.overrides) == 1)
            await asyncio.sleep(0.2)
            assert sim.value("ch01.fader") == sim.firmware.resolve("ch01.fader").law.snap(5)

    run(main())


def test_bounds_clamp_and_refuse(tmp_path: Path) -> None:
    settings = MixerSettings(
        bounds={"ch*.trim": ParamBounds(max_raise=3), "ch03.fader": ParamBounds(min=-40, max=-10),
                "ch04.eq.*.gain": ParamBounds(max_cut=6, on_violation="refuse")},
        channels={"presenter": 1, "music": 4},
    )

    async def main() -> None:
        async with studio(tmp_path, settings) as (sim, _desk, engine):
            sim.preset("ch02.trim", 1.0)
            clamped = await engine.apply(Action("ch02.trim", 9, owner="x"))
            assert clamped.accepted and clamped.target == 4.0 and "clamped" in clamped.reason
            await until(lambda: sim.value("ch02.trim") == 4.0)
            low = await engine.apply(Action("ch03.fader", -60, owner="x"))
            assert low.target is not None and -40.2 < low.target <= -40 + 0.1
            refused = await engine.apply(Action("music.eq.2.gain", -9, owner="x"))
            assert not refused.accepted and "bounds ch04.eq.*.gain" in refused.reason
            assert sim.value("ch04.eq.2.gain") == 0.0
            muted = await engine.apply(Action("presenter.on", 0, owner="x"))
            assert not muted.accepted and "presenter_never_muted" in muted.reason
            assert sim.value("ch01.on") == 1.0
            bad = await engine.apply(Action("ch01.hpf.frq", 100, owner="x"))
            assert not bad.accepted and "did you mean ch01.hpf.freq" in bad.reason
            out_of_range = await engine.apply(Action("ch01.hpf.freq", 5000, owner="x"))
            assert not out_of_range.accepted and "outside 20..400" in out_of_range.reason

    run(main())


def test_sticky_change_is_not_restored(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            result = await engine.apply(Action("ch01.eq.3.gain", -4, restore=False, owner="audio:hiss"))
            await until(lambda: sim.value("ch01.eq.3.gain") == -4.0)
            await until(lambda: engine.holdings() == [])
            await engine.release("audio:hiss")
            await asyncio.sleep(0.2)
            assert sim.value("ch01.eq.3.gain") == result.target == -4.0
            assert engine.journal is not None and engine.journal.pending() == []

    run(main())


def test_dry_run_sends_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path, MixerSettings(dry_run=True)) as (sim, _desk, engine):
            result = await engine.apply(Action("ch01.fader", -12, ramp_ms=100, owner="x"))
            assert result.accepted
            await engine.wait_idle()
            await asyncio.sleep(0.1)
            assert sim.times_received("/ch/01/mix/fader") == []
            assert sim.value("ch01.fader") == sim.firmware.resolve("ch01.fader").law.snap(0.0)
            assert engine.sent_log and engine.sent_log[-1][2] == result.target
            assert engine.journal is None

    run(main())


def test_packet_loss_still_converges(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path, drop_every_nth_reply=3) as (sim, _desk, engine):
            targets = {}
            for channel in range(1, 9):
                result = await engine.apply(Action(f"ch{channel:02d}.hpf.freq", 200, owner="hum"))
                assert result.accepted, result.reason
                targets[f"ch{channel:02d}.hpf.freq"] = result.target
            await until(lambda: all(sim.value(p) == v for p, v in targets.items()))
            assert sim.dropped_replies >= 2
            await engine.release("hum")
            await until(lambda: engine.holdings() == [])

    run(main())


def test_journal_left_by_a_crash_is_replayed_when_the_desk_appears(tmp_path: Path) -> None:
    async def main() -> None:
        state = tmp_path / "state"
        journal = Journal(state)
        journal.claim("ch06.fader", -7.0, -30.0, "tag-9", 10.0, True, "crashed run")
        journal.claim("ch06.hpf.freq", 40.0, 200.0, "tag-9", None, True)
        journal.claim("ch06.hpf.freq", 40.0, 300.0, "tag-10", None, True)  # later claims keep the first baseline
        sim = MixerSimulator(X32, LOOPBACK)
        await sim.start()
        port = sim.port
        sim.preset("ch06.fader", -30.0)
        sim.preset("ch06.hpf.freq", 300.0)
        await sim.stop()  # the desk is away when the daemon starts
        desk = OscConsole(X32, LOOPBACK, port, reply_timeout_s=0.05, retries=1, renew_s=0.2,
                          backoff_initial_s=0.05, backoff_max_s=0.1)
        await desk.start()
        engine = MixerEngine(desk, MixerSettings(), journal=Journal(state), reconcile_s=0.05)
        assert sorted(await engine.start()) == ["ch06.fader", "ch06.hpf.freq"]
        assert len(engine.journal.pending()) == 2 if engine.journal else False
        await sim.start()
        await until(lambda: sim.value("ch06.fader") == sim.firmware.resolve("ch06.fader").law.snap(-7.0))
        await until(lambda: sim.value("ch06.hpf.freq") == pytest.approx(40.0, rel=0.02))
        await until(lambda: engine.holdings() == [])
        assert Journal(state).pending() == []
        await engine.close()
        await desk.close()
        await sim.stop()

    run(main())


def test_close_restores_everything(tmp_path: Path) -> None:
    async def main() -> None:
        sim = MixerSimulator(X32, LOOPBACK)
        await sim.start()
        desk = fast_console(sim)
        await desk.connect(5)
        engine = MixerEngine(desk, MixerSettings(), journal=Journal(tmp_path), reconcile_s=0.1)
        await engine.start()
        await engine.apply(Action("ch09.gate.thr", -30, owner="a"))
        await engine.apply(Action("ch09.eq.1.type", "LCut", owner="a"))
        await until(lambda: sim.value("ch09.eq.1.type") == "LCut")
        await engine.close()
        await until(lambda: sim.value("ch09.gate.thr") == -80.0 and sim.value("ch09.eq.1.type") == "PEQ")
        assert Journal(tmp_path).pending() == []
        assert math.isinf(float(sim.value("ch09.fader")))
        await desk.close()
        await sim.stop()

    run(main())


def test_bursts_on_one_parameter_are_debounced(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            for n in range(10):
                await engine.apply(Action("ch03.eq.1.gain", -1.0 - n, owner="burst"))
            await until(lambda: sim.value("ch03.eq.1.gain") == -10.0)
            sends = [t for t, p, _ in engine.sent_log if p == "ch03.eq.1.gain"]
            assert len(sends) == 10
            assert min(b - a for a, b in itertools.pairwise(sends)) >= 0.0195

    run(main())


def test_the_software_console_is_driven_identically() -> None:
    from liverec_edge.mixer.soft import SoftConsole, SoftConsoleBackend

    async def main() -> None:
        console = SoftConsole(48000, 2)
        engine = MixerEngine(SoftConsoleBackend(console), MixerSettings())
        await engine.start()
        baseline = console.get("ch01.hpf.freq")
        a = await engine.apply(Action("ch01.hpf.freq", 150, owner="A"))
        b = await engine.apply(Action("ch01.hpf.freq", 100, owner="B"))
        assert console.get("ch01.hpf.freq") == a.target and b.effective == a.target
        await engine.apply(Action("ch01.fader", -12, ramp_ms=100, owner="A"))
        await engine.wait_idle()
        assert console.get("ch01.fader") == pytest.approx(-12, abs=0.05)
        await engine.release("A")
        await engine.wait_idle()
        assert console.get("ch01.hpf.freq") == pytest.approx(100, rel=0.02)
        await engine.release("B")
        await until(lambda: engine.holdings() == [])
        assert console.get("ch01.hpf.freq") == baseline
        await engine.close()

    run(main())


def test_changes_made_while_the_desk_was_away_are_the_engineers(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, desk, engine):
            await engine.apply(Action("ch04.fader", -25, owner="tag"))
            await engine.apply(Action("ch04.hpf.freq", 120, owner="tag"))
            # Both sets must have landed before the desk goes: a set lost with the connection is indistinguishable
            # from an engineer's move, and the engine then (rightly) lets go of it too.
            await until(lambda: sim.value("ch04.fader") == engine.current("ch04.fader")
                        and sim.value("ch04.hpf.freq") == engine.current("ch04.hpf.freq"))
            await sim.stop()
            await until(lambda: desk.state.value == "unreachable")
            sim.preset("ch04.fader", -2)  # scene recalled on the desk while the box could not see it
            await sim.start()
            await until(lambda: len(engine.overrides) == 1)
            assert engine.overrides[0].param == "ch04.fader"
            assert [h["param"] for h in engine.holdings()] == ["ch04.hpf.freq"]  # untouched: still held
            await engine.release("tag")
            await until(lambda: engine.holdings() == [])
            assert sim.value("ch04.fader") == sim.firmware.resolve("ch04.fader").law.snap(-2)

    run(main())


def test_a_lost_push_never_lets_a_restore_overwrite_the_engineer(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            await engine.apply(Action("ch05.eq.2.gain", -6, owner="tag"))
            await until(lambda: sim.value("ch05.eq.2.gain") == -6.0)
            sim.preset("ch05.eq.2.gain", 4.0)  # the engineer's move, its push lost on the network
            await engine.release("tag")
            await asyncio.sleep(0.3)
            assert sim.value("ch05.eq.2.gain") == 4.0
            assert [o.param for o in engine.overrides] == ["ch05.eq.2.gain"]
            assert engine.holdings() == []

    run(main())


def test_mixer_stage_with_the_built_in_simulator(tmp_path: Path) -> None:
    from liverec_edge.mixer.stage import MixerStage

    async def main() -> None:
        stage = MixerStage(MixerSettings(url="sim://xair", channels={"presenter": 2}), state_dir=tmp_path)
        engine = await stage.start()
        assert stage.state.value == "connected" and stage.simulator is not None
        before = await engine.snapshot(["presenter.hpf.freq", "presenter.fader", "ch99.fader"])
        assert set(before) == {"ch02.hpf.freq", "ch02.fader"}
        result = await engine.apply(Action("presenter.hpf.freq", 180, owner="t"))
        assert result.param == "ch02.hpf.freq" and result.accepted
        await until(lambda: stage.simulator.value("ch02.hpf.freq") == result.target)
        simulator = stage.simulator
        await stage.close()  # restores before closing
        assert simulator.value("ch02.hpf.freq") == before["ch02.hpf.freq"]

    run(main())


def test_engineer_moving_back_to_a_value_the_daemon_sent_is_an_override(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            first = await engine.apply(Action("ch02.fader", -15, owner="tag-1"))
            await until(lambda: sim.value("ch02.fader") == first.target)
            second = await engine.apply(Action("ch02.fader", -25, owner="tag-1"))
            await until(lambda: sim.value("ch02.fader") == second.target)
            # Within a second the engineer pulls it back to where the daemon had it: their move, not an echo.
            sim.move("ch02.fader", -15)
            await until(lambda: len(engine.overrides) == 1, timeout=2)
            assert engine.overrides[0].value == first.target and engine.holdings() == []
            await asyncio.sleep(0.3)
            assert sim.value("ch02.fader") == first.target  # the daemon stopped fighting

    run(main())


def test_parameters_ramping_at_once_share_the_desk_rate_limit(tmp_path: Path) -> None:
    async def main() -> None:
        async with studio(tmp_path) as (sim, desk, engine):
            faders = ["ch03.fader", "ch04.fader", "ch05.fader"]
            for param in faders:
                sim.preset(param, 0.0)
            start = time.monotonic()
            # Three ramps at 50 updates/s each ask for 150 datagrams/s; the desk gets at most 100.
            results = [await engine.apply(Action(p, -30, ramp_ms=600, owner="t")) for p in faders]
            await engine.wait_idle()
            for param, result in zip(faders, results, strict=True):
                await until(lambda p=param, r=result: sim.value(p) == r.target)
                assert len(sim.times_received(sim.address_of(param))) >= 25
            times = [t for t, c, _, _ in sim.received if c[1] == desk.local_port and t >= start]
            assert (len(times) - 1) / (times[-1] - times[0]) <= 100 * 1.05
            # Any 20 consecutive intervals span at least 0.18 s (10 ms each, less arrival jitter).
            assert min(b - a for a, b in zip(times, times[20:], strict=False)) >= 0.18

    run(main())


def test_a_repatched_channel_is_the_engineers_and_its_old_gain_is_never_restored_onto_the_new_preamp(
        tmp_path: Path) -> None:
    """The daemon holds ch01's analogue gain on headamp 000; the engineer re-patches ch01 to headamp 40. The
    backend drops the old route on the desk's push, so the engine's read-back of what it holds reads headamp 40,
    finds another value and lets go (an override): the old preamp's baseline is never written to headamp 40, which
    keeps the engineer's setting. (The read-back runs every ``reconcile_s``: 0.1 s here, 5 s by default.)"""

    async def main() -> None:
        async with studio(tmp_path) as (sim, _desk, engine):
            baseline = sim.value("ch01.headamp.gain")
            result = await engine.apply(Action("ch01.headamp.gain", baseline - 6, hold_s=0.8, owner="audio:clipping"))
            assert result.accepted
            await until(lambda: sim.value("ch01.headamp.gain") == result.target)
            sim.move("ch01.headamp.index", 40)  # the surface: ch01 now fed by headamp 40 (set at +24 dB)
            await until(lambda: len(engine.overrides) == 1, timeout=3)
            assert engine.overrides[0].param == "ch01.headamp.gain" and engine.holdings() == []
            await asyncio.sleep(1.2)  # past the hold: nothing is restored anywhere
            assert [args for _, _, a, args in sim.received if a == "/headamp/040/gain" and args] == []  # reads only
            assert sim.value("ch01.headamp.gain") == 24.0  # headamp 40 untouched, as the engineer left it

    run(main())

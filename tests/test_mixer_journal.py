"""The change journal: folding, torn lines, compaction, and the real thing — ``kill -9`` of a daemon mid-action."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from liverec_edge.mixer.actions import MixerEngine
from liverec_edge.mixer.journal import JOURNAL_NAME, Journal
from liverec_edge.mixer.osc import OscConsole
from liverec_edge.mixer.settings import MixerSettings
from liverec_edge.mixer.simulator import MixerSimulator

REPO = Path(__file__).resolve().parents[1]


def test_fold_keeps_the_first_baseline_until_done(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.claim("ch01.fader", float("-inf"), -10.0, "a", 5.0, True)
    journal.claim("ch01.fader", -10.0, -20.0, "b", None, True)  # a later baseline is not the engineer's
    journal.claim("ch02.eq.1.type", "PEQ", "LCut", "a", None, True)
    journal.release("ch01.fader", "a")
    pending = {p.param: p for p in Journal(tmp_path).pending()}
    assert pending["ch01.fader"].baseline == float("-inf") and pending["ch01.fader"].owners == {"b"}
    assert pending["ch02.eq.1.type"].baseline == "PEQ"
    journal.rebase("ch02.eq.1.type", "VEQ")
    journal.done("ch01.fader")
    assert [(p.param, p.baseline) for p in Journal(tmp_path).pending()] == [("ch02.eq.1.type", "VEQ")]


def test_torn_and_damaged_lines_are_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.claim("ch03.trim", 0.0, -6.0, "a", None, True)
    with open(tmp_path / JOURNAL_NAME, "a", encoding="utf-8") as handle:
        handle.write("this is not json\n")
        handle.write('{"op": "claim", "param": "ch04.tr')  # a crash in the middle of a write
    assert [p.param for p in Journal(tmp_path).pending()] == ["ch03.trim"]


def test_compact_rewrites_atomically(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for n in range(20):
        journal.claim("ch05.fader", -5.0, -5.0 - n, "x", None, True)
    journal.compact(journal.pending())
    lines = (tmp_path / JOURNAL_NAME).read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["baseline"] == -5.0
    journal.compact([])
    assert (tmp_path / JOURNAL_NAME).read_text() == "" and Journal(tmp_path).pending() == []
    assert not (tmp_path / "mixer-journal.tmp").exists()


def test_unwritable_state_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match="cannot create the mixer state directory"):
        Journal(blocker / "state")


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from liverec_edge.mixer.actions import MixerEngine
    from liverec_edge.mixer.firmware import load_firmware
    from liverec_edge.mixer.journal import Journal
    from liverec_edge.mixer.osc import OscConsole
    from liverec_edge.mixer.settings import MixerSettings
    from liverec_edge.types import Action

    async def main(port, state):
        desk = OscConsole(load_firmware("x32"), "127.0.0.1", port, reply_timeout_s=0.1)
        await desk.connect(5)
        engine = MixerEngine(desk, MixerSettings(), journal=Journal(state))
        await engine.start()
        await engine.apply(Action("ch01.hpf.freq", 250, owner="tag-1", reason="hum"))
        await engine.apply(Action("ch01.eq.2.gain", -9, owner="tag-1"))
        await engine.apply(Action("ch01.fader", -30, mode="ramp", ramp_ms=4000, owner="tag-1"))
        print("applied", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
    """
)


def test_kill_9_mid_action_then_restart_restores_the_baselines(tmp_path: Path) -> None:
    async def main() -> None:
        state = tmp_path / "state"
        async with MixerSimulator("x32", "127.0.0.1") as sim:
            sim.preset("ch01.fader", 0.0)
            sim.preset("ch01.hpf.freq", 40.0)
            sim.preset("ch01.eq.2.gain", 2.0)
            baseline = {p: sim.value(p) for p in ("ch01.fader", "ch01.hpf.freq", "ch01.eq.2.gain")}
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", CHILD, str(sim.port), str(state), cwd=REPO,
                stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            assert line.decode().strip() == "applied"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while float(sim.value("ch01.fader")) > -3 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            child.send_signal(signal.SIGKILL)
            await child.wait()
            assert child.returncode == -signal.SIGKILL
            # The desk is left mid-action: the HPF and EQ changed, the fader part-way down.
            mid_fader = float(sim.value("ch01.fader"))
            assert -30 < mid_fader <= -3
            assert sim.value("ch01.hpf.freq") != baseline["ch01.hpf.freq"]
            assert sim.value("ch01.eq.2.gain") == -9.0

            desk = OscConsole(sim.firmware, "127.0.0.1", sim.port, reply_timeout_s=0.1)
            await desk.connect(5)
            engine = MixerEngine(desk, MixerSettings(), journal=Journal(state))
            replayed = await engine.start()
            assert sorted(replayed) == ["ch01.eq.2.gain", "ch01.fader", "ch01.hpf.freq"]
            await asyncio.sleep(0.1)  # let the last datagrams land
            assert {p: sim.value(p) for p in baseline} == baseline
            assert engine.holdings() == [] and Journal(state).pending() == []
            await engine.close()
            await desk.close()

    asyncio.run(asyncio.wait_for(main(), 60))


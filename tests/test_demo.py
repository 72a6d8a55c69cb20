"""The demo studio runs the production daemon end to end: scene camera → part detectors → tags → pre-emptive and
audio-confirmed strategies → the X32 simulator over real OSC (or the software console and the target recording)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from liverec_edge.demo import PORTRAIT
from liverec_edge.media import decode_audio, iter_video_frames

pytestmark = pytest.mark.skipif(not PORTRAIT.is_file(), reason="run tools/fetch_models.py first (set-up does)")


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "liverec_edge.cli", "demo", "--out", str(tmp_path), *args],
        capture_output=True, text=True, timeout=120,
    )


def test_demo_on_the_desk_simulator_tags_the_lean_in_and_restores_the_desk(tmp_path: Path) -> None:
    run = _demo(tmp_path, "--seconds", "13")
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    # The scene leans in at 6 s (move complete by 6.5 s): the behaviour stage must see it, in time.
    begins = [float(m.group(1)) for m in re.finditer(r"^\s*([\d.]+) s\s+behaviour\s+lean_in begins", out, re.M)]
    assert begins, out
    assert 5.97 <= begins[0] <= 7.0  # not before the move starts, within the min_on + one frame after
    # Leaning in is mapped to the plosive strategy before any pop is heard: an HPF on the presenter's strip.
    assert re.search(r"mixer\s+lean_in seen .*ch01\.hpf\.freq=", out), out
    # Everything the daemon changed on the desk was put back when it stopped.
    assert "after the show all restored" in out, out
    datagrams = int(re.search(r"desk: (\d+) parameter datagrams", out).group(1))
    assert datagrams > 0


def test_demo_with_the_software_console_writes_the_target_recording(tmp_path: Path) -> None:
    run = _demo(tmp_path, "--seconds", "10", "--console", "soft", "--quiet")
    assert run.returncode == 0, run.stderr[-3000:]
    target = tmp_path / "target.mkv"
    assert target.is_file(), run.stdout
    frames = list(iter_video_frames(target))
    audio, rate = decode_audio(target)
    assert rate == 48_000
    # Both streams cover the run (the recording starts at the first frame and closes at the stop).
    assert frames[-1][0] > 6.0
    assert audio.size / rate == pytest.approx(frames[-1][0], abs=1.0)
    assert float(abs(audio).max()) > 0.05  # the presenter's voice went through the console

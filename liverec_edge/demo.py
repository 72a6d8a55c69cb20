"""``liverec-edge demo``: the real daemon in a simulated studio, with no hardware and no network.

The studio: the scene camera animates a public-domain portrait (scikit-image's astronaut, fetched at set-up) that
leans in to the mic and leaves the frame; the presenter's voice is espeak-ng with faults placed to match
(``demo_studio.py``); the desk is an X32 simulator on loopback speaking the real OSC protocol (``--console desk``,
the default) or the software console, which also writes the target recording (``--console soft``). Every stage is
the production one (``daemon.build_stages``); the demo only adds a reporter that prints, as it happens, what each
stage saw and did, and a summary at the end. It stops by itself after ``--seconds`` (60 by default).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from liverec_edge.pipeline import (
    TOPIC_ACTIONS,
    TOPIC_FAULTS,
    TOPIC_TAGS,
    DropOldestQueue,
    HealthValue,
    StageBase,
    StageContext,
)

REPO = Path(__file__).resolve().parents[1]
PORTRAIT = REPO / "models" / "assets" / "astronaut.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the show runs (default 60)")
    parser.add_argument("--console", choices=["desk", "soft"], default="desk",
                        help="desk: an X32 simulator over real OSC on loopback; soft: the software console, "
                             "which also writes the target recording (default desk)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the demo's media, state and recording here (default: a temporary folder)")
    parser.add_argument("--quiet", action="store_true", help="only the summary, no running commentary")


class DemoReporter(StageBase):
    """Listens to tags, faults and mixer commands and prints them in media time (the scene's own clock)."""

    name = "demo-reporter"

    def __init__(self, capture: Any, live: bool = True) -> None:
        super().__init__()
        self.capture = capture
        self.live = live
        self.origin: float | None = None
        self.lines: list[str] = []
        self.tags: dict[str, Any] = {}
        self.faults: list[Any] = []
        self.commands: list[Any] = []
        self._queues: dict[str, DropOldestQueue[Any]] = {}

    async def start(self, ctx: StageContext) -> None:
        for topic in (TOPIC_TAGS, TOPIC_FAULTS, TOPIC_ACTIONS):
            self._queues[topic] = ctx.bus.subscribe(topic, owner=self.name, maxsize=256)

    def media_time(self, t: float) -> float:
        return t - (self.origin or 0.0)

    def _say(self, t: float, who: str, text: str) -> None:
        line = f"{self.media_time(t):7.2f} s  {who:9s} {text}"
        self.lines.append(line)
        if self.live:
            print(line, flush=True)

    async def run(self, ctx: StageContext) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.meter.beat()
            if self.origin is None and getattr(self.capture, "runner", None) is not None:
                # The scene camera stamps its frame k at exactly t_origin + k/fps: media time is t - t_origin.
                self.origin = self.capture.runner.t_origin
            for tag in self._queues[TOPIC_TAGS].drain():
                kind = "predicted " if getattr(tag, "predicted", False) else ""
                if tag.open and tag.id not in self.tags:
                    self._say(tag.start, "behaviour", f"{kind}{tag.behaviour} begins ({', '.join(tag.parts)}, "
                                                      f"confidence {tag.confidence:.2f})")
                elif not tag.open:
                    span = f"{self.media_time(tag.start):.2f}–{self.media_time(tag.end):.2f} s"
                    self._say(tag.end, "behaviour",
                              f"{kind}{tag.behaviour} ended ({span}, {len(tag.frame_indices)} frames)")
                self.tags[tag.id] = tag
            for fault in self._queues[TOPIC_FAULTS].drain():
                self.faults.append(fault)
                freq = f" at {fault.freq:.1f} Hz" if fault.freq else ""
                span = f"{self.media_time(fault.start):.2f}–{self.media_time(fault.end):.2f} s"
                self._say(fault.start, "audio", f"{fault.type} score {fault.score:.2f}{freq} ({span})")
            for command in self._queues[TOPIC_ACTIONS].drain():
                self.commands.append(command)
                now = ctx.clock()
                if command.kind == "apply":
                    changes = ", ".join(f"{a.param}={_fmt(a.value)}{_MODE_NOTE.get(a.mode, '')}"
                                        for a in command.actions)
                    self._say(now, "mixer", f"{command.reason} → {changes}")
                else:
                    self._say(now, "mixer", f"release {command.owner} ({command.reason})")

    def health(self) -> Mapping[str, HealthValue]:
        return {}


#: How the log shows a change that is not a plain jump (the desk's own value decides the result).
_MODE_NOTE = {"relative": " (relative)", "at_least": " (at least)", "at_most": " (at most)"}


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def demo_config(work: Path, voice: Path, console: str, desk_port: int | None) -> Any:
    from liverec_edge.config import config_from_dict

    mixer: dict[str, Any] = {"url": "soft://" if console == "soft" else f"x32://127.0.0.1:{desk_port}",
                             "channels": {"presenter": 1, "music": 2}}
    return config_from_dict({
        "daemon": {"state_dir": str(work / "state")},
        "capture": {
            "camera": {"kind": "scene", "path": str(PORTRAIT), "width": 640, "height": 480, "fps": 30},
            "audio": {"kind": "file", "path": str(voice), "rate": 48000, "loop": True, "paced": True},
        },
        # The studio's zones as an installer would draw them with `liverec-edge zones`: the mic on the desk in front
        # of the presenter, the keyboard along the desk's edge.
        "behaviour": {"zones": {
            "microphone": [[0.42, 0.72], [0.58, 0.72], [0.58, 0.95], [0.42, 0.95]],
            "keyboard": [[0.08, 0.88], [0.92, 0.88], [0.92, 1.0], [0.08, 1.0]],
        }},
        "mixer": mixer,
        "record": {"enabled": console == "soft", "directory": str(work / "recording"), "segment_seconds": 4.0},
        "control": {"bind": "127.0.0.1", "port": 0},
    }, source="<demo>")


async def _run(args: argparse.Namespace, work: Path) -> int:
    from liverec_edge.daemon import build_stages, run_daemon
    from liverec_edge.demo_studio import build_voice_track

    print(f"liverec-edge demo: building the studio in {work}", flush=True)
    voice, events = await asyncio.to_thread(build_voice_track, work / "media", max(args.seconds, 1.0))
    simulator = None
    desk_port = None
    if args.console == "desk":
        from liverec_edge.mixer.firmware import load_firmware
        from liverec_edge.mixer.simulator import MixerSimulator

        simulator = MixerSimulator(load_firmware("x32"), "127.0.0.1", 0, name="demo-x32")
        await simulator.start()
        desk_port = simulator.port
    config = demo_config(work, voice, args.console, desk_port)
    print("what the studio will do (media time):", flush=True)
    for event in events:
        print(f"  {event.start:6.2f}–{event.end:6.2f} s  {event.what}", flush=True)
    print("  scene camera: leans in 6–10 s, leaves the frame 14–18 s, every 24 s", flush=True)
    desk = f"X32 simulator on 127.0.0.1:{desk_port} (real OSC)" if simulator else "software console"
    print(f"desk: {desk}", flush=True)
    print("running the daemon:", flush=True)
    stages = build_stages(config)
    reporter = DemoReporter(next(s for s in stages if s.name == "capture"), live=not args.quiet)
    stages.append(reporter)
    baseline = _desk_state(simulator) if simulator else {}
    try:
        code = await run_daemon(config, seconds=args.seconds, stages=stages, handle_signals=True,
                                log_level=args.log_level or "warning")
    finally:
        if simulator is not None:
            final = _desk_state(simulator)
            await simulator.stop()
    _summary(stages, reporter, work, args)
    if simulator is not None:
        changed = {p: (baseline[p], v) for p, v in final.items() if v != baseline.get(p)}
        sets = sum(simulator.count_received(simulator.address_of(p)) for p in final)
        after = "all restored" if not changed else "still changed: " + ", ".join(
            f"{p} {a}→{b}" for p, (a, b) in changed.items())
        print(f"desk: {sets} parameter datagrams received over OSC; after the show {after}")
    return code


#: The presenter strip's parameters the demo shows the desk's view of.
DESK_PARAMS = ("ch01.on", "ch01.fader", "ch01.trim", "ch01.hpf.on", "ch01.hpf.freq", "ch01.hpf.slope", "ch01.eq.on",
               "ch01.eq.1.freq", "ch01.eq.1.gain", "ch01.eq.2.gain", "ch01.eq.3.gain", "ch01.eq.4.gain",
               "ch01.gate.on", "ch01.gate.mode", "ch01.gate.thr", "ch01.dyn.on", "ch02.fader")


def _desk_state(simulator: Any) -> dict[str, Any]:
    return {p: simulator.value(p) for p in DESK_PARAMS}


def _summary(stages: list[Any], reporter: DemoReporter, work: Path, args: argparse.Namespace) -> None:
    by_name = {s.name: s for s in stages}
    print("\nsummary")
    for name, stage in by_name.items():
        if name == reporter.name:
            continue
        figures = ", ".join(f"{k}={v}" for k, v in dict(stage.health()).items() if v not in ("", None))
        print(f"  {name:9s} {figures}")
    vision = by_name.get("vision")
    if vision is not None and vision.analyser is not None:
        for part, counts in vision.analyser.stats().items():
            frames = counts["frames"] or 1
            print(f"  vision    {part}: detected in {counts['detected']} of {counts['frames']} analysed frames "
                  f"({100 * counts['detected'] / frames:.0f} %)")
    closed = [t for t in reporter.tags.values() if not t.open]
    print(f"  tags      {len(reporter.tags)}: " + ", ".join(
        f"{t.behaviour} {reporter.media_time(t.start):.1f}–{reporter.media_time(t.end):.1f} s" for t in closed))
    print(f"  faults    {len(reporter.faults)}: " + ", ".join(
        f"{f.type} {reporter.media_time(f.start):.1f} s" for f in reporter.faults[:20]))
    applies = [c for c in reporter.commands if c.kind == "apply"]
    print(f"  mixer     {len(applies)} strategy applications, "
          f"{len(reporter.commands) - len(applies)} releases")
    recording = work / "recording"
    if recording.is_dir():
        from liverec_edge.record.segments import assemble, recording_segments

        recordings = recording_segments(recording)
        if recordings:
            segments = list(recordings.values())[-1]  # this run's: earlier runs in a reused --out stay beside it
            target = assemble(segments, work / "target.mkv")
            print(f"  record    {len(segments)} segments → target recording {target}")


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0:
        print("--seconds must be positive", file=sys.stderr)
        return 2
    if not PORTRAIT.is_file():
        print(f"liverec-edge demo: the demo portrait is missing ({PORTRAIT}); run `python tools/fetch_models.py` "
              "(the README's demo command does)", file=sys.stderr)
        return 2
    if shutil.which("espeak-ng") is None:
        print("liverec-edge demo: espeak-ng is not installed (Debian package espeak-ng); the README's demo command "
              "installs it", file=sys.stderr)
        return 2
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_run(args, args.out))
    with tempfile.TemporaryDirectory(prefix="liverec-demo-") as tmp:
        return asyncio.run(_run(args, Path(tmp)))

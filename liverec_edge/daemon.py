"""``liverec-edge run --config F``: the one asyncio process that runs every stage and talks to systemd.

What the process does
---------------------
- Builds one :class:`~liverec_edge.pipeline.StageContext` (validated config, capture clock, rings, bounded event bus,
  :class:`~liverec_edge.control.state.ControlState`) and runs each stage from :func:`build_stages` under the
  :class:`~liverec_edge.pipeline.Pipeline` supervisor: a stage that raises is restarted with backoff (or disabled);
  the daemon itself never goes down with it.
- sd_notify: READY=1 once capture produces; STATUS=… every couple of seconds; WATCHDOG=1 at half WATCHDOG_USEC
  only while every stage progressed within ``daemon.watchdog_stall_s``; RELOADING=1/READY=1 around a reload;
  STOPPING=1 on shutdown.
- SIGTERM/SIGINT: stages get ``daemon.shutdown_timeout_s`` to stop, then are cancelled; exit 0 within 2 s.
- SIGHUP: the config file is read and validated again. Invalid → the running config stays and every problem is
  logged with its key path. Valid → the context gets the new config, the daemon applies ``logging.level`` and the
  ``daemon.*`` timings, each stage applies what it can live, and every other changed key is logged as needing a
  restart. Capture is never restarted by a reload.

Plugging a stage in: add it to :func:`build_stages` (see the contract in :mod:`liverec_edge.pipeline`), or pass a
list to :func:`run_daemon` / :func:`run_blocking` (``liverec-edge demo`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from liverec_edge.logs import kv

if TYPE_CHECKING:
    from liverec_edge.config import Config
    from liverec_edge.control.state import DaemonStatus
    from liverec_edge.pipeline import DropOldestQueue, Pipeline, RestartPolicy, Stage, StageContext
    from liverec_edge.sdnotify import Notifier

log = logging.getLogger("liverec_edge.daemon")

#: How often the daemon looks at the pipeline (READY detection, stall transitions, tags and faults for status).
TICK_S = 0.25
#: How often STATUS= is refreshed (systemctl status shows it; identical texts are not re-sent).
STATUS_EVERY_S = 1.0
#: How often the status goes to the log as well (a box without a systemd status view still shows its health).
STATUS_LOG_EVERY_S = 60.0
#: How long a fault stays in the status after it was reported.
FAULT_SHOWN_S = 5.0
#: Daemon-level keys a reload applies itself (stages claim their own through ``reconfigure``).
DAEMON_LIVE_KEYS = frozenset({"logging.level", "daemon.watchdog_stall_s", "daemon.shutdown_timeout_s"})


# --- CLI ----------------------------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, default=None,
                        help="YAML config file (default: built-in defaults, the simulated studio)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="stop by itself after this many seconds (tests, demos); default: run until SIGTERM")
    # Its own dest: a sub-parser default would otherwise overwrite a `liverec-edge --log-level X run` given earlier.
    parser.add_argument("--log-level", dest="run_log_level", default=None,
                        choices=["debug", "info", "warning", "error"],
                        help="stderr log level; overrides the config's logging.level, also across reloads")


def run(args: argparse.Namespace) -> int:
    from liverec_edge.config import ConfigError, load_config

    log_level = getattr(args, "run_log_level", None) or getattr(args, "log_level", None)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.seconds is not None and args.seconds <= 0:
        print("--seconds must be positive", file=sys.stderr)
        return 2
    return run_blocking(config, seconds=args.seconds, config_path=args.config, log_level=log_level)


# --- entry points -------------------------------------------------------------------------------------------------

def build_stages(config: Config) -> list[Stage]:
    """The stages of a production daemon, in data-flow order. **Add analysis stages here.**"""
    from liverec_edge.audio.stage import FaultStage
    from liverec_edge.behaviour.stage import BehaviourStage
    from liverec_edge.control.stage import ControlStage
    from liverec_edge.mixer.drive import MixerDriveStage
    from liverec_edge.pipeline import CaptureStage
    from liverec_edge.record.stage import RecordStage
    from liverec_edge.vision.stage import VisionStage

    # Without a hardware desk the software console is the mixer: the mixer stage drives it and the record stage
    # runs the captured audio through it, so the target recording carries what the strategies did.
    soft_console = None
    if config.mixer.parsed_url.scheme == "soft":
        from liverec_edge.mixer.soft import SoftConsole

        soft_console = SoftConsole(config.capture.audio.rate, channels=max(config.mixer.channels.values()))
    stages: list[Stage] = [CaptureStage(), VisionStage(), BehaviourStage(), FaultStage(),
                           MixerDriveStage(soft_console)]
    if config.record.enabled:
        stages.append(RecordStage(soft_console))
    if config.control.enabled:
        stages.append(ControlStage())
    return stages


async def run_daemon(
    config: Config,
    *,
    seconds: float | None = None,
    stages: Sequence[Stage] | None = None,
    config_path: str | Path | None = None,
    log_level: str | None = None,
    notifier: Notifier | None = None,
    handle_signals: bool = True,
    policy: RestartPolicy | None = None,
) -> int:
    """Run the daemon in the current event loop until SIGTERM/SIGINT or ``seconds``; returns the exit code.

    ``stages`` None runs :func:`build_stages`; a list runs exactly those. ``config_path`` is what SIGHUP re-reads
    (None: reload is refused with a log line). ``log_level`` pins the level over the config's, across reloads.
    """
    daemon = Daemon(config, config_path=config_path, log_level=log_level, notifier=notifier, policy=policy)
    return await daemon.run(stages if stages is not None else build_stages(config), seconds=seconds,
                            handle_signals=handle_signals)


def run_blocking(config: Config, **kwargs: Any) -> int:
    """:func:`run_daemon` in a fresh event loop, with a hard bound on exit time.

    ``asyncio.run`` would wait at exit for every ``to_thread`` worker still inside a blocking call (a wedged ALSA
    read, a long inference); the service must exit within systemd's stop timeout regardless, so workers that are
    still busy after shutdown are abandoned and the process leaves with ``os._exit``.
    """
    # The systemd watchdog kills with SIGABRT: have it print every thread's Python stack to the journal first.
    faulthandler.enable()
    loop = asyncio.new_event_loop()
    executor = ThreadPoolExecutor(thread_name_prefix="liverec-worker")  # asyncio.to_thread runs here
    loop.set_default_executor(executor)
    code = 1
    try:
        code = loop.run_until_complete(run_daemon(config, **kwargs))
    finally:
        with contextlib.suppress(Exception):
            _cancel_leftovers(loop)
        executor.shutdown(wait=False, cancel_futures=True)
        loop.close()
    busy = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if busy:
        deadline = time.monotonic() + 0.1  # they had their time in the stages' stop(); this is only a last look
        for thread in busy:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = [t for t in busy if t.is_alive()]
    if busy:
        log.warning("abandoning threads still busy at exit", extra=kv(threads=",".join(t.name for t in busy)))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.wait(tasks, timeout=0.2))


# --- the daemon ---------------------------------------------------------------------------------------------------

class Daemon:
    """One run of the daemon. Owns the context, the pipeline, the notifier and the operator state."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: str | Path | None = None,
        log_level: str | None = None,
        notifier: Notifier | None = None,
        policy: RestartPolicy | None = None,
    ):
        from liverec_edge.control.state import ControlState
        from liverec_edge.pipeline import TOPIC_CONTROL, EventBus, StageContext
        from liverec_edge.sdnotify import Notifier

        self.config_path = Path(config_path) if config_path is not None else None
        self.log_level_override = log_level
        self.policy = policy
        self._owns_notifier = notifier is None
        self.notifier = notifier or Notifier.from_environment()
        bus = EventBus()
        control = ControlState(armed=config.control.armed_at_start,
                               on_change=lambda change: bus.publish(TOPIC_CONTROL, change))
        self.ctx: StageContext = StageContext(config, bus=bus, control=control)
        self.ctx.status = self.status
        self.pipeline: Pipeline | None = None
        self._stop = asyncio.Event()
        self._reload_requested = asyncio.Event()
        self._stop_reason = ""
        self.ready = False
        self._stalled: list[str] = []
        self._open_tags: dict[str, tuple[str, float]] = {}
        self._recent_faults: list[tuple[str, float]] = []
        self._apply_log_level(config)

    # --- lifecycle -----------------------------------------------------------------------------------------------

    async def run(self, stages: Iterable[Stage], *, seconds: float | None = None, handle_signals: bool = True) -> int:
        from liverec_edge.pipeline import TOPIC_FAULTS, TOPIC_TAGS, Pipeline

        config = self.ctx.config
        self.pipeline = Pipeline(self.ctx, stages, self.policy)
        log.info("daemon starting", extra=kv(
            pid=os.getpid(), config=self.config_path or "(defaults)", stages=",".join(self.pipeline.records),
            notify=self.notifier.backend, watchdog_s=self.notifier.watchdog_interval_s * 2,
            stall_s=config.daemon.watchdog_stall_s))
        self.notifier.status("starting")
        installed = self._install_signal_handlers() if handle_signals else []
        # Subscribed before any stage runs, so the first tag or fault published is not missed.
        tags = self.ctx.bus.subscribe(TOPIC_TAGS, owner="daemon", maxsize=64)
        faults = self.ctx.bus.subscribe(TOPIC_FAULTS, owner="daemon", maxsize=64)
        self.pipeline.start()
        housekeeping = asyncio.create_task(self._housekeeping(tags, faults), name="daemon:housekeeping")
        reloader = asyncio.create_task(self._reload_loop(), name="daemon:reload")
        try:
            if seconds is None:
                await self._stop.wait()
            else:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), seconds)
                self._stop_reason = self._stop_reason or f"--seconds {seconds:g} elapsed"
        finally:
            await self._shutdown(housekeeping, reloader)
            for sig in installed:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_signal_handler(sig)
        return 0

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            log.info("stopping", extra=kv(reason=reason))
            self._stop_reason = reason
        self._stop.set()

    def request_reload(self) -> None:
        self._reload_requested.set()

    def _install_signal_handlers(self) -> list[int]:
        loop = asyncio.get_running_loop()
        installed = []
        handlers: dict[int, Callable[[], None]] = {
            signal.SIGTERM: lambda: self.request_stop("SIGTERM"),
            signal.SIGINT: lambda: self.request_stop("SIGINT"),
            signal.SIGHUP: self.request_reload,
        }
        for sig, handler in handlers.items():
            try:
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
                log.warning("cannot handle signal", extra=kv(signal=signal.Signals(sig).name))
        return installed

    async def _shutdown(self, *helpers: asyncio.Task[None]) -> None:
        started = time.monotonic()
        self.notifier.stopping()
        self.notifier.status(f"stopping ({self._stop_reason or 'requested'})")
        for task in helpers:
            task.cancel()
        assert self.pipeline is not None
        await self.pipeline.stop(self.ctx.config.daemon.shutdown_timeout_s)
        await asyncio.gather(*helpers, return_exceptions=True)
        self.ctx.bus.unsubscribe_owner("daemon")
        if self._owns_notifier:
            self.notifier.close()
        log.info("daemon stopped", extra=kv(reason=self._stop_reason, took_s=time.monotonic() - started,
                                            analysis_skipped=self.ctx.bus.dropped))

    # --- housekeeping: READY, WATCHDOG, STATUS ---------------------------------------------------------------------

    async def _housekeeping(self, tags: DropOldestQueue[Any], faults: DropOldestQueue[Any]) -> None:
        assert self.pipeline is not None
        next_ping = next_status = time.monotonic()
        next_status_log = next_ping + STATUS_LOG_EVERY_S
        while True:
            now = time.monotonic()
            try:
                self._note_activity(tags.drain(), faults.drain(), now)
                if not self.ready and self.pipeline.producing():
                    self.ready = True
                    self.notifier.ready(self.status_text())
                    log.info("ready: capture is producing", extra=kv(status=self.status_text()))
                stalled = self.pipeline.stalled(self.ctx.config.daemon.watchdog_stall_s, now)
                self._log_stall_transition(stalled)
                if now >= next_ping:
                    next_ping = now + self.notifier.watchdog_interval_s
                    if self.ready and not stalled:
                        self.notifier.watchdog()
                if now >= next_status:
                    next_status = now + STATUS_EVERY_S
                    self.notifier.status(self.status_text())
                if now >= next_status_log:
                    next_status_log = now + STATUS_LOG_EVERY_S
                    log.info("status", extra=kv(status=self.status_text()))
            except Exception:  # housekeeping must outlive any surprise in a stage's health() or progress()
                log.exception("daemon housekeeping failed")
            # A watchdog shorter than a couple of ticks (WatchdogSec=1) still gets its pings on time.
            await asyncio.sleep(min(TICK_S, self.notifier.watchdog_interval_s / 2))

    def _log_stall_transition(self, stalled: list[str]) -> None:
        if stalled and not self._stalled:
            log.error("pipeline stalled: the systemd watchdog is no longer fed",
                      extra=kv(stages=",".join(stalled), stall_s=self.ctx.config.daemon.watchdog_stall_s))
        elif not stalled and self._stalled:
            log.warning("pipeline progressing again: watchdog fed", extra=kv(was=",".join(self._stalled)))
        elif stalled != self._stalled:
            log.error("pipeline still stalled", extra=kv(stages=",".join(stalled)))
        self._stalled = stalled

    def _note_activity(self, tags: list[Any], faults: list[Any], now: float) -> None:
        for tag in tags:
            tag_id, behaviour, is_open = getattr(tag, "id", ""), getattr(tag, "behaviour", "?"), getattr(tag, "open", 0)
            if is_open:
                self._open_tags[str(tag_id)] = (str(behaviour), now)
            else:
                self._open_tags.pop(str(tag_id), None)
        # A tag whose producer died never closes: forget it after a while rather than show it for ever; and keep
        # only the newest few, so a stage minting ids in a loop cannot grow this.
        fresh = sorted(((k, v) for k, v in self._open_tags.items() if now - v[1] < 30.0), key=lambda kv_: kv_[1][1])
        self._open_tags = dict(fresh[-64:])
        self._recent_faults += [(str(getattr(f, "type", "?")), now) for f in faults]
        self._recent_faults = [(t, seen) for t, seen in self._recent_faults if now - seen < FAULT_SHOWN_S][-32:]

    def status(self) -> DaemonStatus:
        """The state the tablet and STATUS= show, assembled from every stage's health."""
        from liverec_edge.control.state import DaemonStatus

        health = self.pipeline.health() if self.pipeline is not None else {}
        critical = [n for n, r in (self.pipeline.records.items() if self.pipeline else ()) if r.stage.critical]
        fps = _first_number(health, "fps", prefer=critical)
        frames = int(_first_number(health, "frames", prefer=critical))
        audio_rate = int(_first_number(health, "audio_rate", prefer=critical))
        drops = int(sum(_as_number(v.get("drops", 0)) for v in health.values()))
        desk = next((str(v["desk"]) for v in health.values() if "desk" in v), "none")
        disabled = [n for n, v in health.items() if v.get("state") == "disabled"]
        problems = [f"{n}: {v['problem']}" for n, v in health.items() if v.get("problem")]
        if not self.ready:
            state = "starting"
        elif self._stalled:
            state = "stalled: " + ",".join(self._stalled)
        elif disabled or problems:
            state = "degraded: " + "; ".join([*(f"{n} disabled" for n in disabled), *problems])
        else:
            state = "ok"
        control = self.ctx.control
        return DaemonStatus(
            armed=control.armed, bypass=control.bypass, fps=fps, frames=frames, audio_rate=audio_rate, drops=drops,
            skipped=self.ctx.bus.dropped, desk=desk,
            tags=tuple(sorted({b for b, _ in self._open_tags.values()})),
            faults=tuple(sorted({t for t, _ in self._recent_faults})),
            health=state, thresholds=control.thresholds,
        )

    def status_text(self) -> str:
        s = self.status()
        mode = ("armed" if s.armed else "disarmed") + (", bypass" if s.bypass else "")
        text = (f"{s.health}; video {s.fps:.1f} fps ({s.frames} frames), audio {s.audio_rate} Hz, "
                f"drops {s.drops}, analysis skipped {s.skipped}, desk {s.desk}, {mode}")
        if s.tags:
            text += "; tags " + ",".join(s.tags)
        if s.faults:
            text += "; faults " + ",".join(s.faults)
        return text

    # --- reload ----------------------------------------------------------------------------------------------------

    async def _reload_loop(self) -> None:
        while True:
            await self._reload_requested.wait()
            self._reload_requested.clear()  # signals arriving during a reload coalesce into one more
            try:
                await self.reload()
            except Exception:
                log.exception("config reload failed; keeping the running config")

    async def reload(self) -> bool:
        """Re-read the config file; returns whether a new config was taken."""
        from liverec_edge.config import ConfigError, load_config

        if self.config_path is None:
            log.warning("SIGHUP ignored: the daemon runs on built-in defaults, there is no config file to re-read")
            return False
        was_ready = self.ready  # RELOADING=1 must be answered by READY=1; before READY there is nothing to answer
        if was_ready:
            self.notifier.reloading()
        try:
            try:
                new = await asyncio.to_thread(load_config, self.config_path)
            except ConfigError as exc:
                for problem in exc.problems:
                    log.error("config reload rejected, keeping the running config",
                              extra=kv(file=self.config_path, problem=problem))
                return False
            old = self.ctx.config
            changed = frozenset(changed_keys(old.model_dump(), new.model_dump()))
            if not changed:
                log.info("config reloaded: nothing changed", extra=kv(file=self.config_path))
                return True
            self.ctx.replace_config(new)
            applied = {k for k in changed if k in DAEMON_LIVE_KEYS}
            if self.log_level_override and "logging.level" in changed:
                log.info("logging.level changed in the file; --log-level on the command line still wins",
                         extra=kv(level=self.log_level_override))
            self._apply_log_level(new)
            assert self.pipeline is not None
            applied |= self.pipeline.reconfigure(new, changed)
            needs_restart = sorted(changed - applied)
            log.info("config reloaded", extra=kv(file=self.config_path, applied=",".join(sorted(applied)) or "-"))
            if needs_restart:
                log.warning("config changes that take effect only when the daemon restarts",
                            extra=kv(keys=",".join(needs_restart)))
            return True
        finally:
            if was_ready:
                self.notifier.ready(self.status_text())

    def _apply_log_level(self, config: Config) -> None:
        level = self.log_level_override or config.logging.level.value
        logging.getLogger().setLevel(level.upper())


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of the leaves that differ between two nested config dumps."""
    keys: set[str] = set()
    for key in set(old) | set(new):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            keys |= changed_keys(a, b, path + ".")
        elif a != b:
            keys.add(path)
    return keys


def _as_number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _first_number(health: Mapping[str, Mapping[str, Any]], key: str, prefer: Sequence[str]) -> float:
    for name in [*prefer, *health]:
        if name in health and key in health[name]:
            return _as_number(health[name][key])
    return 0.0

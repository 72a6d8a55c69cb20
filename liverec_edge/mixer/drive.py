"""The mixer stage of the daemon: :class:`MixerCommand` from the analysis → the action engine → the console.

It opens the configured console through :class:`~liverec_edge.mixer.stage.MixerStage` (journal replayed first),
applies commands only while the operator has the daemon armed and not bypassed, releases everything when the tablet
asks or bypass is switched on, and restores every daemon-owned change when it stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

from liverec_edge.logs import kv
from liverec_edge.pipeline import (
    TOPIC_ACTIONS,
    TOPIC_CONTROL,
    DropOldestQueue,
    HealthValue,
    StageBase,
    StageContext,
)
from liverec_edge.types import MixerCommand

log = logging.getLogger("liverec_edge.mixer")


class MixerDriveStage(StageBase):
    name = "mixer"

    def __init__(self, soft_console: Any = None) -> None:
        super().__init__()
        self.soft_console = soft_console
        self.mixer: Any = None
        self.engine: Any = None
        self.applied = 0
        self.refused = 0
        self.withheld = 0
        #: The latest changes, newest last: (owner, param, value, reason) — what the demo and the tablet show.
        self.recent: deque[tuple[str, str, Any, str]] = deque(maxlen=64)
        self._commands: DropOldestQueue[MixerCommand] | None = None
        self._control: DropOldestQueue[Any] | None = None

    async def start(self, ctx: StageContext) -> None:
        from liverec_edge.mixer.stage import MixerStage

        self._commands = ctx.bus.subscribe(TOPIC_ACTIONS, owner=self.name, maxsize=64)
        self._control = ctx.bus.subscribe(TOPIC_CONTROL, owner=self.name, maxsize=16)
        self.mixer = MixerStage(ctx.config.mixer, state_dir=ctx.config.daemon.state_dir,
                                soft_console=self.soft_console, logger=log)
        self.engine = await self.mixer.start()

    async def run(self, ctx: StageContext) -> None:
        assert self._commands is not None and self._control is not None, "run() before start()"
        while True:
            for change in self._control.drain():
                await self._on_control(change)
            command = await self._commands.get(timeout=0.5)
            self.meter.beat()
            if command is not None:
                await self._execute(command, ctx)

    async def _on_control(self, change: Any) -> None:
        if change.kind == "release" or (change.kind == "bypass" and change.value) or \
                (change.kind == "armed" and not change.value):
            released = await self.engine.release_all()
            log.info("released every daemon-owned change", extra=kv(why=change.kind, source=change.source,
                                                                    params=len(released)))

    async def _execute(self, command: MixerCommand, ctx: StageContext) -> None:
        if command.kind == "release":
            released = await (self.engine.release_all() if command.owner == "*" else
                              self.engine.release(command.owner))
            if released:
                log.info("released", extra=kv(owner=command.owner, params=",".join(released), why=command.reason))
            return
        if not ctx.control.may_act:
            self.withheld += 1
            log.info("not armed or bypassed: actions withheld", extra=kv(owner=command.owner, why=command.reason,
                                                                         actions=len(command.actions)))
            return
        for action in command.actions:
            result = await self.engine.apply(action)
            if result.accepted:
                self.applied += 1
                self.recent.append((action.owner, action.param, result.effective, action.reason))
            else:
                self.refused += 1
                log.info("action refused", extra=kv(param=action.param, owner=action.owner, why=result.reason))
        log.info("applied", extra=kv(owner=command.owner, why=command.reason,
                                     params=",".join(a.param for a in command.actions)))

    async def stop(self) -> None:
        if self.mixer is not None:
            mixer, self.mixer = self.mixer, None
            try:
                await asyncio.wait_for(mixer.close(restore=True), timeout=1.0)
            except (asyncio.TimeoutError, OSError) as exc:
                log.warning("mixer did not close cleanly; the journal restores at next start",
                            extra=kv(error=str(exc)))

    def health(self) -> Mapping[str, HealthValue]:
        figures: dict[str, HealthValue] = {"applied": self.applied, "refused": self.refused,
                                           "withheld": self.withheld}
        if self.mixer is not None:
            figures["desk"] = str(self.mixer.state.value if hasattr(self.mixer.state, "value") else self.mixer.state)
        if self.engine is not None:
            figures["held"] = len(self.engine.holdings())
        return figures

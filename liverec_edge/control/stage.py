"""The control server as a supervised pipeline stage (a failed bind is retried with backoff, never fatal)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING

from liverec_edge.control.server import ControlServer, ControlStats
from liverec_edge.control.state import DaemonStatus
from liverec_edge.logs import kv
from liverec_edge.pipeline import HealthValue, StageBase, StageContext

if TYPE_CHECKING:
    from liverec_edge.config import Config

log = logging.getLogger("liverec_edge.control")

#: Keys of the ``control`` section a SIGHUP applies without reopening the socket.
LIVE_KEYS = frozenset({"control.allow", "control.max_packet_bytes"})


class ControlStage(StageBase):
    name = "control"

    def __init__(self) -> None:
        super().__init__()
        self.server: ControlServer | None = None
        self._final_stats: ControlStats | None = None

    async def start(self, ctx: StageContext) -> None:
        control = ctx.control

        def status_without_daemon() -> DaemonStatus:
            return DaemonStatus(armed=control.armed, bypass=control.bypass, thresholds=control.thresholds)

        server = ControlServer(ctx.config.control, control, ctx.status or status_without_daemon)
        host, port = await server.start()
        self.server = server
        log.info("control listening", extra=kv(host=host, port=port, allow=",".join(map(str, server.settings.allow))))

    async def run(self, ctx: StageContext) -> None:
        # The datagram endpoint does the work from the event loop; this task only keeps the stage "running".
        await asyncio.Event().wait()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self._final_stats = self.server.stats  # still shown by health() after the stop
            self.server = None

    def progress(self) -> float | None:
        return None  # idle by design: a quiet tablet is not a stall

    def health(self) -> Mapping[str, HealthValue]:
        stats = self.server.stats if self.server is not None else self._final_stats
        if stats is None:
            return {}
        values: dict[str, HealthValue] = dict(asdict(stats))
        if self.server is not None and self.server.address is not None:
            values["port"] = self.server.address[1]
        return values

    def reconfigure(self, config: Config, changed: frozenset[str]) -> set[str]:
        live = {key for key in changed if key in LIVE_KEYS or any(key.startswith(k + ".") for k in LIVE_KEYS)}
        if self.server is not None and live:
            self.server.update_settings(config.control)
        return live

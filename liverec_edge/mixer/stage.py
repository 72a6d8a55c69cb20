"""The mixer stage as the daemon uses it: open the configured console, replay the journal, hand out the engine.

::

    stage = MixerStage(config.mixer, state_dir=config.daemon.state_dir, soft_console=console_or_None)
    engine = await stage.start()          # journal replayed before this returns
    result = await engine.apply(action)   # liverec_edge.types.Action
    await engine.release(tag_id)          # tag end
    await stage.close()                   # restores everything the daemon still holds

``mixer.url`` picks the backend: ``x32://`` / ``xair://`` (an OSC desk), ``sim://x32`` / ``sim://xair`` (an in-process
desk simulator on 127.0.0.1, for the demo) or ``soft://`` (the software console the daemon passes in).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from liverec_edge.logs import kv
from liverec_edge.mixer.actions import MixerEngine
from liverec_edge.mixer.backend import ConnectionState, ConsoleBackend, MixerError, MixerIncompatible
from liverec_edge.mixer.firmware import load_firmware
from liverec_edge.mixer.journal import Journal
from liverec_edge.mixer.osc import OscConsole
from liverec_edge.mixer.settings import MixerSettings


class MixerStage:
    def __init__(
        self,
        settings: MixerSettings,
        state_dir: str | Path | None = None,
        *,
        soft_console: Any = None,
        logger: logging.Logger | None = None,
    ):
        self.settings = settings
        self.state_dir = Path(settings.state_dir or state_dir or ".")
        self.soft_console = soft_console
        self._log = logger or logging.getLogger("liverec_edge.mixer")
        self.backend: ConsoleBackend | None = None
        self.desk: OscConsole | None = None
        self.simulator: Any = None
        self.engine: MixerEngine | None = None

    @property
    def state(self) -> ConnectionState:
        """The desk connection's state (a soft console is always connected)."""
        if self.desk is not None:
            return self.desk.state
        return ConnectionState.CONNECTED if self.backend is not None else ConnectionState.CLOSED

    async def start(self, connect_timeout_s: float = 3.0) -> MixerEngine:
        """Open the console, replay the journal, start the engine. A desk that does not answer yet is not an error
        (the backend keeps reconnecting, the journal replay is retried); a desk of the wrong model is."""
        url = self.settings.parsed_url
        if url.scheme == "soft":
            if self.soft_console is None:
                raise MixerError("mixer.url is soft:// but no software console was given to the mixer stage")
            from liverec_edge.mixer.soft import SoftConsoleBackend

            self.backend = SoftConsoleBackend(self.soft_console)
        else:
            firmware = load_firmware(self.settings.firmware_name)
            host, port = url.host, url.port
            if url.scheme == "sim":
                from liverec_edge.mixer.simulator import MixerSimulator

                self.simulator = MixerSimulator(firmware, "127.0.0.1", 0, name="demo-desk")
                await self.simulator.start()
                host, port = "127.0.0.1", self.simulator.port
            self.desk = OscConsole(
                firmware, host, port, aliases=self.settings.channels, reply_timeout_s=self.settings.reply_timeout_s,
                retries=self.settings.retries, renew_s=self.settings.xremote_renew_s,
                rate_limit_hz=self.settings.rate_limit_hz, backoff_max_s=self.settings.connect_backoff_max_s,
                batch_interval_s=self.settings.batch_interval_ms / 1000.0,
            )
            self.backend = self.desk
            try:
                info = await self.desk.connect(connect_timeout_s)
                self._log.info("desk connected", extra=kv(model=info.model, firmware=info.firmware, name=info.name))
            except MixerIncompatible:
                await self.desk.close()
                raise
            except MixerError as exc:
                self._log.warning("desk not answering yet; will keep trying", extra=kv(error=str(exc)))
        journal = None if self.settings.dry_run else Journal(self.state_dir)
        self.engine = MixerEngine(self.backend, self.settings, journal=journal)
        await self.engine.start()
        return self.engine

    async def close(self, restore: bool = True) -> None:
        if self.engine is not None:
            await self.engine.close(restore=restore)
        if self.desk is not None:
            await self.desk.close()
        if self.simulator is not None:
            await asyncio.sleep(0.05)  # let the restoring datagrams land before the in-process desk goes away
            await self.simulator.stop()

"""Helpers shared by the mixer tests: a desk connection tuned for loopback tests, and waiting for things to happen."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from liverec_edge.mixer.osc import OscConsole
from liverec_edge.mixer.simulator import MixerSimulator

LOOPBACK = "127.0.0.1"


def fast_console(sim: MixerSimulator, **kwargs: Any) -> OscConsole:
    """An OSC desk backend for ``sim`` with short timeouts, renewals and backoff, so tests run in seconds."""
    options: dict[str, Any] = {"reply_timeout_s": 0.1, "retries": 3, "renew_s": 0.3, "backoff_initial_s": 0.05,
                               "backoff_max_s": 0.2}
    options.update(kwargs)
    return OscConsole(sim.firmware, LOOPBACK, sim.port, **options)


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll a condition: these tests wait for things to happen, never assert on how fast."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)

"""Hand the newest item from a producer thread to one asyncio consumer, dropping what it had no time for.

Analysis that falls behind must skip frames rather than queue them: a slot holds at most one item, a newer ``put``
replaces an item not yet taken and counts it in ``dropped``. Thread-safe on the producer side; the consumer side
is one asyncio task.

Public API::

    slot: LatestSlot[Frame] = runner.subscribe_frames()
    frame = await slot.next(timeout=None)     # the newest item not yet taken; SlotClosed after close()
    slot.poll() -> item | None                # without waiting
    slot.put(item)                            # any thread
    slot.close()
    slot.delivered, slot.dropped
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class SlotClosed(Exception):
    """The producer side is gone (capture stopped): no more items will come."""


class LatestSlot(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self.delivered = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        """Offer the newest item (from any thread); an item not yet taken is replaced and counted as dropped."""
        with self._lock:
            if self._closed:
                return
            if self._has_item:
                self.dropped += 1
            self._item = item
            self._has_item = True
            loop, event = self._loop, self._event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the consumer's loop is closed; nobody is waiting
                loop.call_soon_threadsafe(event.set)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            loop, event = self._loop, self._event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    @property
    def closed(self) -> bool:
        return self._closed

    def poll(self) -> T | None:
        """Take the item if there is one, without waiting."""
        with self._lock:
            if not self._has_item:
                return None
            item, self._item, self._has_item = self._item, None, False
            self.delivered += 1
            return item

    async def next(self, timeout: float | None = None) -> T:
        """Wait for and take the newest item. Raises ``SlotClosed`` once closed and empty, ``TimeoutError``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is not loop:  # bind to the consumer's loop on first use
                self._loop = loop
                self._event = asyncio.Event()
            event = self._event
        assert event is not None
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            event.clear()
            with self._lock:
                if self._has_item:
                    item, self._item, self._has_item = self._item, None, False
                    self.delivered += 1
                    return item  # type: ignore[return-value]
                if self._closed:
                    raise SlotClosed("capture stopped")
            if deadline is None:
                await event.wait()
            else:
                await asyncio.wait_for(event.wait(), max(0.0, deadline - loop.time()))

"""What the action engine needs from a console: the ``ConsoleBackend`` protocol, and the errors every backend raises.

Two backends implement it: the OSC desk (``mixer/osc.py``: X32/M32, X-Air) and the software console
(``mixer/soft/``). Values are engineering units in and out (dB, Hz, ms, enum names or numeric enum values), parameter
names are the strip's (``ch01.hpf.freq``). A backend holds values on its grid: ``set`` returns what the console
actually holds, and ``snap`` says in advance what that will be, so two values are the same grid point exactly when
their snapped values are equal.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from liverec_edge.mixer.laws import EngValue

#: called with (parameter name, new value) for a change the backend did not make itself
ExternalChangeCallback = Callable[[str, EngValue], None]


class MixerError(Exception):
    """Base of every mixer failure; the message says what is wrong in words an installer can act on."""


class MixerTimeout(MixerError):
    """The desk did not answer (after the configured retries)."""


class MixerUnreachable(MixerError):
    """The desk is not connected right now (the backend keeps trying in the background)."""


class MixerIncompatible(MixerError):
    """The desk answered but is not the model/firmware of the configured firmware file."""


class ConnectionState(str, enum.Enum):
    CONNECTING = "connecting"  # first handshake not answered yet
    CONNECTED = "connected"  # handshake answered, subscription live
    UNREACHABLE = "unreachable"  # no answer: retrying with backoff
    INCOMPATIBLE = "incompatible"  # answered with the wrong model/firmware: not retried
    CLOSED = "closed"


@runtime_checkable
class ConsoleBackend(Protocol):
    """A console the action engine can drive. Implemented by the OSC desk and by the software console."""

    async def get(self, param: str) -> EngValue:
        """The parameter's current value, read from the console (not from a cache)."""
        ...

    async def set(self, param: str, value: EngValue) -> EngValue:
        """Set the parameter; returns the value as the console holds it (snapped to its grid)."""
        ...

    def snap(self, param: str, value: EngValue) -> EngValue:
        """The value the console would hold after ``set(param, value)``; raises ``ValueError`` if it cannot."""
        ...

    def on_external_change(self, callback: ExternalChangeCallback) -> Callable[[], None]:
        """Call ``callback(param, value)`` whenever the console reports a change this backend did not send
        (an engineer on the surface, another client). Returns a function that unsubscribes."""
        ...

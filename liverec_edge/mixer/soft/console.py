"""The software console: N mono channel strips summed to a mono main mix, with sample-accurate automation."""

from __future__ import annotations

import heapq
import itertools
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from liverec_edge.mixer.soft.params import CHANNEL_SPECS, MAIN_SPECS, ParamSpec, check_and_snap
from liverec_edge.mixer.soft.smoothing import GainRamp
from liverec_edge.mixer.soft.strip import ChannelStrip, db_to_gain

#: Input samples are clamped to ±this (+60 dBFS): far beyond any real signal, small enough that no filter state
#: or level computation can overflow to inf (and so never to NaN).
INPUT_LIMIT = 1000.0
#: Long blocks (whole files) are processed in pieces of at most this many samples to bound temporary memory.
MAX_SEGMENT = 8192
MAX_CHANNELS = 99  # two-digit channel names
_CHANNEL_PARAM = re.compile(r"^ch(\d{2})\.(.+)$")

ExternalChangeCallback = Callable[[str, "float | str"], None]


@dataclass(order=True)
class _Change:
    at: float  # stream time (s); −inf = at the start of the next block
    seq: int
    channel: int = field(compare=False)  # 0-based, −1 = main
    key: str = field(compare=False)
    value: float | str = field(compare=False)
    name: str = field(compare=False)


class SoftConsole:
    """A software console with the X32 channel strip (see the package docstring for the API and behaviour)."""

    def __init__(
        self,
        rate: int,
        channels: int = 1,
        *,
        grid: bool = True,
        ramp_ms: float = 15.0,
        crossfade_ms: float = 20.0,
        prime_max_ms: float = 1000.0,
    ) -> None:
        if not isinstance(rate, int) or not 8000 <= rate <= 384000:
            raise ValueError(f"rate must be an integer sample rate in 8000…384000 Hz, not {rate!r}")
        if not isinstance(channels, int) or not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"channels must be an integer in 1…{MAX_CHANNELS}, not {channels!r}")
        for label, ms in (("ramp_ms", ramp_ms), ("crossfade_ms", crossfade_ms), ("prime_max_ms", prime_max_ms)):
            if not (math.isfinite(ms) and 0.0 <= ms <= 10000.0):
                raise ValueError(f"{label} must be in 0…10000 ms, not {ms!r}")
        self.rate = rate
        self.channels = channels
        self.grid = grid
        self._ramp_samples = round(ramp_ms * rate / 1000.0)
        crossfade_samples = round(crossfade_ms * rate / 1000.0)
        prime_samples = round(prime_max_ms * rate / 1000.0)
        # Defaults are held as the desk would hold them (on its grid), like every value set later.
        channel_defaults = {key: check_and_snap(key, spec, spec.default, grid) for key, spec in CHANNEL_SPECS.items()}
        self._strips = [
            ChannelStrip(rate, self._ramp_samples, crossfade_samples, prime_samples, channel_defaults)
            for _ in range(channels)
        ]
        self._main_values = {key: check_and_snap(key, spec, spec.default, grid) for key, spec in MAIN_SPECS.items()}
        self._main_gain = _MainGain(self._main_values)
        self._held: dict[str, float | str] = {}
        for index in range(channels):
            for key, value in channel_defaults.items():
                self._held[f"ch{index + 1:02d}.{key}"] = value
        for key, value in self._main_values.items():
            self._held[f"main.{key}"] = value
        self._pending: list[_Change] = []
        self._seq = 0
        self._lock = threading.Lock()  # set()/get() may come from the event loop while process() runs in a worker
        #: Count of NaN/inf input samples replaced by silence since creation (a sign of a broken source).
        self.nonfinite_samples = 0

    # --- parameters ---------------------------------------------------------------------------------------------

    def parameters(self) -> dict[str, ParamSpec]:
        """Every parameter name of this console with its spec (unit, range, grid, default; ``range_text()``)."""
        listing = {
            f"ch{index + 1:02d}.{key}": spec for index in range(self.channels) for key, spec in CHANNEL_SPECS.items()
        }
        listing.update({f"main.{key}": spec for key, spec in MAIN_SPECS.items()})
        return listing

    def _resolve(self, param: str) -> tuple[int, str, ParamSpec]:
        if not isinstance(param, str):
            raise ValueError(f"parameter name must be a string like 'ch01.fader', not {param!r}")
        if param.startswith("main."):
            key = param[5:]
            if key in MAIN_SPECS:
                return -1, key, MAIN_SPECS[key]
            raise ValueError(f"unknown parameter {param!r}; main has: {', '.join(MAIN_SPECS)}")
        match = _CHANNEL_PARAM.match(param)
        if match is None:
            raise ValueError(
                f"unknown parameter {param!r}; expected chNN.<name> (NN 01…{self.channels:02d}) or main.<name>"
            )
        channel = int(match.group(1))
        if not 1 <= channel <= self.channels:
            raise ValueError(f"unknown parameter {param!r}: this console has channels 01…{self.channels:02d}")
        key = match.group(2)
        if key not in CHANNEL_SPECS:
            raise ValueError(f"unknown parameter {param!r}; channel parameters are: {', '.join(CHANNEL_SPECS)}")
        return channel - 1, key, CHANNEL_SPECS[key]

    def snap(self, param: str, value: object) -> float | str:
        """The value the console would hold for ``value`` (range-checked, enums and grid snapped); nothing changes."""
        _, _, spec = self._resolve(param)
        return check_and_snap(param, spec, value, self.grid)

    def set(self, param: str, value: object, at: float | None = None) -> float | str:
        """Schedule ``param`` = ``value`` at stream time ``at`` (s; None = start of the next block) and return the
        value as held. Changes land on the exact sample ``round((at − t0)·rate)`` of the block that contains ``at``
        (a time already past lands on the next block's first sample) and are smoothed from there."""
        channel, key, spec = self._resolve(param)
        held = check_and_snap(param, spec, value, self.grid)
        if at is not None and not (isinstance(at, (int, float)) and math.isfinite(at)):
            raise ValueError(f"{param}: 'at' must be a finite stream time in seconds or None, not {at!r}")
        with self._lock:
            self._seq += 1
            when = -math.inf if at is None else float(at)
            heapq.heappush(self._pending, _Change(when, self._seq, channel, key, held, param))
            if at is None:
                self._held[param] = held
        return held

    def get(self, param: str) -> float | str:
        """The value held now: the latest value set without ``at``, or scheduled at a time the audio has reached."""
        self._resolve(param)
        with self._lock:
            return self._held[param]

    # --- audio --------------------------------------------------------------------------------------------------

    def process(self, block: np.ndarray, t0: float) -> np.ndarray:
        """Process one block starting at stream time ``t0``; returns the main mix, float32 (n,)."""
        return self.process_channels(block, t0)[1]

    def process_channels(self, block: np.ndarray, t0: float) -> tuple[np.ndarray, np.ndarray]:
        """Process one block; returns ``(channels, main)``: post-fader channels float32 (n, channels), main (n,)."""
        samples = self._checked_block(block)
        if not math.isfinite(t0):
            raise ValueError(f"t0 must be a finite stream time in seconds, not {t0!r}")
        size = samples.shape[0]
        due = self._take_due(t0, size)
        if self.channels == 1 and 0 < size <= MAX_SEGMENT and (not due or all(offset == 0 for offset, _ in due)):
            for _, change in due:  # the common case (one strip, one segment): the loop below, unrolled
                self._apply(change)
            return self._process_mono(samples.reshape(size))
        cuts = sorted({0, size, *(offset for offset, _ in due), *range(0, size, MAX_SEGMENT)})
        channel_out = np.empty((size, self.channels), np.float32)
        main = np.zeros(size) if self.channels > 1 else np.empty(size)
        changes = iter(due)
        pending = next(changes, None)
        for start, end in itertools.pairwise(cuts):
            while pending is not None and pending[0] <= start:
                self._apply(pending[1])
                pending = next(changes, None)
            for index, strip in enumerate(self._strips):
                out = strip.process(samples[start:end, index])
                channel_out[start:end, index] = out
                routed = strip.to_main.render(end - start)
                if self.channels == 1:
                    main[start:end] = out if isinstance(routed, float) and routed == 1.0 else out * routed
                else:
                    main[start:end] += out * routed
            main_gain = self._main_gain.ramp.render(end - start)
            if not (isinstance(main_gain, float) and main_gain == 1.0):
                main[start:end] *= main_gain
        return channel_out, main.astype(np.float32)

    def _process_mono(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One strip, one segment: the same arithmetic as the general loop of process_channels, fewer copies."""
        strip = self._strips[0]
        size = len(samples)
        out = strip.process(samples)
        routed = strip.to_main.render(size)
        main_gain = self._main_gain.ramp.render(size)
        channel = out.astype(np.float32)
        if isinstance(routed, float) and routed == 1.0 and isinstance(main_gain, float) and main_gain == 1.0:
            main = channel.copy()
        else:
            mixed = out * routed
            if not (isinstance(main_gain, float) and main_gain == 1.0):
                mixed *= main_gain
            main = mixed.astype(np.float32)
        return channel.reshape(size, 1), main

    def _checked_block(self, block: np.ndarray) -> np.ndarray:
        samples = np.asarray(block)
        if samples.ndim == 1 and self.channels == 1:
            samples = samples[:, None]
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise ValueError(f"block must be (n,) or (n, {self.channels}) samples, got shape {samples.shape}")
        if samples.dtype.kind != "f":  # integer PCM would need a scale we cannot guess
            raise ValueError(f"block must hold float samples (full scale ±1.0), got dtype {samples.dtype}")
        samples = samples.astype(np.float64)  # filters and detectors run in double precision
        flat = samples.reshape(-1)
        if float(np.dot(flat, flat)) <= INPUT_LIMIT * INPUT_LIMIT:
            return samples  # Σx² ≤ limit² bounds every |x| by the limit (and is NaN/inf if any sample is): all fine
        peak = float(np.abs(samples).max(initial=0.0))
        if not peak <= INPUT_LIMIT:  # NaN, ±inf or absurdly large somewhere (rare): repair
            finite = np.isfinite(samples)
            self.nonfinite_samples += int(samples.size - np.count_nonzero(finite))
            samples[~finite] = 0.0
            np.clip(samples, -INPUT_LIMIT, INPUT_LIMIT, out=samples)
        return samples

    def _take_due(self, t0: float, size: int) -> list[tuple[int, _Change]]:
        due: list[tuple[int, _Change]] = []
        with self._lock:
            while self._pending:
                change = self._pending[0]
                offset = 0 if change.at <= t0 else round((change.at - t0) * self.rate)
                if offset >= size:
                    break
                heapq.heappop(self._pending)
                due.append((offset, change))
        due.sort(key=lambda item: (item[0], item[1].seq))
        return due

    def _apply(self, change: _Change) -> None:
        if change.at != -math.inf:
            with self._lock:
                self._held[change.name] = change.value
        if change.channel < 0:
            self._main_values[change.key] = change.value
            self._main_gain.update(self._main_values, self._ramp_samples if self._started else 0)
        else:
            self._strips[change.channel].apply(change.key, change.value)

    @property
    def _started(self) -> bool:
        return self._strips[0].started


class _MainGain:
    def __init__(self, values: dict[str, float | str]) -> None:
        self.ramp = GainRamp(self._target(values))

    @staticmethod
    def _target(values: dict[str, float | str]) -> float:
        return db_to_gain(float(values["fader"])) if float(values["on"]) >= 0.5 else 0.0

    def update(self, values: dict[str, float | str], ramp_samples: int) -> None:
        self.ramp.set_target(self._target(values), ramp_samples)


class SoftConsoleBackend:
    """The console-backend protocol (``mixer/backend.py``: ``ConsoleBackend``) over a :class:`SoftConsole`; the OSC
    desk backend implements the same one, so the action engine drives either.

    ``set`` takes effect at the start of the next processed block. ``on_external_change(callback)`` subscribes to
    changes someone else made on the console and returns an unsubscribe function: nobody else drives a soft console,
    so callbacks are kept but never called (protocol parity).
    """

    def __init__(self, console: SoftConsole) -> None:
        self.console = console
        self._external_change_callbacks: list[ExternalChangeCallback] = []

    async def get(self, param: str) -> float | str:
        return self.console.get(param)

    async def set(self, param: str, value: float | str) -> float | str:
        return self.console.set(param, value)

    def snap(self, param: str, value: float | str) -> float | str:
        return self.console.snap(param, value)

    def on_external_change(self, callback: ExternalChangeCallback) -> Callable[[], None]:
        self._external_change_callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._external_change_callbacks:
                self._external_change_callbacks.remove(callback)

        return unsubscribe

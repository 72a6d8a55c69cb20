"""One mono channel strip, in the X32's order: trim → HPF → gate → EQ → compressor → fader/mute.

The order is the desk's: the gate sits after the preamp high-pass (so rumble does not hold it open) and before the EQ
(so EQ moves do not shift the gate's threshold); the compressor follows the EQ (X32 ``dyn/pos`` = POST, its
default). The strip holds its parameter values by key (``"eq.2.gain"``) in engineering units.
"""

from __future__ import annotations

import math

import numpy as np

from liverec_edge.mixer.soft.dynamics import (
    Compressor,
    CompressorSettings,
    ControlGrid,
    ControlLevels,
    Gate,
    GateSettings,
    control_period,
)
from liverec_edge.mixer.soft.filters import (
    IDENTITY_SOS,
    InputHistory,
    SosFilter,
    butterworth_highpass,
    eq_band,
    is_identity_band,
)
from liverec_edge.mixer.soft.params import CHANNEL_SPECS, EQ_BANDS
from liverec_edge.mixer.soft.smoothing import Crossfade, GainRamp

#: A new filter is primed over this many time constants of its slowest pole (e^−8 ≈ −70 dB residual).
PRIME_TIME_CONSTANTS = 8.0


def db_to_gain(db: float) -> float:
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


class ChannelStrip:
    """DSP of one channel; parameter changes via :meth:`apply`, audio via :meth:`process` (float64 in and out)."""

    def __init__(
        self,
        rate: int,
        ramp_samples: int,
        crossfade_samples: int,
        prime_samples: int,
        defaults: dict[str, float | str] | None = None,
    ) -> None:
        self.rate = rate
        self.ramp_samples = ramp_samples
        self.crossfade_samples = crossfade_samples
        self.control_period = control_period(rate)
        self._grids: dict[tuple[int, int], ControlGrid] = {}
        self._phase = 0  # samples into the current control period (the periods sit on the stream's grid)
        self._gate_carry = 0.0  # peak |x| seen so far of an open control period, at the gate's and the comp's input
        self._dyn_carry = 0.0
        self.values: dict[str, float | str] = {key: spec.default for key, spec in CHANNEL_SPECS.items()}
        self.values.update(defaults or {})
        self.trim = GainRamp(1.0)
        self.post = GainRamp(1.0)  # fader × on
        self.to_main = GainRamp(1.0)
        self.hpf_input = InputHistory(prime_samples)
        self.eq_input = InputHistory(prime_samples)
        self.hpf: Crossfade[SosFilter] = Crossfade(SosFilter(IDENTITY_SOS))
        self.eq: Crossfade[SosFilter] = Crossfade(SosFilter(IDENTITY_SOS))
        self.gate: Crossfade[Gate | None] = Crossfade(None)
        self.dyn: Crossfade[Compressor | None] = Crossfade(None)
        self.started = False  # before the first sample every change takes effect at once (nothing to click)
        for key in ("trim", "fader", "hpf.on", "eq.on", "gate.on", "dyn.on", "main"):
            self.apply(key, self.values[key])

    # --- parameters ---------------------------------------------------------------------------------------------

    def apply(self, key: str, value: float | str) -> None:
        """Take a validated, snapped value from now on (smoothly once audio has started)."""
        self.values[key] = value
        ramp = self.ramp_samples if self.started else 0
        fade = self.crossfade_samples if self.started else 0
        group = key.split(".", 1)[0]
        if key == "trim":
            self.trim.set_target(db_to_gain(float(value)), ramp)
        elif key in ("fader", "on"):
            on = float(self.values["on"]) >= 0.5
            self.post.set_target(db_to_gain(float(self.values["fader"])) if on else 0.0, ramp)
        elif key == "main":
            self.to_main.set_target(float(value), ramp)
        elif group == "hpf":
            self._switch_filter(self.hpf, self._hpf_sos(), self.hpf_input, fade)
        elif group == "eq":
            self._switch_filter(self.eq, self._eq_sos(), self.eq_input, fade)
        elif group == "gate":
            if self.gate.current is not None or float(self.values["gate.on"]) >= 0.5:  # else: out, and stays out
                self.gate.switch(self._next_gate(), fade)
        elif group == "dyn":
            if self.dyn.current is not None or float(self.values["dyn.on"]) >= 0.5:
                self.dyn.switch(self._next_compressor(), fade)
        else:  # pragma: no cover - keys come from CHANNEL_SPECS
            raise KeyError(key)

    def _switch_filter(self, stage: Crossfade[SosFilter], sos: np.ndarray, history: InputHistory, fade: int) -> None:
        if stage.current.sos.shape == sos.shape and np.array_equal(stage.current.sos, sos):
            return  # e.g. a band moved while the EQ is out: nothing audible changes
        stage.switch(self._primed(sos, history), fade)

    def _hpf_sos(self) -> np.ndarray:
        if float(self.values["hpf.on"]) < 0.5:
            return IDENTITY_SOS
        return butterworth_highpass(float(self.values["hpf.freq"]), float(self.values["hpf.slope"]), self.rate)

    def _eq_sos(self) -> np.ndarray:
        if float(self.values["eq.on"]) < 0.5:
            return IDENTITY_SOS
        sections = []
        for band in range(1, EQ_BANDS + 1):
            eq_type = str(self.values[f"eq.{band}.type"])
            gain = float(self.values[f"eq.{band}.gain"])
            if not is_identity_band(eq_type, gain):
                freq, q = float(self.values[f"eq.{band}.freq"]), float(self.values[f"eq.{band}.q"])
                sections.append(eq_band(eq_type, freq, gain, q, self.rate))
        return np.array(sections) if sections else IDENTITY_SOS

    def _primed(self, sos: np.ndarray, history: InputHistory) -> SosFilter:
        new = SosFilter(sos)
        if self.started and len(sos):
            new.prime(history.last(math.ceil(PRIME_TIME_CONSTANTS * new.decay_samples) + 1))
        return new

    def _next_gate(self) -> Gate | None:
        if float(self.values["gate.on"]) < 0.5:
            return None
        settings = GateSettings(
            mode=str(self.values["gate.mode"]),
            threshold_db=float(self.values["gate.thr"]),
            range_db=float(self.values["gate.range"]),
            attack_ms=float(self.values["gate.attack"]),
            hold_ms=float(self.values["gate.hold"]),
            release_ms=float(self.values["gate.release"]),
        )
        current = self.gate.current
        return current.retuned(settings) if current is not None else Gate(self.rate, settings)

    def _next_compressor(self) -> Compressor | None:
        if float(self.values["dyn.on"]) < 0.5:
            return None
        settings = CompressorSettings(
            threshold_db=float(self.values["dyn.thr"]),
            ratio=float(self.values["dyn.ratio"]),
            knee_db=float(self.values["dyn.knee"]),
            makeup_db=float(self.values["dyn.mgain"]),
            attack_ms=float(self.values["dyn.attack"]),
            hold_ms=float(self.values["dyn.hold"]),
            release_ms=float(self.values["dyn.release"]),
            mix_percent=float(self.values["dyn.mix"]),
        )
        current = self.dyn.current
        return current.retuned(settings) if current is not None else Compressor(self.rate, settings)

    # --- audio --------------------------------------------------------------------------------------------------

    def _grid(self, size: int) -> ControlGrid:
        key = (size, self._phase)
        grid = self._grids.get(key)
        if grid is None:
            if len(self._grids) > 16:  # segment lengths vary with automation; keep the cache small
                self._grids.clear()
            grid = self._grids[key] = ControlGrid(size, self.control_period, self._phase)
        return grid

    def process(self, x: np.ndarray) -> np.ndarray:
        """Process one segment (no parameter change inside it); returns the post-fader signal."""
        self.started = True
        size = len(x)
        x = _scaled(x, self.trim.render(size))
        self.hpf_input.push(x)
        hpf = self.hpf
        x = _as_array(hpf.mix(size, lambda f: f.process(x)), size) if hpf.fading else hpf.current.process(x)
        grid = self._grid(size)
        self._phase = (self._phase + size) % self.control_period
        gate = self.gate
        if gate.fading or gate.current is not None:
            levels = ControlLevels(x, grid, self._gate_carry)
            self._gate_carry = levels.carry
            if gate.fading:
                x = _scaled(x, gate.mix(size, lambda gate: 1.0 if gate is None else gate.gain(levels)))
            else:
                x = _scaled(x, gate.current.gain(levels))
        self.eq_input.push(x)
        eq = self.eq
        x = _as_array(eq.mix(size, lambda f: f.process(x)), size) if eq.fading else eq.current.process(x)
        dyn = self.dyn
        post = self.post.render(size)
        if dyn.fading or dyn.current is not None:
            levels = ControlLevels(x, grid, self._dyn_carry)
            self._dyn_carry = levels.carry
            if dyn.fading:
                x = _scaled(x, dyn.mix(size, lambda comp: 1.0 if comp is None else comp.gain(levels)))
            elif isinstance(post, float) and post != 0.0:  # a steady fader: folded into the compressor's gain
                return _scaled(x, dyn.current.gain(levels, post))
            else:
                x = _scaled(x, dyn.current.gain(levels))
        return _scaled(x, post)


def _as_array(value: np.ndarray | float, size: int) -> np.ndarray:
    return value if isinstance(value, np.ndarray) else np.full(size, value)


def _scaled(x: np.ndarray, gain: np.ndarray | float) -> np.ndarray:
    """x·gain; a unity scalar gain (a stage at rest) costs nothing. Never modifies x in place; a gain array is
    overwritten with the product (gain arrays are fresh per segment: the ramps', crossfades' and processors')."""
    if isinstance(gain, float):
        return x if gain == 1.0 else x * gain
    return np.multiply(x, gain, out=gain) if gain.shape == x.shape else x * gain

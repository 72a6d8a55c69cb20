"""Click-free parameter changes: linear gain ramps and weighted crossfades between processor instances.

Gains (trim, fader, mute, routing) move along a linear ramp in amplitude: a mute to −inf dB is then just a ramp to 0.

A filter whose coefficients change cannot simply swap coefficients in a direct-form cascade: its state vector was
built by the old coefficients and means something else to the new ones, which gives a transient (a click, or a
thump for low-frequency sections). Interpolating the coefficients would need per-sample updates in a
modulation-stable structure (state-variable/lattice), i.e. a per-sample loop. Instead the new cascade is *primed*
on the recent input (so its state is what it would be had it been running all along) and the two outputs are
crossfaded with a raised-cosine over a short window. Both filters are linear and see the same input, so the mix is
smooth whatever the coefficients; the residual priming error is below −70 dB (primed over 8 time constants of the
slowest pole, up to a cap). The dynamics processors use the same crossfade on their gain, the new instance carrying
the old one's detector state.

Several changes may overlap (an automation ramp sends one every 20 ms): every live instance keeps a weight, the
newest rises from 0 to 1 while all others shrink in proportion, so weights always sum to 1 and never jump.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


class GainRamp:
    """A linear gain that moves to each new target in ``ramp_samples`` (0 = at once)."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.target = value
        self._step = 0.0
        self._remaining = 0

    def set_target(self, target: float, ramp_samples: int) -> None:
        self.target = target
        if ramp_samples <= 0 or target == self.value:
            self.value = target
            self._remaining = 0
            return
        self._remaining = ramp_samples
        self._step = (target - self.value) / ramp_samples

    @property
    def moving(self) -> bool:
        return self._remaining > 0

    def render(self, size: int) -> np.ndarray | float:
        """The gain for the next ``size`` samples: a float while steady, an array while ramping."""
        if self._remaining == 0:
            return self.value
        moving = min(size, self._remaining)
        out = np.full(size, self.target)
        out[:moving] = self.value + self._step * np.arange(1, moving + 1)
        self._remaining -= moving
        self.value = self.target if self._remaining == 0 else float(out[moving - 1])
        return out


class Crossfade(Generic[T]):
    """Live instances of a processor with weights that always sum to 1; the newest is the one that counts."""

    def __init__(self, instance: T) -> None:
        self.instances: list[T] = [instance]
        self._start_weights: list[float] = [1.0]
        self._length = 0
        self._position = 0

    @property
    def current(self) -> T:
        return self.instances[-1]

    @property
    def fading(self) -> bool:
        return len(self.instances) > 1

    def switch(self, instance: T, length: int) -> None:
        """Fade ``instance`` in over ``length`` samples (0 = replace at once) from the current mix."""
        if length <= 0:
            self.instances = [instance]
            self._start_weights = [1.0]
            return
        weights = [float(w) for w in self._weights_at(self._position)]
        keep = [i for i, w in enumerate(weights) if w > 0.0]
        self.instances = [self.instances[i] for i in keep] + [instance]
        self._start_weights = [weights[i] for i in keep] + [0.0]
        self._length = length
        self._position = 0

    def _weights_at(self, position: int | np.ndarray) -> list[np.ndarray | float]:
        if len(self.instances) == 1:
            return [1.0]
        ratio = np.clip(np.asarray(position, dtype=np.float64) / self._length, 0.0, 1.0)
        rising = 0.5 - 0.5 * np.cos(np.pi * ratio)
        return [w * (1.0 - rising) for w in self._start_weights[:-1]] + [rising]

    def mix(self, size: int, render: Callable[[T], np.ndarray | float]) -> np.ndarray | float:
        """Σ weight·render(instance) over the next ``size`` samples; retires faded-out instances afterwards."""
        if len(self.instances) == 1:
            return render(self.instances[0])
        positions = self._position + np.arange(1, size + 1)
        total: np.ndarray | float = 0.0
        for instance, weight in zip(self.instances, self._weights_at(positions), strict=True):
            total = total + weight * render(instance)
        self._position += size
        if self._position >= self._length:
            self.instances = [self.instances[-1]]
            self._start_weights = [1.0]
        return total

"""The software console: the X32 channel strip in numpy/scipy, for boxes without a desk and for offline files.

Public API
----------
``SoftConsole(rate: int, channels: int = 1, *, grid=True, ramp_ms=15.0, crossfade_ms=20.0, prime_max_ms=1000.0)``
    ``channels`` mono strips, each routed to a mono main mix.

    - ``process(block, t0) -> np.ndarray``: ``block`` is float (n,) (one channel) or (n, channels), ``t0`` the stream
      time (s) of its first sample; returns the **main mix**, float32 (n,).
    - ``process_channels(block, t0) -> (channels, main)``: also the post-fader channel signals, float32
      (n, channels).
    - ``set(param, value, at=None) -> held``: validates the name and range (``ValueError`` naming the parameter and
      the allowed range), snaps enums (and, with ``grid=True``, values to the desk's grid) and schedules the change
      on the exact sample of stream time ``at``; ``at=None`` = first sample of the next block. Returns the value
      as the console holds it.
    - ``get(param) -> float | str``: the value held now. ``snap(param, value)``: what ``set`` would hold, without
      setting it. ``parameters() -> dict[name, ParamSpec]``: every name with unit, range and default.
    - ``nonfinite_samples``: NaN/inf input samples replaced by silence so far.

``SoftConsoleBackend(console)``
    The console-backend protocol the action engine drives (``mixer/backend.py``, same as the OSC desk backend):
    ``async get(param)``, ``async set(param, value)``, ``snap(param, value)`` and
    ``on_external_change(callback) -> unsubscribe`` (callbacks are never called: nobody else moves a soft console's
    controls).

Parameters (engineering units; ``NN`` = 01…channels), the X32 channel strip of ``shared/protocol/x32-osc.md``:
``chNN.fader`` dB (−inf…+10, level law), ``chNN.on`` (1 = on, 0 = muted), ``chNN.main`` (1 = routed to main),
``chNN.trim`` dB ±18, ``chNN.hpf.on|slope|freq`` (12/18/24 dB/oct, 20…400 Hz), ``chNN.eq.on``,
``chNN.eq.B.type|freq|gain|q`` (B 1…4; LCut, LShv, PEQ, VEQ, HShv, HCut; 20…20000 Hz; ±15 dB; Q 0.3…10),
``chNN.gate.on|mode|thr|range|attack|hold|release`` (EXP2/3/4, GATE, DUCK; −80…0 dB; 3…60 dB; 0…120 ms;
0.02…2000 ms; 5…4000 ms), ``chNN.dyn.on|thr|ratio|knee|mgain|attack|hold|release|mix`` (−60…0 dB; 1.1…100;
0…5 dB; 0…24 dB; 0…120 ms; 0.02…2000 ms; 5…4000 ms; 0…100 %), ``main.fader``, ``main.on``.

Signal flow per channel (the X32's): trim → HPF → gate → EQ → compressor → fader × on → (× main routing) → Σ →
main fader × main on. Filters: Butterworth HPF cascades and RBJ cookbook biquads, state carried across blocks
(``filters.py``); dynamics: peak-sensing log-domain gain computers and a hold/release/attack detector run at a
0.33 ms control rate on exact period peaks, gain interpolated to audio rate (``dynamics.py``).

Automation (``smoothing.py``): a change lands on its exact sample; gains (trim, fader, on, routing, main) then move
along a 15 ms linear ramp; filter changes crossfade (20 ms raised cosine) from the old cascade to a new one primed
on the recent input; dynamics changes crossfade the old and new processors' gains, the new one carrying the old
one's detector state. Overlapping changes keep weights summing to one. Output does not depend on how the stream
is cut into blocks (filter state is exact; dynamics periods sit on the stream's sample grid), apart from sub-period
differences below −60 dB where a block edge cuts a control period.

Not modelled: pan (the main mix is mono), bus sends, DCAs, gate side-chain key and key filter, compressor RMS
detection, ``dyn/pos`` PRE (the compressor is after the EQ, the X32 default).

Bad input: unknown names and out-of-range values raise ``ValueError``; NaN/inf samples become silence (counted);
samples are clamped to ±1000 (+60 dBFS) so nothing can overflow; the output is never NaN.
"""

from liverec_edge.mixer.soft.console import SoftConsole, SoftConsoleBackend
from liverec_edge.mixer.soft.params import ParamSpec

__all__ = ["ParamSpec", "SoftConsole", "SoftConsoleBackend"]

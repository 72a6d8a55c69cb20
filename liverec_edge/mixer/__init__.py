"""Mixer control: drive a Behringer X32/M32 or X-Air desk over OSC (or the software console) safely.

Modules, in the order data flows through them:

- ``strip``: the firmware-agnostic parameter names (``ch01.hpf.freq``) and what they mean (unit, safe direction);
- ``laws`` and ``firmware``: desk knowledge as data (``firmware_configs/*.yaml``): addresses and value laws;
- ``backend``: the ``ConsoleBackend`` protocol the engine drives; ``osc``: the OSC desk; ``soft``: the software
  console; ``simulator``: an OSC desk simulator (test equipment, demo);
- ``journal``: the crash-safe change journal; ``actions``: the ``MixerEngine`` (claims, ramps, hold/restore,
  overrides, bounds); ``stage``: what the daemon starts; ``cli``: ``liverec-edge mixer probe|get|set``.

Nothing is imported here, so ``liverec-edge --help`` stays fast.
"""

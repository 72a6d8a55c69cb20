"""The software console's parameters: names, engineering units, ranges and the X32 value grid.

Names and ranges are the X32/M32 firmware-4.x channel strip of ``../shared/protocol/x32-osc.md`` written in
engineering units (``ch01.eq.2.freq`` in Hz, ``ch01.fader`` in dB). With ``grid=True`` a value is snapped to the
grid the desk itself stores (level law with 1024 fader steps, ``linf``/``logf`` laws with the desk's step counts),
so the soft console holds exactly what a hardware desk would hold for the same request and the action engine sees
identical read-backs from either backend. With ``grid=False`` continuous values are kept (still range-checked).

Value laws (normalised f in 0…1 ↔ engineering value), as in the protocol notes:

- level: f→dB piecewise 40f−30 / 80f−50 / 160f−70 / 480f−90, f=0 → −inf; snapped with ``int(f·1023.5)/1023``.
- linf [min, max, step]: v = min + (max−min)·f, f snapped to (max−min)/step steps.
- logf [min, max, steps]: v = min·(max/min)^f, f snapped to ``round(f·(steps−1))/(steps−1)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

from liverec_edge.mixer.laws import Law, LevelLaw, LinLaw, LogLaw

ParamKind = Literal["level", "linf", "logf", "switch", "number_enum", "name_enum"]

EQ_TYPES: tuple[str, ...] = ("LCut", "LShv", "PEQ", "VEQ", "HShv", "HCut")
GATE_MODES: tuple[str, ...] = ("EXP2", "EXP3", "EXP4", "GATE", "DUCK")
HPF_SLOPES: tuple[float, ...] = (12.0, 18.0, 24.0)
DYN_RATIOS: tuple[float, ...] = (1.1, 1.3, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 7.0, 10.0, 20.0, 100.0)
EQ_BANDS = 4
#: Relative slack on range checks so that a value read back from a desk (float32 round trip) is never refused.
_RANGE_SLACK = 1e-6


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of the strip: ``key`` is the name without its ``chNN.``/``main.`` prefix."""

    key: str
    kind: ParamKind
    unit: str
    lo: float = 0.0
    hi: float = 1.0
    #: linf: step in engineering units; logf: number of grid points; level: 1024 (fader steps).
    grid: float = 0.0
    choices: tuple[float, ...] | tuple[str, ...] = ()
    default: float | str = 0.0
    description: str = ""

    def range_text(self) -> str:
        if self.kind == "switch":
            return "0 or 1 (OFF/ON)"
        if self.kind in ("number_enum", "name_enum"):
            return "one of " + ", ".join(_fmt(c) for c in self.choices)
        lo = "-inf" if self.kind == "level" else _fmt(self.lo)
        return f"{lo}…{_fmt(self.hi)} {self.unit}".rstrip()


def _fmt(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return f"{value:g}"


def _channel_specs() -> tuple[ParamSpec, ...]:
    specs = [
        ParamSpec(
            "fader",
            "level",
            "dB",
            -math.inf,
            10.0,
            1024,
            default=0.0,
            description="channel fader (X32 /ch/NN/mix/fader)",
        ),
        ParamSpec("on", "switch", "", default=1.0, description="1 = on (unmuted), 0 = muted (/ch/NN/mix/on)"),
        ParamSpec("main", "switch", "", default=1.0, description="1 = routed to the main mix (/ch/NN/mix/st)"),
        ParamSpec(
            "trim", "linf", "dB", -18.0, 18.0, 0.25, default=0.0, description="digital trim before everything else"
        ),
        ParamSpec("hpf.on", "switch", "", default=0.0, description="high-pass filter in"),
        ParamSpec("hpf.slope", "number_enum", "dB/oct", 12.0, 24.0, 0, HPF_SLOPES, 12.0, "Butterworth order 2/3/4"),
        ParamSpec("hpf.freq", "logf", "Hz", 20.0, 400.0, 101, default=80.0, description="-3 dB corner"),
        ParamSpec("eq.on", "switch", "", default=0.0, description="4-band EQ in"),
    ]
    band_defaults = ((124.7, "PEQ"), (496.6, "PEQ"), (1978.0, "PEQ"), (10000.0, "HShv"))
    for band, (freq, eq_type) in enumerate(band_defaults, start=1):
        specs += [
            ParamSpec(
                f"eq.{band}.type",
                "name_enum",
                "",
                choices=EQ_TYPES,
                default=eq_type,
                description="LCut/HCut = 12 dB/oct cuts, LShv/HShv shelves, PEQ bell, VEQ proportional-Q bell",
            ),
            ParamSpec(f"eq.{band}.freq", "logf", "Hz", 20.0, 20000.0, 201, default=freq, description="centre/corner"),
            ParamSpec(
                f"eq.{band}.gain", "linf", "dB", -15.0, 15.0, 0.25, default=0.0, description="boost/cut (not cuts)"
            ),
            ParamSpec(f"eq.{band}.q", "logf", "", 0.3, 10.0, 72, default=2.0, description="quality factor"),
        ]
    specs += [
        ParamSpec("gate.on", "switch", "", default=0.0, description="gate/expander in"),
        ParamSpec(
            "gate.mode",
            "name_enum",
            "",
            choices=GATE_MODES,
            default="GATE",
            description="EXPn = downward expander 1:n, GATE = range below threshold, DUCK = range above",
        ),
        ParamSpec("gate.thr", "linf", "dB", -80.0, 0.0, 0.5, default=-80.0, description="threshold (peak level, dBFS)"),
        ParamSpec("gate.range", "linf", "dB", 3.0, 60.0, 1.0, default=60.0, description="largest attenuation"),
        ParamSpec("gate.attack", "linf", "ms", 0.0, 120.0, 1.0, default=0.0, description="opening time constant"),
        ParamSpec("gate.hold", "logf", "ms", 0.02, 2000.0, 101, default=50.0, description="stays open this long"),
        ParamSpec("gate.release", "logf", "ms", 5.0, 4000.0, 101, default=200.0, description="closing time constant"),
        ParamSpec("dyn.on", "switch", "", default=0.0, description="compressor in"),
        ParamSpec("dyn.thr", "linf", "dB", -60.0, 0.0, 0.5, default=0.0, description="threshold (peak level, dBFS)"),
        ParamSpec("dyn.ratio", "number_enum", ":1", 1.1, 100.0, 0, DYN_RATIOS, 3.0, "compression ratio"),
        ParamSpec(
            "dyn.knee", "linf", "dB", 0.0, 5.0, 1.0, default=1.0, description="soft-knee width centred on the threshold"
        ),
        ParamSpec(
            "dyn.mgain", "linf", "dB", 0.0, 24.0, 0.5, default=0.0, description="make-up gain of the compressed path"
        ),
        ParamSpec(
            "dyn.attack", "linf", "ms", 0.0, 120.0, 1.0, default=10.0, description="gain-reduction rise time constant"
        ),
        ParamSpec("dyn.hold", "logf", "ms", 0.02, 2000.0, 101, default=10.0, description="gain reduction held"),
        ParamSpec("dyn.release", "logf", "ms", 5.0, 4000.0, 101, default=150.0, description="fall time constant"),
        ParamSpec(
            "dyn.mix",
            "linf",
            "%",
            0.0,
            100.0,
            5.0,
            default=100.0,
            description="compressed share (parallel compression)",
        ),
    ]
    return tuple(specs)


def _main_specs() -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(
            "fader", "level", "dB", -math.inf, 10.0, 1024, default=0.0, description="main fader (/main/st/mix/fader)"
        ),
        ParamSpec("on", "switch", "", default=1.0, description="1 = on, 0 = main muted (/main/st/mix/on)"),
    )


CHANNEL_SPECS: dict[str, ParamSpec] = {spec.key: spec for spec in _channel_specs()}
MAIN_SPECS: dict[str, ParamSpec] = {spec.key: spec for spec in _main_specs()}


# --- value laws -------------------------------------------------------------------------------------------------


@functools.cache
def _desk_law(spec: ParamSpec) -> Law | None:
    """The desk's value law for a parameter kind, from the one implementation in ``mixer/laws.py``; None for
    kinds with no grid (switches and enums are exact already)."""
    if spec.kind == "level":
        return LevelLaw(1024, rounding="trunc")  # fader law: int(f*1023.5)/1023, 0 dB at 767/1023
    if spec.kind == "linf":
        return LinLaw(spec.lo, spec.hi, spec.grid)
    if spec.kind == "logf":
        return LogLaw(spec.lo, spec.hi, int(spec.grid))
    return None


def snap_to_grid(spec: ParamSpec, value: float) -> float:
    """The value on the desk's grid nearest to ``value`` (which is already range-checked)."""
    law = _desk_law(spec)
    return value if law is None else float(law.snap(value))


def check_and_snap(name: str, spec: ParamSpec, value: object, grid: bool) -> float | str:
    """Validate ``value`` for parameter ``name`` and return what the console will hold; ValueError names the range."""
    if spec.kind == "name_enum":
        if isinstance(value, str):
            for choice in spec.choices:
                if str(choice).lower() == value.strip().lower():
                    return str(choice)
        raise ValueError(f"{name}: {value!r} is not allowed; expected {spec.range_text()}")
    if spec.kind == "switch" and isinstance(value, str) and value.strip().upper() in ("ON", "OFF"):
        return 1.0 if value.strip().upper() == "ON" else 0.0
    number = _as_number(name, spec, value)
    if spec.kind == "switch":
        if number not in (0.0, 1.0):
            raise ValueError(f"{name}: {value!r} is not allowed; expected {spec.range_text()}")
        return number
    lo = -math.inf if spec.kind == "level" else spec.lo
    lo_slack = lo - _RANGE_SLACK * max(1.0, abs(lo)) if math.isfinite(lo) else lo
    hi_slack = spec.hi + _RANGE_SLACK * max(1.0, abs(spec.hi))
    if not lo_slack <= number <= hi_slack:
        raise ValueError(f"{name}: {value!r} is out of range; expected {spec.range_text()}")
    number = min(max(number, lo), spec.hi)
    if spec.kind == "number_enum":
        return float(min(spec.choices, key=lambda choice: abs(math.log(float(choice) / number))))  # type: ignore[arg-type]
    return snap_to_grid(spec, number) if grid else number


def _as_number(name: str, spec: ParamSpec, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]  # accepts numpy scalars, bools and numeric strings
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number; expected {spec.range_text()}") from None
    if math.isnan(number) or (math.isinf(number) and not (spec.kind == "level" and number < 0)):
        raise ValueError(f"{name}: {value!r} is not a finite number; expected {spec.range_text()}")
    return number

"""Value laws: how a desk maps its normalised OSC float (0.0–1.0) or enum index to engineering units.

Implemented once, here, from the protocol notes (``../shared/protocol/x32-osc.md``); the firmware YAMLs only name a
law and its numbers. Every law works on the desk's **grid**: the desk stores a fixed set of values per parameter and
rounds what it is sent, so state is held and compared as a grid index (an int), never as a raw float.

Vocabulary used by every law:

- ``f``: the normalised float on the wire; ``index``: the grid point (0 … count−1);
- ``eng``: the engineering value — a float (dB, Hz, ms, %, a numeric enum value such as a ratio) or, for named
  enums, the name (``"PEQ"``);
- ``eng_of_float`` is the raw law (no snapping: the document's check values are stated this way);
  ``index_of_eng`` / ``index_of_float`` snap to the grid; ``eng_of_index`` / ``float_of_index`` read a grid point.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

EngValue = float | str


class LawError(ValueError):
    """A value the law cannot represent (out of range, not a number, not one of the enum's names)."""


def _number(value: EngValue, what: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    lowered = text.lower()
    if lowered in ("-inf", "-oo", "-infinity"):
        return float("-inf")
    try:
        return float(text)
    except ValueError:
        raise LawError(f"{what}: expected a number, got {value!r}") from None


def _require_finite(what: str, *numbers: float) -> None:
    # An infinite end or step makes the grid size infinite (int() of it overflows) and NaN passes every check
    # below by failing its comparison: a law's numbers must all be finite.
    if not all(math.isfinite(n) for n in numbers):
        raise LawError(f"{what}: min, max and step must be finite numbers")


def _decimals(step: float) -> int:
    """Decimals needed to print a grid of this step without losing a grid point."""
    for decimals in range(0, 6):
        if abs(round(step, decimals) - step) < 1e-9:
            return decimals
    return 6


class Law(ABC):
    """One parameter's mapping. ``count`` grid points; ``osc_type`` is ``"f"`` or ``"i"``."""

    osc_type: str = "f"
    unit: str = ""

    @property
    @abstractmethod
    def count(self) -> int: ...

    @property
    def numeric(self) -> bool:
        """True when engineering values are numbers (and so can be ordered, added and interpolated)."""
        return True

    @abstractmethod
    def eng_of_float(self, f: float) -> EngValue:
        """The raw law, unsnapped (``f`` is clamped to 0…1)."""

    @abstractmethod
    def float_of_eng(self, value: EngValue) -> float:
        """The raw inverse, unsnapped; raises :class:`LawError` for values outside the law's range."""

    @abstractmethod
    def index_of_float(self, f: float) -> int:
        """The grid point the desk stores when it is sent ``f``."""

    @abstractmethod
    def float_of_index(self, index: int) -> float: ...

    # ---- derived, shared by every law ----------------------------------------------------------------------------

    def eng_of_index(self, index: int) -> EngValue:
        return self.eng_of_float(self.float_of_index(self._check_index(index)))

    def index_of_eng(self, value: EngValue) -> int:
        return self.index_of_float(self.float_of_eng(value))

    def snap(self, value: EngValue) -> EngValue:
        """The engineering value the desk will hold after being sent ``value``."""
        return self.eng_of_index(self.index_of_eng(value))

    def parse(self, text: str) -> EngValue:
        """Engineering value from user text (``"-10"``, ``"-inf"``, ``"PEQ"``), validated against the range."""
        value = _number(text, self.describe())
        self.float_of_eng(value)  # range check
        return value

    def format(self, value: EngValue) -> str:
        """Human text for CLI output and logs."""
        if isinstance(value, str):
            return value
        if math.isinf(value):
            return "-inf" if value < 0 else "inf"
        return f"{value:.6g}"

    def node_text(self, index: int) -> str:
        """The value as a desk ``/node`` text line shows it."""
        return self.format(self.eng_of_index(index))

    def index_of_node_text(self, text: str) -> int:
        return self.index_of_eng(self.parse(text))

    def osc_arg(self, index: int) -> float | int:
        """The argument to send so the desk stores grid point ``index``."""
        return self.float_of_index(self._check_index(index))

    def index_of_osc(self, arg: Any) -> int:
        """Grid point of an argument received from (or sent to) a desk; raises :class:`LawError` on a wrong type."""
        if isinstance(arg, bool) or not isinstance(arg, int | float):
            raise LawError(f"{self.describe()}: expected a number on the wire, got {type(arg).__name__}")
        if isinstance(arg, int):
            raise LawError(f"{self.describe()}: expected a float on the wire, got an int")
        if math.isnan(arg):
            raise LawError(f"{self.describe()}: NaN on the wire")
        if not 0.0 <= arg <= 1.0:
            # Every float on the wire is normalised; a desk ignores one outside 0.0-1.0 rather than clamping it.
            raise LawError(f"{self.describe()}: {arg!r} on the wire is outside 0.0..1.0")
        return self.index_of_float(arg)

    def clamp(self, value: EngValue) -> EngValue:
        """The nearest value inside the law's range (numeric laws); enums pass through."""
        return value

    def order_key(self, value: EngValue) -> float:
        """A number that orders values the way a person reads them (used to pick the most protective)."""
        return _number(value, self.describe())

    def describe(self) -> str:
        return type(self).__name__

    def _check_index(self, index: int) -> int:
        if not 0 <= index < self.count:
            raise LawError(f"{self.describe()}: grid index {index} outside 0..{self.count - 1}")
        return index


class LevelLaw(Law):
    """Faders and sends: the four-segment dB law, −∞ at 0.0, +10 dB at 1.0.

    ``rounding`` says how the desk snaps: ``"trunc"`` is the fader rule from the notes, ``int(f*(N−0.5))/(N−1)``
    (1024 steps: ``int(f*1023.5)/1023``, which puts 0 dB at 767/1023); ``"round"`` is ``round(f*(N−1))/(N−1)``
    (sends, 161 steps).
    """

    unit = "dB"
    MAX_DB = 10.0

    def __init__(self, steps: int, rounding: str = "round"):
        if steps < 2:
            raise LawError(f"level law needs at least 2 steps, got {steps}")
        if rounding not in ("trunc", "round"):
            raise LawError(f"level law rounding must be 'trunc' or 'round', got {rounding!r}")
        self.steps = steps
        self.rounding = rounding

    @property
    def count(self) -> int:
        return self.steps

    def eng_of_float(self, f: float) -> float:
        f = min(max(float(f), 0.0), 1.0)
        if f >= 0.5:
            return 40.0 * f - 30.0
        if f >= 0.25:
            return 80.0 * f - 50.0
        if f >= 0.0625:
            return 160.0 * f - 70.0
        if f > 0.0:
            return 480.0 * f - 90.0
        return float("-inf")

    def float_of_eng(self, value: EngValue) -> float:
        d = _number(value, "level")
        if math.isnan(d) or d > self.MAX_DB + 1e-9:
            raise LawError(f"level {self.format(d)} dB is outside -inf..+{self.MAX_DB:g} dB")
        if d == float("-inf") or d <= -90.0:
            return 0.0
        if d < -60.0:
            return (d + 90.0) / 480.0
        if d < -30.0:
            return (d + 70.0) / 160.0
        if d < -10.0:
            return (d + 50.0) / 80.0
        return min((d + 30.0) / 40.0, 1.0)

    def index_of_float(self, f: float) -> int:
        f = min(max(float(f), 0.0), 1.0)
        last = self.steps - 1
        index = int(f * (last + 0.5)) if self.rounding == "trunc" else round(f * last)
        return min(max(index, 0), last)

    def float_of_index(self, index: int) -> float:
        return index / (self.steps - 1)

    def clamp(self, value: EngValue) -> EngValue:
        return min(_number(value, "level"), self.MAX_DB)

    def node_text(self, index: int) -> str:
        d = self.eng_of_index(index)
        assert isinstance(d, float)
        return "-oo" if math.isinf(d) else f"{d:+.1f}"

    def format(self, value: EngValue) -> str:
        d = _number(value, "level")
        return "-inf" if math.isinf(d) else f"{d:.2f}"

    def describe(self) -> str:
        return f"level[{self.steps} steps]"


class LinLaw(Law):
    """``linf [min, max, step]``: v = min + (max−min)·f, snapped to N = (max−min)/step steps."""

    def __init__(self, lo: float, hi: float, step: float, unit: str = ""):
        _require_finite(f"linf [{lo}, {hi}, {step}]", lo, hi, step)
        if step <= 0 or hi == lo:
            raise LawError(f"linf [{lo}, {hi}, {step}]: needs max != min and step > 0")
        self.lo, self.hi, self.step, self.unit = float(lo), float(hi), float(step), unit
        self.n = round(abs(hi - lo) / step)

    @property
    def count(self) -> int:
        return self.n + 1

    def eng_of_float(self, f: float) -> float:
        f = min(max(float(f), 0.0), 1.0)
        return self.lo + (self.hi - self.lo) * f

    def float_of_eng(self, value: EngValue) -> float:
        v = _number(value, self.describe())
        lo, hi = min(self.lo, self.hi), max(self.lo, self.hi)
        tolerance = self.step / 2
        if math.isnan(v) or not lo - tolerance <= v <= hi + tolerance:
            raise LawError(f"{self.format(v)} {self.unit} is outside {lo:g}..{hi:g} {self.unit}".replace("  ", " "))
        return min(max((v - self.lo) / (self.hi - self.lo), 0.0), 1.0)

    def index_of_float(self, f: float) -> int:
        return min(max(round(min(max(float(f), 0.0), 1.0) * self.n), 0), self.n)

    def float_of_index(self, index: int) -> float:
        return index / self.n

    def eng_of_index(self, index: int) -> float:
        # Computed from the index so grid values print exactly (0.25 dB steps stay 0.25, not 0.2500001).
        value = self.lo + (self.hi - self.lo) * self._check_index(index) / self.n
        return round(value, _decimals(self.step) + 3)

    def clamp(self, value: EngValue) -> EngValue:
        v = _number(value, self.describe())
        return min(max(v, min(self.lo, self.hi)), max(self.lo, self.hi))

    def format(self, value: EngValue) -> str:
        v = _number(value, self.describe())
        return f"{v:.{_decimals(self.step)}f}" if math.isfinite(v) else super().format(v)

    def node_text(self, index: int) -> str:
        v = self.eng_of_index(index)
        decimals = _decimals(self.step)
        return f"{v:+.{decimals}f}" if min(self.lo, self.hi) < 0 else f"{v:.{decimals}f}"

    def describe(self) -> str:
        return f"linf[{self.lo:g}, {self.hi:g}, {self.step:g}]"


class LogLaw(Law):
    """``logf [min, max, steps]``: v = min·(max/min)^f, snapped to round(f·(steps−1))/(steps−1).

    ``min`` may be above ``max`` (EQ Q runs from 10 down to 0.3).
    """

    def __init__(self, lo: float, hi: float, steps: int, unit: str = ""):
        _require_finite(f"logf [{lo}, {hi}, {steps}]", lo, hi)
        if lo <= 0 or hi <= 0 or lo == hi or steps < 2:
            raise LawError(f"logf [{lo}, {hi}, {steps}]: needs positive, different ends and at least 2 steps")
        self.lo, self.hi, self.steps, self.unit = float(lo), float(hi), int(steps), unit
        self._span = math.log(self.hi / self.lo)

    @property
    def count(self) -> int:
        return self.steps

    def eng_of_float(self, f: float) -> float:
        f = min(max(float(f), 0.0), 1.0)
        return self.lo * math.exp(self._span * f)

    def float_of_eng(self, value: EngValue) -> float:
        v = _number(value, self.describe())
        lo, hi = min(self.lo, self.hi), max(self.lo, self.hi)
        # Half a grid step of tolerance at the ends, so a printed, rounded end value parses back.
        ratio = (hi / lo) ** (0.5 / (self.steps - 1))
        if math.isnan(v) or not lo / ratio <= v <= hi * ratio:
            raise LawError(f"{self.format(v)} {self.unit} is outside {lo:g}..{hi:g} {self.unit}".replace("  ", " "))
        v = min(max(v, lo), hi)
        return min(max(math.log(v / self.lo) / self._span, 0.0), 1.0)

    def index_of_float(self, f: float) -> int:
        last = self.steps - 1
        return min(max(round(min(max(float(f), 0.0), 1.0) * last), 0), last)

    def float_of_index(self, index: int) -> float:
        return index / (self.steps - 1)

    def clamp(self, value: EngValue) -> EngValue:
        v = _number(value, self.describe())
        return min(max(v, min(self.lo, self.hi)), max(self.lo, self.hi))

    def node_text(self, index: int) -> str:
        v = self.eng_of_index(index)
        assert isinstance(v, float)
        return f"{v:.3g}" if v < 100 else f"{v:.0f}"

    def format(self, value: EngValue) -> str:
        v = _number(value, self.describe())
        return f"{v:.4g}" if math.isfinite(v) else super().format(v)

    def describe(self) -> str:
        return f"logf[{self.lo:g}, {self.hi:g}, {self.steps}]"


class EnumLaw(Law):
    """An enum sent as an integer index (``,i``).

    ``values`` are the engineering values: numbers for numeric enums (ratio 1.1…100, HPF slope 12/18/24, on 0/1) or
    names (``PEQ``, ``GATE``). ``labels`` are the names the desk prints (``OFF``/``ON``); both are accepted as input.
    """

    osc_type = "i"

    def __init__(self, values: Sequence[float | str], labels: Sequence[str] | None = None, unit: str = ""):
        if len(values) < 2:
            raise LawError(f"enum needs at least 2 values, got {list(values)}")
        numeric = [isinstance(v, int | float) and not isinstance(v, bool) for v in values]
        if any(numeric) and not all(numeric):
            raise LawError(f"enum values must be all numbers or all names, got {list(values)}")
        self._numeric = all(numeric)
        self.values: tuple[float | str, ...] = tuple(float(v) if self._numeric else str(v) for v in values)
        self.labels: tuple[str, ...] = tuple(labels) if labels else tuple(self.format(v) for v in self.values)
        if len(self.labels) != len(self.values):
            raise LawError(f"enum has {len(self.values)} values but {len(self.labels)} labels")
        self.unit = unit
        lookup: dict[str, int] = {}
        for index, (value, label) in enumerate(zip(self.values, self.labels, strict=True)):
            lookup.setdefault(str(label).lower(), index)
            if isinstance(value, str):
                lookup.setdefault(value.lower(), index)
        self._by_name: Mapping[str, int] = lookup

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def numeric(self) -> bool:
        return self._numeric

    def _index_of_value(self, value: EngValue) -> int:
        if isinstance(value, str):
            found = self._by_name.get(value.strip().lower())
            if found is not None:
                return found
            if not self._numeric:
                raise LawError(f"{value!r} is not one of {', '.join(map(str, self.values))}")
            value = _number(value, self.describe())
        if isinstance(value, bool):
            value = float(value)
        if self._numeric:
            for index, candidate in enumerate(self.values):
                assert isinstance(candidate, float)
                if abs(candidate - float(value)) <= 1e-6 * max(1.0, abs(candidate)):
                    return index
        raise LawError(f"{self.format(value)} is not one of {', '.join(self.format(v) for v in self.values)}")

    def eng_of_float(self, f: float) -> EngValue:
        return self.values[self.index_of_float(f)]

    def float_of_eng(self, value: EngValue) -> float:
        return self.float_of_index(self._index_of_value(value))

    def index_of_float(self, f: float) -> int:
        last = self.count - 1
        return min(max(round(min(max(float(f), 0.0), 1.0) * last), 0), last)

    def float_of_index(self, index: int) -> float:
        return index / (self.count - 1)

    def eng_of_index(self, index: int) -> EngValue:
        return self.values[self._check_index(index)]

    def index_of_eng(self, value: EngValue) -> int:
        return self._index_of_value(value)

    def parse(self, text: str) -> EngValue:
        return self.values[self._index_of_value(text)]

    def node_text(self, index: int) -> str:
        return self.labels[self._check_index(index)]

    def index_of_node_text(self, text: str) -> int:
        return self._index_of_value(text)

    def osc_arg(self, index: int) -> int:
        return self._check_index(index)

    def index_of_osc(self, arg: Any) -> int:
        if isinstance(arg, bool):
            raise LawError(f"{self.describe()}: expected an int on the wire, got a bool")
        if isinstance(arg, int):
            return self._check_index(arg)
        if isinstance(arg, float):
            # Desks accept an enum as a normalised float too, and ignore one outside 0.0-1.0 (NaN included).
            if not 0.0 <= arg <= 1.0:
                raise LawError(f"{self.describe()}: {arg!r} on the wire is outside 0.0..1.0")
            return self.index_of_float(arg)
        raise LawError(f"{self.describe()}: expected an int on the wire, got {type(arg).__name__}")

    def order_key(self, value: EngValue) -> float:
        if self._numeric:
            return _number(value, self.describe())
        return float(self._index_of_value(value))

    def describe(self) -> str:
        return "enum{" + ", ".join(self.labels) + "}"


class IntLaw(Law):
    """A plain integer sent as ``,i`` (for example ``/-ha/NN/index``: which headamp feeds a channel, −1 = none)."""

    osc_type = "i"

    def __init__(self, lo: int, hi: int):
        if hi <= lo:
            raise LawError(f"int law needs max > min, got [{lo}, {hi}]")
        self.lo, self.hi = int(lo), int(hi)

    @property
    def count(self) -> int:
        return self.hi - self.lo + 1

    def eng_of_float(self, f: float) -> float:
        return float(self.lo + self.index_of_float(f))

    def float_of_eng(self, value: EngValue) -> float:
        v = _number(value, self.describe())
        if math.isnan(v) or not self.lo <= v <= self.hi:
            raise LawError(f"{self.format(v)} is outside {self.lo}..{self.hi}")
        return self.float_of_index(round(v) - self.lo)

    def index_of_float(self, f: float) -> int:
        last = self.count - 1
        return min(max(round(min(max(float(f), 0.0), 1.0) * last), 0), last)

    def float_of_index(self, index: int) -> float:
        return index / (self.count - 1)

    def eng_of_index(self, index: int) -> float:
        return float(self.lo + self._check_index(index))

    def index_of_eng(self, value: EngValue) -> int:
        self.float_of_eng(value)
        return round(_number(value, self.describe())) - self.lo

    def osc_arg(self, index: int) -> int:
        return self.lo + self._check_index(index)

    def index_of_osc(self, arg: Any) -> int:
        if isinstance(arg, bool) or not isinstance(arg, int):
            raise LawError(f"{self.describe()}: expected an int on the wire, got {type(arg).__name__}")
        if not self.lo <= arg <= self.hi:
            raise LawError(f"{self.describe()}: {arg} outside {self.lo}..{self.hi}")
        return arg - self.lo

    def describe(self) -> str:
        return f"int[{self.lo}, {self.hi}]"


def law_from_spec(spec: Mapping[str, Any], where: str = "law") -> Law:
    """Build a law from its firmware-YAML form, e.g. ``{law: logf, min: 20, max: 400, steps: 101, unit: Hz}``.

    Raises :class:`LawError` naming ``where`` and the bad key.
    """
    if not isinstance(spec, Mapping):
        raise LawError(f"{where}: expected a mapping, got {type(spec).__name__}")
    kind = spec.get("law")
    allowed_keys = {
        "level": {"law", "steps", "rounding"},
        "linf": {"law", "min", "max", "step", "unit"},
        "logf": {"law", "min", "max", "steps", "unit"},
        "enum": {"law", "values", "labels", "unit"},
        "int": {"law", "min", "max"},
    }
    if kind not in allowed_keys:
        raise LawError(f"{where}: 'law' must be one of {', '.join(allowed_keys)}, got {kind!r}")
    unknown = set(spec) - allowed_keys[kind]
    if unknown:
        raise LawError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} for a {kind} law")
    try:
        if kind == "level":
            return LevelLaw(int(spec["steps"]), str(spec.get("rounding", "round")))
        if kind == "linf":
            return LinLaw(float(spec["min"]), float(spec["max"]), float(spec["step"]), str(spec.get("unit", "")))
        if kind == "logf":
            return LogLaw(float(spec["min"]), float(spec["max"]), int(spec["steps"]), str(spec.get("unit", "")))
        if kind == "enum":
            values = spec["values"]
            if not isinstance(values, list):
                raise LawError(f"{where}: 'values' must be a list")
            labels = spec.get("labels")
            return EnumLaw(values, [str(x) for x in labels] if labels else None, str(spec.get("unit", "")))
        return IntLaw(int(spec["min"]), int(spec["max"]))
    except KeyError as exc:
        raise LawError(f"{where}: a {kind} law needs '{exc.args[0]}'") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, LawError):
            raise LawError(f"{where}: {exc}") from None
        raise LawError(f"{where}: bad number in {dict(spec)}: {exc}") from None

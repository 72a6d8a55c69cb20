"""The strategy table: for each fault type, the console actions that treat it.

A strategy file (YAML, validated once at load like the main config) maps fault types to actions on the mixer's
firmware-agnostic channel strip (``ch01.hpf.freq``, ``ch01.eq.2.gain`` ...) in engineering units. Parameters are
written with channel placeholders resolved from the channel map at decision time (``{ch}`` = presenter channel,
``{music}`` = music channel), and values may be expressions over what the analysis measured::

    hum:
      hold: until_cleared
      actions:
        - {param: "{ch}.eq.1.freq", value: "{freq}"}
        - {param: "{ch}.eq.2.freq", value: "{freq} * 2", when: "{freq} * 2 < 1000"}

Expression variables: ``freq`` (Hz, hum fundamental or howl peak), ``score``, ``duration`` (s), ``peak_dbfs``
(estimated true peak, reconstructed over clipped plateaus), ``level_dbfs`` (loud-frame level of the window),
``floor_dbfs`` (quiet-frame level). Functions: ``min``, ``max``, ``ceil``, ``floor``, ``round``, ``abs``. An
action whose expression needs a value that was not measured uses its ``fallback`` or is skipped. The desk's own
value is known only to the mixer: actions relative to it use ``mode`` ``relative``, ``at_least`` or ``at_most``,
which the mixer resolves against the engineer's value.

Hold: ``event`` = for the fault event plus ``release_s`` (restored afterwards); a number = that many seconds;
``until_cleared`` = held until its owner releases it (the engineer clears it), then restored; ``sticky`` = never
restored. Bounds (``min``/``max``) clamp the resulting value and every value is also kept inside the strip
parameter's own range; for ``relative`` moves the result is the console's value + delta, so the bounds travel with
the action and the mixer applies them.
"""

from __future__ import annotations

import ast
import logging
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from liverec_edge.settings_base import SettingsFileError, describe_errors, load_yaml_file
from liverec_edge.types import FAULT_TYPES, Action, ActionMode, FaultEvent

log = logging.getLogger(__name__)

#: Channel placeholders a strategy may use; the channel map given to :meth:`StrategyTable.actions_for` fills them.
CHANNEL_ROLES: tuple[str, ...] = ("ch", "music")
#: Variables a value expression may use.
VARIABLES: tuple[str, ...] = ("freq", "score", "duration", "peak_dbfs", "level_dbfs", "floor_dbfs")


class StrategyError(Exception):
    """A strategy table that cannot be used; ``problems`` holds one line per problem, each naming its key path."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        return "\n".join([f"invalid strategy table {self.source}:"] + [f"  - {p}" for p in self.problems])


# --- the channel strip: parameter names, kinds and ranges (from the X32 notes / the mixer's console model) ---------


@dataclass(frozen=True)
class ParamSpec:
    """One strip parameter: numeric range, or an enum of allowed labels (numbers for enums like HPF slope)."""

    kind: Literal["number", "bool", "enum"]
    lo: float = 0.0
    hi: float = 1.0
    choices: tuple[str, ...] = ()


_DB_LEVEL = ParamSpec("number", -90.0, 10.0)  # -90 means -inf on the desk
_BOOL = ParamSpec("bool", 0.0, 1.0)
_SUFFIXES: dict[str, ParamSpec] = {
    "fader": _DB_LEVEL,
    "on": _BOOL,
    "trim": ParamSpec("number", -18.0, 18.0),
    "headamp.gain": ParamSpec("number", -12.0, 60.0),
    "pan": ParamSpec("number", -100.0, 100.0),
    "hpf.on": _BOOL,
    "hpf.slope": ParamSpec("enum", choices=("12", "18", "24")),
    "hpf.freq": ParamSpec("number", 20.0, 400.0),
    "eq.on": _BOOL,
    "eq.N.type": ParamSpec("enum", choices=("LCut", "LShv", "PEQ", "VEQ", "HShv", "HCut")),
    "eq.N.freq": ParamSpec("number", 20.0, 20000.0),
    "eq.N.gain": ParamSpec("number", -15.0, 15.0),
    "eq.N.q": ParamSpec("number", 0.3, 10.0),
    "gate.on": _BOOL,
    "gate.mode": ParamSpec("enum", choices=("EXP2", "EXP3", "EXP4", "GATE", "DUCK")),
    "gate.thr": ParamSpec("number", -80.0, 0.0),
    "gate.range": ParamSpec("number", 3.0, 60.0),
    "gate.attack": ParamSpec("number", 0.0, 120.0),
    "gate.hold": ParamSpec("number", 0.02, 2000.0),
    "gate.release": ParamSpec("number", 5.0, 4000.0),
    "dyn.on": _BOOL,
    "dyn.mode": ParamSpec("enum", choices=("COMP", "EXP")),
    "dyn.thr": ParamSpec("number", -60.0, 0.0),
    "dyn.ratio": ParamSpec("enum", choices=("1.1", "1.3", "1.5", "2", "2.5", "3", "4", "5", "7", "10", "20", "100")),
    "dyn.knee": ParamSpec("number", 0.0, 5.0),
    "dyn.mgain": ParamSpec("number", 0.0, 24.0),
    "dyn.attack": ParamSpec("number", 0.0, 120.0),
    "dyn.hold": ParamSpec("number", 0.02, 2000.0),
    "dyn.release": ParamSpec("number", 5.0, 4000.0),
    "dyn.mix": ParamSpec("number", 0.0, 100.0),
    "mix.NN.on": _BOOL,
    "mix.NN.level": _DB_LEVEL,
}
_CHANNEL_ONLY = {k for k in _SUFFIXES if k not in ("fader", "on")}
_STRIP_RE = re.compile(r"^(ch(?:0[1-9]|[12][0-9]|3[0-2])|bus(?:0[1-9]|1[0-6])|dca[1-8]|main)$")
_EQ_RE = re.compile(r"^eq\.([1-4])\.(type|freq|gain|q)$")
_SEND_RE = re.compile(r"^mix\.(?:0[1-9]|1[0-6])\.(on|level)$")


def strip_param_spec(param: str) -> ParamSpec:
    """The spec of a resolved parameter name like ``ch01.eq.2.freq``; ``ValueError`` naming what is wrong."""
    strip, _, rest = param.partition(".")
    if not _STRIP_RE.match(strip):
        raise ValueError(f"{param!r}: unknown strip {strip!r} (expected ch01…ch32, bus01…bus16, dca1…dca8 or main)")
    key = rest
    eq = _EQ_RE.match(rest)
    if eq:
        key = f"eq.N.{eq.group(2)}"
    send = _SEND_RE.match(rest)
    if send:
        key = f"mix.NN.{send.group(1)}"
    spec = _SUFFIXES.get(key)
    if spec is None:
        known = ", ".join(sorted(_SUFFIXES))
        raise ValueError(f"{param!r}: unknown parameter {rest!r}; known: {known} (N = 1…4, NN = 01…16)")
    if key in _CHANNEL_ONLY and not strip.startswith("ch"):
        raise ValueError(f"{param!r}: {rest!r} exists only on input channels (chNN)")
    return spec


def is_strip_param(param: str) -> bool:
    try:
        strip_param_spec(param)
    except ValueError:
        return False
    return True


# --- value expressions ------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BINOPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_CMPOPS: dict[type, Callable[[float, float], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_FUNCS: dict[str, Callable[..., float]] = {
    "min": min, "max": max, "ceil": math.ceil, "floor": math.floor, "round": round, "abs": abs,
}


class MissingVariable(Exception):
    """An expression needs a measurement the analysis did not provide (e.g. ``freq`` for an unmeasured hum)."""


class Expression:
    """A small arithmetic expression over measured variables: numbers, + - * /, comparisons, a few functions.

    Parsed with :mod:`ast` and evaluated by walking the tree: no ``eval``, no attribute access, no other names.
    """

    def __init__(self, text: str):
        self.text = text
        source = _PLACEHOLDER.sub(lambda m: m.group(1), text)
        try:
            tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as exc:
            raise ValueError(f"cannot parse expression {text!r}: {exc.msg}") from None
        self._tree = tree.body
        self.variables: set[str] = set()
        self._check(self._tree)

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return
        if isinstance(node, ast.Name):
            if node.id == "current":  # the analysis cannot know the desk's value; the mixer can
                raise ValueError(f"{self.text!r}: the desk's current value is not an expression variable; use mode "
                                 "relative, at_least or at_most, which the mixer resolves against the engineer's value")
            if node.id not in VARIABLES:
                raise ValueError(f"unknown variable {node.id!r} in {self.text!r}; known: {', '.join(VARIABLES)}")
            self.variables.add(node.id)
            return
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            self._check(node.left)
            self._check(node.right)
            return
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            self._check(node.operand)
            return
        if isinstance(node, ast.Compare) and all(type(op) in _CMPOPS for op in node.ops):
            self._check(node.left)
            for comparator in node.comparators:
                self._check(comparator)
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            if node.keywords or not node.args:
                raise ValueError(f"{node.func.id}() takes positional arguments only, in {self.text!r}")
            for arg in node.args:
                self._check(arg)
            return
        raise ValueError(
            f"unsupported syntax in {self.text!r}: only numbers, variables, + - * /, comparisons and "
            f"{', '.join(_FUNCS)}() are allowed"
        )

    def evaluate(self, variables: Mapping[str, float | None]) -> float:
        return float(self._eval(self._tree, variables))

    def _eval(self, node: ast.AST, env: Mapping[str, float | None]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            value = env.get(node.id)
            if value is None or not math.isfinite(value):
                raise MissingVariable(node.id)
            return value
        if isinstance(node, ast.BinOp):
            left, right = self._eval(node.left, env), self._eval(node.right, env)
            if isinstance(node.op, ast.Div) and right == 0:
                raise MissingVariable("division by zero")
            return _BINOPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            operand = self._eval(node.operand, env)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, env)
            for op, comparator in zip(node.ops, node.comparators, strict=True):
                right = self._eval(comparator, env)
                if not _CMPOPS[type(op)](left, right):
                    return 0.0
                left = right
            return 1.0
        if isinstance(node, ast.Call):
            args = [self._eval(a, env) for a in node.args]
            return _FUNCS[node.func.id](*args)  # type: ignore[union-attr]
        raise MissingVariable(f"unsupported node {type(node).__name__}")


# --- the file's schema ------------------------------------------------------------------------------------------

HoldSpec = float | Literal["event", "until_cleared", "sticky"]


_HOLD_WORDS = ("event", "until_cleared", "sticky")


def _check_hold_value(value: Any, allow_none: bool) -> Any:
    if value is None and allow_none:
        return value
    if isinstance(value, str) and value in _HOLD_WORDS:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < value <= 3600.0:
        return float(value)
    raise ValueError(f"hold must be one of {', '.join(_HOLD_WORDS)} or seconds in (0, 3600]")


class _Strict(BaseModel):
    # allow_inf_nan=False: a .nan/.inf value, bound or fallback is refused at load (NaN passes no range check and
    # would reach the desk as a move of NaN dB), as in the config's sections
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False)


class ActionSpec(_Strict):
    """One console change of a strategy."""

    param: str
    """Strip parameter with a channel placeholder, e.g. ``{ch}.hpf.freq`` or ``{music}.fader``."""
    value: float | str
    """Number, enum label (``PEQ``, ``EXP3``) or expression (``{freq} * 2``)."""
    mode: ActionMode = "set"
    """``set`` jumps, ``relative`` adds to the current value, ``ramp`` slews to the value over ``ramp_ms``;
    ``at_least`` / ``at_most`` move only if the console's value is below / above the value (an automatic high-pass
    never lowers the engineer's)."""
    ramp_ms: float = Field(default=0.0, ge=0.0, le=10_000.0)
    """Slew time for ``ramp`` (ms)."""
    hold: HoldSpec | None = None
    """Overrides the strategy's hold for this action."""
    min: float | None = None
    """Lowest value the action may produce (for ``relative``: the desk's value + delta, bounded by the mixer)."""
    max: float | None = None
    """Highest value the action may produce."""
    when: str | None = None
    """Expression; the action is skipped unless it is true (e.g. ``{freq} * 4 < 1000``)."""
    fallback: float | None = None
    """Value used when the expression needs a measurement that is missing; empty = skip the action."""

    @field_validator("hold", mode="before")
    @classmethod
    def _check_hold(cls, value: Any) -> Any:
        return _check_hold_value(value, allow_none=True)

    @model_validator(mode="after")
    def _check(self) -> ActionSpec:
        placeholders = set(_PLACEHOLDER.findall(self.param))
        unknown = placeholders - set(CHANNEL_ROLES)
        if unknown:
            raise ValueError(
                f"param: {self.param!r} has an unknown placeholder {{{sorted(unknown)[0]}}}; known: "
                + ", ".join("{" + r + "}" for r in CHANNEL_ROLES)
            )
        sample = _PLACEHOLDER.sub(lambda m: "ch01" if m.group(1) == "ch" else "ch02", self.param)
        try:
            spec = strip_param_spec(sample)
        except ValueError as exc:
            raise ValueError(f"param: {exc}") from None
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min: {self.min} is above max ({self.max})")
        if self.when is not None:
            try:
                Expression(self.when)
            except ValueError as exc:
                raise ValueError(f"when: {exc}") from None
        if spec.kind == "enum":
            if self.mode != "set":
                raise ValueError(f"mode: {self.param!r} is an enum: only mode 'set' makes sense")
            label = _enum_label(self.value)
            if label not in spec.choices:
                raise ValueError(f"value: {self.value!r} is not one of {', '.join(spec.choices)} for {self.param!r}")
            return self
        if isinstance(self.value, str):
            if spec.kind == "bool" and self.value.upper() in ("ON", "OFF"):
                return self
            try:
                Expression(self.value)
            except ValueError as exc:
                raise ValueError(f"value: {exc}") from None
        elif self.mode != "relative" and not spec.lo <= float(self.value) <= spec.hi:
            raise ValueError(f"value: {self.value} is outside {self.param!r}'s range [{spec.lo:g}, {spec.hi:g}]")
        elif self.mode == "relative" and not abs(float(self.value)) <= spec.hi - spec.lo:
            # a delta is not bounded by the range itself, but one larger than the whole range (or NaN) is a typo
            raise ValueError(f"value: a relative move of {self.value} is more than {self.param!r}'s whole range "
                             f"({spec.hi - spec.lo:g})")
        return self


def _enum_label(value: float | str) -> str:
    if isinstance(value, (int, float)):
        return f"{float(value):g}"
    return str(value)


class Strategy(_Strict):
    """What to do about one fault type."""

    enabled: bool = True
    """False: the fault is still reported, but nothing is changed on the console for it."""
    threshold: float = Field(default=0.0, ge=0.0, le=1.0)
    """Act only on events whose score reaches this (detection has its own threshold in the audio settings)."""
    hold: HoldSpec = "event"
    """Default hold of the actions: ``event``, seconds, ``until_cleared`` or ``sticky``."""
    min_hold_s: float = Field(default=0.5, ge=0.0, le=600.0)
    """With ``hold: event``: shortest hold, so a 20 ms click does not flap the console."""
    release_s: float = Field(default=0.5, ge=0.0, le=600.0)
    """With ``hold: event``: extra hold after the event's end before restoring."""
    description: str = ""
    """What the strategy does and why, for the engineer reading the table."""
    actions: list[ActionSpec] = Field(default_factory=list)

    @field_validator("hold", mode="before")
    @classmethod
    def _check_hold(cls, value: Any) -> Any:
        return _check_hold_value(value, allow_none=False)


class StrategyFile(_Strict):
    version: Literal[1] = 1
    """Format version of the table."""
    strategies: dict[str, Strategy]
    """Fault type → strategy. Types without an entry are reported but never acted on."""

    @field_validator("strategies")
    @classmethod
    def _check_types(cls, value: dict[str, Strategy]) -> dict[str, Strategy]:
        for name in value:
            if name not in FAULT_TYPES or name == "clean":
                known = ", ".join(t for t in FAULT_TYPES if t != "clean")
                raise ValueError(f"unknown fault type {name!r}; known: {known}")
        return value


# --- the table ------------------------------------------------------------------------------------------------------


def default_strategies_path() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "strategies.yaml"


#: Fields a strategy action's cross-field check names first in its message (they join the key path).
CROSS_FIELDS = ("param", "value", "when", "min", "max", "hold", "mode")


class StrategyTable:
    """A validated strategy table: turns a fault event into console actions."""

    def __init__(self, spec: StrategyFile, source: str = "<strategies>"):
        self.spec = spec
        self.source = source
        #: (fault type, role) pairs already warned about: a fault heard every hop must not log the same line each hop
        self._unmapped_warned: set[tuple[str, str]] = set()

    @classmethod
    def from_dict(cls, data: Any, source: str = "<strategies>") -> StrategyTable:
        if not isinstance(data, dict):
            raise StrategyError(source, [f"(top level): expected a mapping with a 'strategies' key, got "
                                         f"{type(data).__name__}"])
        try:
            return cls(StrategyFile.model_validate(data), source)
        except ValidationError as exc:
            raise StrategyError(source, describe_errors(exc.errors(), CROSS_FIELDS)) from None
        except RecursionError:  # a dict built in code can nest deeper than any file the YAML loader lets through
            raise StrategyError(source, ["(top level): nesting too deep to be a strategy table"]) from None

    @classmethod
    def load(cls, path: str | Path | None = None) -> StrategyTable:
        """Load and validate a strategy file (``None`` = the packaged default). Raises :class:`StrategyError`."""
        path = Path(path) if path is not None else default_strategies_path()
        try:
            # the config's loader: a fault type or key given twice is an error, not silently the last one
            data = load_yaml_file(path)
        except OSError as exc:
            raise StrategyError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
        except SettingsFileError as exc:
            raise StrategyError(str(path), [str(exc)]) from None
        return cls.from_dict(data, str(path))

    def forget_warnings(self) -> None:
        """Warn again about unmapped channel roles (the channel map changed: it may miss the same roles or others)."""
        self._unmapped_warned.clear()

    def strategy(self, fault_type: str) -> Strategy | None:
        return self.spec.strategies.get(fault_type)

    def roles(self) -> dict[str, list[str]]:
        """Channel role -> the enabled fault types whose actions need it (``{"music": ["background_music"]}``), so a
        channel map can be checked against the table before a fault needs it."""
        needed: dict[str, list[str]] = {}
        for fault_type, strategy in self.spec.strategies.items():
            if not strategy.enabled:
                continue
            for action in strategy.actions:
                for role in _PLACEHOLDER.findall(action.param):
                    types = needed.setdefault(role, [])
                    if fault_type not in types:
                        types.append(fault_type)
        return needed

    def params(self, channel_map: Mapping[str, str]) -> list[str]:
        """Every parameter the table can touch with this channel map (for the mixer's baseline snapshot); actions on a
        role the map lacks are left out, as :meth:`actions_for` leaves them out."""
        names: list[str] = []
        for strategy in self.spec.strategies.values():
            for action in strategy.actions:
                try:
                    name = _resolve_param(action.param, channel_map)
                except MissingRole:
                    continue
                if name not in names:
                    names.append(name)
        return names

    def actions_for(
        self,
        event: FaultEvent,
        channel_map: Mapping[str, str],
        owner: str,
        measurements: Mapping[str, float | None] | None = None,
    ) -> list[Action]:
        """The console actions for ``event``.

        ``channel_map`` maps placeholders to strips (``{"ch": "ch01", "music": "ch05"}``); ``owner`` is recorded on
        every action (the tag id, or ``audio:<type>``); ``measurements`` holds the window's ``peak_dbfs``,
        ``level_dbfs``, ``floor_dbfs``. Returns ``[]`` when the strategy is missing, disabled or below its threshold.
        An action that cannot be computed (missing measurement and no fallback) is left out, never guessed; so is one
        on a channel role the map lacks (``{music}`` with no music channel configured: check-config warns of it).
        """
        strategy = self.spec.strategies.get(event.type)
        if strategy is None or not strategy.enabled or event.score < strategy.threshold:
            return []
        env_base: dict[str, float | None] = {
            "freq": event.freq,
            "score": float(event.score),
            "duration": max(0.0, float(event.end - event.start)),
            "peak_dbfs": None,
            "level_dbfs": None,
            "floor_dbfs": None,
        }
        for key, value in (measurements or {}).items():
            if key in env_base and key not in ("freq", "score", "duration"):
                env_base[key] = None if value is None else float(value)
        actions: list[Action] = []
        for action_spec in strategy.actions:
            try:
                param = _resolve_param(action_spec.param, channel_map)
            except MissingRole as exc:
                # The rest of the strategy still helps (the default table ducks {music}, and the default config
                # maps only the presenter): skip this action rather than fail the whole fault.
                if (event.type, exc.role) not in self._unmapped_warned:
                    self._unmapped_warned.add((event.type, exc.role))
                    log.warning(f"strategy action skipped: the channel map has no {exc.role!r} channel; map it in "
                                f"mixer.channels (e.g. {{{exc.role}: 5}}) for the {event.type} strategy to act on it",
                                extra={"fields": {"fault": event.type, "role": exc.role, "param": action_spec.param}})
                continue
            spec = strip_param_spec(param)
            if action_spec.when is not None:
                try:
                    if not Expression(action_spec.when).evaluate(env_base):
                        continue
                except MissingVariable:
                    continue
            value = _action_value(action_spec, spec, env_base)
            if value is None:
                log.debug("strategy action skipped: missing measurement", extra={"fields": {"param": param}})
                continue
            if isinstance(value, float) and spec.kind != "enum":  # an enum's value is one of its choices already
                value = _bounded(action_spec, spec, value)
            hold_s, restore = _hold(action_spec.hold if action_spec.hold is not None else strategy.hold, strategy,
                                    event)
            actions.append(Action(
                param=param, value=value, mode=action_spec.mode, ramp_ms=action_spec.ramp_ms, hold_s=hold_s,
                restore=restore, owner=owner,
                reason=f"{event.type} score {event.score:.2f}" + (f" at {event.freq:.1f} Hz" if event.freq else ""),
                # a relative move's result is the desk's value + delta: the mixer, which knows it, bounds it
                min_value=action_spec.min if action_spec.mode == "relative" else None,
                max_value=action_spec.max if action_spec.mode == "relative" else None,
            ))
        return actions


class MissingRole(KeyError):
    """The channel map has no strip for a role an action names (``{music}`` without a music channel)."""

    def __init__(self, role: str, template: str):
        super().__init__(f"channel map has no {role!r} channel (needed by {template!r})")
        self.role = role


def _resolve_param(template: str, channel_map: Mapping[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        role = match.group(1)
        strip = channel_map.get(role)
        if strip is None:
            raise MissingRole(role, template)
        return strip

    param = _PLACEHOLDER.sub(fill, template)
    strip_param_spec(param)  # a bad channel map value is a clear error here, not a silent desk ignore later
    return param


def _action_value(action: ActionSpec, spec: ParamSpec, env: Mapping[str, float | None]) -> float | str | None:
    if spec.kind == "enum":
        label = _enum_label(action.value)
        try:  # numeric enums (HPF slope, compressor ratio) travel as numbers, named ones (PEQ, EXP3) as names
            return float(label)
        except ValueError:
            return label
    if isinstance(action.value, (int, float)):
        return float(action.value)
    if spec.kind == "bool" and action.value.upper() in ("ON", "OFF"):
        return 1.0 if action.value.upper() == "ON" else 0.0
    try:
        return Expression(action.value).evaluate(env)
    except MissingVariable:
        return action.fallback


def _bounded(action: ActionSpec, spec: ParamSpec, value: float) -> float:
    """``value`` inside the action's bounds and the parameter's range; a relative delta is left to the mixer."""
    if action.mode == "relative":
        return value
    lo = spec.lo if action.min is None else max(spec.lo, action.min)
    hi = spec.hi if action.max is None else min(spec.hi, action.max)
    return min(hi, max(lo, value))


def _hold(hold: HoldSpec, strategy: Strategy, event: FaultEvent) -> tuple[float | None, bool]:
    if hold == "sticky":
        return None, False
    if hold == "until_cleared":
        return None, True
    if hold == "event":
        return max(strategy.min_hold_s, float(event.end - event.start)) + strategy.release_s, True
    return float(hold), True

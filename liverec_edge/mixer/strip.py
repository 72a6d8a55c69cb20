"""The firmware-agnostic console model: parameter names, what their values mean, and which way is "protective".

A parameter name is a template with numbered parts filled in: ``ch01.eq.2.freq`` is the template
``ch{ch}.eq.{band}.freq`` with ``ch=1, band=2``. The templates and their semantics live here, once; which of them
a desk has, where they sit on the wire and their value laws live in the desk's firmware YAML (``firmware_configs/``).

Numbered parts and how they are written in a name (independent of how a desk writes them in an address):

=========  ==========================  =========
part       meaning                     in a name
=========  ==========================  =========
``ch``     input channel               2 digits (``ch01``)
``bus``    mix bus                     2 digits (``bus03``)
``dca``    DCA group                   1 digit  (``dca1``)
``band``   EQ band                     1 digit  (``eq.2``)
``send``   channel→bus send            2 digits (``mix.03``)
=========  ==========================  =========

"Protective" decides what wins when two owners hold the same parameter: the value that makes the signal quieter or
cleaner (lower fader/gain/trim/EQ gain, mute over unmute, higher HPF frequency, HPF/gate/compressor on, a lower
compressor threshold and a higher ratio). Parameters with no safe direction (EQ type, frequency and Q, times, modes)
go to the earliest owner still holding them.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

#: numbered part -> digits it takes in a parameter name
PART_WIDTH: dict[str, int] = {"ch": 2, "bus": 2, "dca": 1, "band": 1, "send": 2}
#: numbered part -> words used in error messages
PART_WORDS: dict[str, str] = {"ch": "channel", "bus": "bus", "dca": "DCA", "band": "EQ band", "send": "send bus"}


class Protect(enum.Enum):
    """Which direction of a parameter is the safe one."""

    LOWER = "lower"  # quieter: faders, gains, trims, mute (0), EQ cut
    HIGHER = "higher"  # cleaner: HPF frequency and slope, processing on
    NONE = "none"  # no safe direction: the earliest owner wins


class Ramp(enum.Enum):
    """How a ramp interpolates a parameter (between snapped grid points)."""

    DB = "db"  # linear in dB; -inf is treated as -90 dB while moving
    LOG = "log"  # linear in log(value): frequencies, Q, times
    LINEAR = "linear"
    STEP = "step"  # enums and switches jump at the end of the ramp


@dataclass(frozen=True, slots=True)
class ParamKind:
    """What a strip template means: its unit, its safe direction and how it ramps."""

    template: str
    unit: str
    protect: Protect
    ramp: Ramp
    description: str


def _kinds() -> dict[str, ParamKind]:
    L, H, N = Protect.LOWER, Protect.HIGHER, Protect.NONE
    rows: list[tuple[str, str, Protect, Ramp, str]] = [
        ("ch{ch}.fader", "dB", L, Ramp.DB, "channel fader"),
        ("ch{ch}.on", "", L, Ramp.STEP, "channel on: 1 = on (unmuted), 0 = muted"),
        ("ch{ch}.pan", "", N, Ramp.LINEAR, "pan, -100 (left) .. +100 (right)"),
        ("ch{ch}.trim", "dB", L, Ramp.LINEAR, "digital trim"),
        ("ch{ch}.headamp.gain", "dB", L, Ramp.LINEAR, "analogue preamp gain of the headamp feeding the channel"),
        ("ch{ch}.headamp.index", "", N, Ramp.STEP, "which headamp feeds the channel (-1: none); read-only use"),
        ("ch{ch}.hpf.on", "", H, Ramp.STEP, "high-pass filter on"),
        ("ch{ch}.hpf.slope", "dB/oct", H, Ramp.STEP, "high-pass slope 12/18/24"),
        ("ch{ch}.hpf.freq", "Hz", H, Ramp.LOG, "high-pass corner frequency"),
        ("ch{ch}.eq.on", "", H, Ramp.STEP, "EQ on"),
        ("ch{ch}.eq.{band}.type", "", N, Ramp.STEP, "EQ band type LCut LShv PEQ VEQ HShv HCut"),
        ("ch{ch}.eq.{band}.freq", "Hz", N, Ramp.LOG, "EQ band frequency"),
        ("ch{ch}.eq.{band}.gain", "dB", L, Ramp.LINEAR, "EQ band gain (a deeper cut is more protective)"),
        ("ch{ch}.eq.{band}.q", "", N, Ramp.LOG, "EQ band Q"),
        ("ch{ch}.gate.on", "", H, Ramp.STEP, "gate on"),
        ("ch{ch}.gate.mode", "", N, Ramp.STEP, "gate mode EXP2 EXP3 EXP4 GATE DUCK"),
        ("ch{ch}.gate.thr", "dB", H, Ramp.LINEAR, "gate threshold (higher gates more)"),
        ("ch{ch}.gate.range", "dB", H, Ramp.LINEAR, "gate range (more attenuation is more protective)"),
        ("ch{ch}.gate.attack", "ms", N, Ramp.LINEAR, "gate attack"),
        ("ch{ch}.gate.hold", "ms", N, Ramp.LOG, "gate hold"),
        ("ch{ch}.gate.release", "ms", N, Ramp.LOG, "gate release"),
        ("ch{ch}.dyn.on", "", H, Ramp.STEP, "compressor on"),
        ("ch{ch}.dyn.mode", "", N, Ramp.STEP, "compressor mode COMP EXP"),
        ("ch{ch}.dyn.thr", "dB", L, Ramp.LINEAR, "compressor threshold (lower compresses more)"),
        ("ch{ch}.dyn.ratio", "", H, Ramp.STEP, "compressor ratio 1.1 .. 100"),
        ("ch{ch}.dyn.knee", "", N, Ramp.STEP, "compressor knee 0..5"),
        ("ch{ch}.dyn.mgain", "dB", L, Ramp.LINEAR, "compressor make-up gain"),
        ("ch{ch}.dyn.attack", "ms", N, Ramp.LINEAR, "compressor attack"),
        ("ch{ch}.dyn.hold", "ms", N, Ramp.LOG, "compressor hold"),
        ("ch{ch}.dyn.release", "ms", N, Ramp.LOG, "compressor release"),
        ("ch{ch}.dyn.mix", "%", H, Ramp.LINEAR, "compressor wet mix"),
        ("ch{ch}.mix.{send}.on", "", L, Ramp.STEP, "send to bus on"),
        ("ch{ch}.mix.{send}.level", "dB", L, Ramp.DB, "send level to bus"),
        ("bus{bus}.fader", "dB", L, Ramp.DB, "bus master fader"),
        ("bus{bus}.on", "", L, Ramp.STEP, "bus master on"),
        ("dca{dca}.fader", "dB", L, Ramp.DB, "DCA fader"),
        ("dca{dca}.on", "", L, Ramp.STEP, "DCA on"),
        ("main.fader", "dB", L, Ramp.DB, "main stereo (X-Air: LR) fader"),
        ("main.on", "", L, Ramp.STEP, "main stereo on"),
    ]
    return {t: ParamKind(t, unit, protect, ramp, text) for t, unit, protect, ramp, text in rows}


#: every template the strip knows, by template text
KINDS: Mapping[str, ParamKind] = _kinds()

_PART_RE = re.compile(r"\{(\w+)\}")


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = ""
    position = 0
    for match in _PART_RE.finditer(template):
        pattern += re.escape(template[position : match.start()])
        part = match.group(1)
        pattern += rf"(?P<{part}>\d{{{PART_WIDTH[part]}}})"
        position = match.end()
    pattern += re.escape(template[position:])
    return re.compile(pattern + r"\Z")


_REGEXES: list[tuple[re.Pattern[str], str]] = [(_template_regex(t), t) for t in KINDS]


class ParamNameError(ValueError):
    """A parameter name that is not part of the strip, or not on this desk."""


@dataclass(frozen=True, slots=True)
class ParamName:
    """A parsed parameter name: its template and numbered parts (``ch01.eq.2.q`` -> ``ch{ch}.eq.{band}.q``)."""

    name: str
    template: str
    parts: tuple[tuple[str, int], ...]

    @property
    def kind(self) -> ParamKind:
        return KINDS[self.template]

    def part(self, key: str) -> int | None:
        return dict(self.parts).get(key)


def format_name(template: str, **parts: int) -> str:
    """``format_name("ch{ch}.fader", ch=1)`` -> ``"ch01.fader"``."""
    widths = {key: f"{value:0{PART_WIDTH[key]}d}" for key, value in parts.items()}
    return template.format(**widths)


def parse_name(name: str, aliases: Mapping[str, int] | None = None) -> ParamName:
    """Parse a parameter name against the strip's grammar (not yet against a desk; see ``FirmwareConfig.resolve``).

    ``aliases`` maps role names to channel numbers, so ``presenter.hpf.freq`` reads as ``ch01.hpf.freq`` when
    ``aliases={"presenter": 1}``.
    """
    if not isinstance(name, str) or not name:
        raise ParamNameError(f"parameter name must be a non-empty string, got {name!r}")
    text = name.strip()
    if aliases:
        head, _, rest = text.partition(".")
        if head in aliases and rest:
            channel = aliases[head]
            text = f"ch{channel:02d}.{rest}"
    for regex, template in _REGEXES:
        match = regex.match(text)
        if match:
            parts = tuple((key, int(value)) for key, value in match.groupdict().items())
            return ParamName(text, template, parts)
    suggestion = _suggest(text)
    example = " (names look like ch01.fader, ch01.hpf.freq, bus03.fader)"
    hint = f" (did you mean {suggestion}?)" if suggestion else example
    raise ParamNameError(f"unknown parameter {name!r}{hint}")


def _suggest(text: str) -> str | None:
    import difflib

    generic = re.sub(r"\d+", "#", text)
    candidates = {re.sub(r"\{\w+\}", "#", t): t for t in KINDS}
    close = difflib.get_close_matches(generic, list(candidates), n=1, cutoff=0.75)
    if not close:
        return None
    template = candidates[close[0]]
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    parts = _PART_RE.findall(template)
    if len(numbers) == len(parts):
        return format_name(template, **dict(zip(parts, numbers, strict=True)))
    return template

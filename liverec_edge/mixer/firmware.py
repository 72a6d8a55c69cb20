"""Desk knowledge as data: load a firmware YAML (``firmware_configs/*.yaml``) and resolve parameter names on it.

A firmware config says, for one console family: its UDP port, the models and firmware versions it covers (checked
against ``/xinfo``), the remote-subscription command, the range of every numbered part (channels, buses, DCAs, EQ
bands, sends), its value laws, and for every strip template the OSC address template and law. Adding a console is
adding a file; nothing in the code names a desk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liverec_edge.mixer.laws import EngValue, Law, LawError, law_from_spec
from liverec_edge.mixer.strip import KINDS, PART_WORDS, ParamName, ParamNameError, format_name, parse_name
from liverec_edge.settings_base import SettingsFileError, load_yaml_file

#: numbered parts that appear only in addresses, never in names (X32: the headamp feeding a channel)
ADDRESS_ONLY_PARTS: dict[str, str] = {"headamp": "headamp"}
#: where the shipped firmware configs live (the repository's ``firmware_configs/``)
FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware_configs"
#: an address field ``{ch0}`` is part ``ch`` counted from zero (channel 1 -> 0): some desk tables (the X32's
#: ``/-ha/00…39/index``) number from 0 while names and most addresses number from 1
ZERO_BASED_SUFFIX = "0"
#: numbered parts range within 0..PART_MAX: real desks have at most a few hundred of anything (the X32's 128
#: headamps), and address_map() enumerates every combination, so [1, 20000] would freeze the daemon building it
PART_MAX = 999
#: most concrete addresses a firmware config may describe (the X32 has about 2 400; 50 000 take about a second)
MAX_ADDRESSES = 50_000


def address_fields(template: str) -> list[str]:
    """The numbered parts an address template uses, once each, in order: ``'/-ha/{ch0:02d}/index'`` -> ``['ch']``."""
    found: list[str] = []
    for fld in re.findall(r"\{(\w+)", template):
        base = fld[: -len(ZERO_BASED_SUFFIX)] if fld.endswith(ZERO_BASED_SUFFIX) else fld
        if base not in found:
            found.append(base)
    return found


def format_address(template: str, **parts: int) -> str:
    """Fill an address template from 1-based parts; ``{ch0}`` gets ``ch - 1``. Raises ``KeyError``/``ValueError``."""
    fields = {**parts, **{f"{key}{ZERO_BASED_SUFFIX}": value - 1 for key, value in parts.items()}}
    return template.format(**fields)


class FirmwareConfigError(ValueError):
    """A firmware YAML that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One strip template on one desk: its address template, law and (for the simulator) default value."""

    template: str
    address: str
    law: Law
    law_name: str
    default: EngValue
    #: the simulator's start value is the first part plus this (X32 ``/-ha/NN/index``: -1, so channel N starts on
    #: headamp N-1, its own local input, as on an un-patched desk)
    default_part_offset: int | None = None
    #: a template whose value fills the address part ``headamp`` (X32: ``/-ha/NN/index``)
    via: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedParam:
    """A concrete parameter on a concrete desk: ``ch01.hpf.freq`` -> ``/ch/01/preamp/hpf`` with its law."""

    name: str
    parsed: ParamName
    spec: ParamSpec

    @property
    def law(self) -> Law:
        return self.spec.law

    @property
    def needs_lookup(self) -> bool:
        """True when the address needs a value read from the desk first (the headamp feeding a channel)."""
        return self.spec.via is not None

    def via_name(self) -> str | None:
        if self.spec.via is None:
            return None
        return format_name(self.spec.via, **dict(self.parsed.parts))

    def address(self, **lookups: int) -> str:
        try:
            return format_address(self.spec.address, **dict(self.parsed.parts), **lookups)
        except (KeyError, ValueError) as exc:
            raise FirmwareConfigError(f"{self.name}: address template {self.spec.address!r} needs {exc}") from None

    def default(self) -> EngValue:
        if self.spec.default_part_offset is not None:
            return float(self.parsed.parts[0][1] + self.spec.default_part_offset)
        return self.spec.default


@dataclass(frozen=True)
class FirmwareConfig:
    family: str
    title: str
    port: int
    models: tuple[str, ...]
    firmware_pattern: str
    remote: str
    #: does the desk push a client's own sets back to it under ``remote``? (X32 ``/xremote``: no)
    remote_echoes_own_sets: bool
    parts: Mapping[str, tuple[int, int]]
    params: Mapping[str, ParamSpec]
    #: node path template -> leaf names, in the order the desk prints them in ``/node`` replies
    nodes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: most clients the desk keeps ``remote`` subscriptions for at once (X32: 4); None when the notes give no limit
    max_remote_clients: int | None = None
    source: str = ""

    # ---- names ---------------------------------------------------------------------------------------------------

    def resolve(self, name: str, aliases: Mapping[str, int] | None = None) -> ResolvedParam:
        """Validate a parameter name against this desk; raises :class:`ParamNameError` saying what is wrong."""
        parsed = parse_name(name, aliases)
        spec = self.params.get(parsed.template)
        if spec is None:
            raise ParamNameError(f"{parsed.name}: not available on {self.family} ({self.title})")
        for key, value in parsed.parts:
            first, last = self.parts[key]
            if not first <= value <= last:
                raise ParamNameError(
                    f"{parsed.name}: {PART_WORDS[key]} {value} is out of range {first}..{last} on {self.family}"
                )
        return ResolvedParam(parsed.name, parsed, spec)

    def model_matches(self, model: str) -> bool:
        return model.strip().upper() in {m.upper() for m in self.models}

    def firmware_matches(self, firmware: str) -> bool:
        return re.match(self.firmware_pattern, firmware.strip()) is not None

    def all_names(self) -> Iterator[str]:
        """Every concrete parameter name on this desk (the simulator's state)."""
        for template in self.params:
            keys = re.findall(r"\{(\w+)\}", template)
            for combo in _product([range(self.parts[k][0], self.parts[k][1] + 1) for k in keys]):
                yield format_name(template, **dict(zip(keys, combo, strict=True)))


    def all_addresses(self) -> Iterator[tuple[str, ParamSpec, dict[str, int]]]:
        """Every concrete address on this desk with its spec and the parts that fill it (the simulator's state).

        Parameters reached ``via`` another one (the X32 headamp gain) are enumerated over their address part.
        """
        for spec in self.params.values():
            keys = address_fields(spec.address)
            for combo in _product([range(self.parts[k][0], self.parts[k][1] + 1) for k in keys]):
                parts = dict(zip(keys, combo, strict=True))
                yield format_address(spec.address, **parts), spec, parts


    def address_map(self) -> dict[str, ResolvedParam]:
        """Concrete address -> parameter, for every parameter reached without a lookup (decoding desk pushes)."""
        mapping: dict[str, ResolvedParam] = {}
        for address, spec, parts in self.all_addresses():
            if spec.via is not None:
                continue
            keys = re.findall(r"\{(\w+)\}", spec.template)
            name_parts = {k: parts[k] for k in keys}
            name = format_name(spec.template, **name_parts)
            mapping[address] = ResolvedParam(name, ParamName(name, spec.template, tuple(name_parts.items())), spec)
        return mapping


def _product(ranges: list[range]) -> Iterator[tuple[int, ...]]:
    if not ranges:
        yield ()
        return
    for first in ranges[0]:
        for rest in _product(ranges[1:]):
            yield (first, *rest)


def find_firmware(name_or_path: str | Path) -> Path:
    """``"x32"`` -> ``firmware_configs/x32.yaml``; a path is used as is."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text:
        return Path(text)
    return FIRMWARE_DIR / f"{text}.yaml"


def load_firmware(name_or_path: str | Path) -> FirmwareConfig:
    """Load and validate a firmware YAML. Raises :class:`FirmwareConfigError` naming the file and key."""
    path = find_firmware(name_or_path)
    try:
        # the config's loader: a duplicate key is an error, too deep nesting or a list key is not a traceback
        data = load_yaml_file(path)
    except OSError as exc:
        known = ", ".join(sorted(p.stem for p in FIRMWARE_DIR.glob("*.yaml")))
        reason = exc.strerror or exc
        raise FirmwareConfigError(f"cannot read firmware config {path}: {reason} (shipped: {known})") from None
    except SettingsFileError as exc:
        raise FirmwareConfigError(f"firmware config {path}: {exc}") from None
    return firmware_from_dict(data, str(path))


def firmware_from_dict(data: Any, source: str = "<firmware>") -> FirmwareConfig:
    def fail(message: str) -> FirmwareConfigError:
        return FirmwareConfigError(f"{source}: {message}")

    if not isinstance(data, dict):
        raise fail("expected a mapping at the top level")
    allowed = {"family", "title", "port", "models", "firmware", "remote", "remote_echoes_own_sets",
               "max_remote_clients", "parts", "laws", "params", "nodes"}
    unknown = set(data) - allowed
    if unknown:  # str(): a YAML key may be a number (`5: x`), which neither sorts with names nor joins
        raise fail(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    for key in ("family", "port", "models", "firmware", "remote", "parts", "laws", "params"):
        if key not in data:
            raise fail(f"missing key '{key}'")
    port = data["port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise fail(f"port: expected 1..65535, got {port!r}")
    models = data["models"]
    if not isinstance(models, list) or not models:
        raise fail("models: expected a non-empty list of model names as /xinfo reports them")
    try:
        re.compile(str(data["firmware"]))
    except re.error as exc:
        raise fail(f"firmware: not a regular expression: {exc}") from None
    max_clients = data.get("max_remote_clients")
    if max_clients is not None and (isinstance(max_clients, bool) or not isinstance(max_clients, int)
                                    or max_clients < 1):
        raise fail(f"max_remote_clients: expected a positive whole number (or leave it out), got {max_clients!r}")

    parts: dict[str, tuple[int, int]] = {}
    if not isinstance(data["parts"], dict):
        raise fail("parts: expected a mapping like {ch: [1, 32]}")
    for key, bounds in data["parts"].items():
        if key not in PART_WORDS and key not in ADDRESS_ONLY_PARTS:
            raise fail(f"parts.{key}: unknown part (known: {', '.join([*PART_WORDS, *ADDRESS_ONLY_PARTS])})")
        if not (isinstance(bounds, list) and len(bounds) == 2
                and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)):
            raise fail(f"parts.{key}: expected [first, last], got {bounds!r}")
        if not 0 <= bounds[0] <= bounds[1] <= PART_MAX:
            raise fail(f"parts.{key}: expected [first, last] with 0 <= first <= last <= {PART_MAX}, got {bounds!r}")
        parts[key] = (bounds[0], bounds[1])

    laws: dict[str, Law] = {}
    if not isinstance(data["laws"], dict):
        raise fail("laws: expected a mapping of law name -> law")
    for law_name, spec in data["laws"].items():
        try:
            laws[law_name] = law_from_spec(spec, f"laws.{law_name}")
        except LawError as exc:
            raise fail(str(exc)) from None

    params: dict[str, ParamSpec] = {}
    if not isinstance(data["params"], dict):
        raise fail("params: expected a mapping of strip template -> {address, law}")
    for template, spec in data["params"].items():
        where = f"params.{template}"
        if template not in KINDS:
            raise fail(f"{where}: not a strip template (known: {', '.join(KINDS)})")
        if not isinstance(spec, dict):
            raise fail(f"{where}: expected a mapping with address and law")
        extra = set(spec) - {"address", "law", "default", "default_part_offset", "via"}
        if extra:
            raise fail(f"{where}: unknown key(s) {', '.join(sorted(extra))}")
        law_name = spec.get("law")
        if law_name not in laws:
            raise fail(f"{where}.law: {law_name!r} is not defined under laws")
        address = spec.get("address")
        if not isinstance(address, str) or not address.startswith("/"):
            raise fail(f"{where}.address: expected an OSC address template starting with '/', got {address!r}")
        for key in re.findall(r"\{(\w+)", template) + address_fields(address):
            if key not in parts:
                raise fail(f"{where}: part '{key}' has no range under parts")
        law = laws[law_name]
        default = spec.get("default", law.eng_of_index(0))
        try:
            default = law.snap(default)
        except LawError as exc:
            raise fail(f"{where}.default: {exc}") from None
        via = spec.get("via")
        if via is not None and via not in data["params"]:
            raise fail(f"{where}.via: {via!r} is not a template under params")
        params[template] = ParamSpec(template, address, law, law_name, default, spec.get("default_part_offset"), via)

    addresses = 0
    for template, param in params.items():
        count = 1
        for key in address_fields(param.address):
            count *= parts[key][1] - parts[key][0] + 1
        addresses += count
        if addresses > MAX_ADDRESSES:  # address_map() enumerates them all, in the daemon's event loop
            raise fail(f"params: the parts' ranges give more than {MAX_ADDRESSES} addresses (at {template}); "
                       "check the ranges under parts")

    nodes: dict[str, tuple[str, ...]] = {}
    raw_nodes = data.get("nodes") or {}
    if not isinstance(raw_nodes, dict):
        raise fail(f"nodes: expected a mapping of node path -> list of leaf names, got {raw_nodes!r}")
    for node, leaves in raw_nodes.items():
        if not isinstance(leaves, list) or not all(isinstance(x, str) for x in leaves):
            raise fail(f"nodes.{node}: expected a list of leaf names")
        for key in address_fields(str(node)):
            if key not in parts:
                raise fail(f"nodes.{node}: part '{key}' has no range under parts")
        nodes[str(node)] = tuple(leaves)

    return FirmwareConfig(
        family=str(data["family"]),
        title=str(data.get("title", data["family"])),
        port=port,
        models=tuple(str(m) for m in models),
        firmware_pattern=str(data["firmware"]),
        remote=str(data["remote"]),
        remote_echoes_own_sets=bool(data.get("remote_echoes_own_sets", False)),
        parts=parts,
        params=params,
        nodes=nodes,
        max_remote_clients=max_clients,
        source=source,
    )

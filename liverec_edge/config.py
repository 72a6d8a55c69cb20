"""One YAML config file, validated once at load into typed, immutable objects and passed down.

Each stage owns its section (``liverec_edge/<stage>/settings.py``); this module composes them, adds the daemon-wide
keys, and turns any validation failure into a :class:`ConfigError` whose lines name the key path, the bad value and
what is allowed.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from liverec_edge.audio.settings import AudioSettings
from liverec_edge.behaviour.settings import BehaviourSettings
from liverec_edge.capture.settings import CaptureSettings
from liverec_edge.control.settings import ControlSettings
from liverec_edge.mixer.settings import MixerSettings
from liverec_edge.record.settings import RecordSettings
from liverec_edge.settings_base import Section, describe_errors
from liverec_edge.vision.settings import VisionSettings


class LogLevel(str, enum.Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LoggingSettings(Section):
    level: LogLevel = LogLevel.info
    """Lowest level written to stderr (journald picks stderr up under systemd)."""


class DaemonSettings(Section):
    state_dir: Path = Path("/var/lib/liverec-edge")
    """Where the change journal and other crash-surviving state live (systemd's StateDirectory)."""
    watchdog_stall_s: float = Field(default=5.0, gt=0)
    """The pipeline counts as stalled, and the systemd watchdog is no longer fed, after this long without progress."""
    shutdown_timeout_s: float = Field(default=1.5, gt=0)
    """How long stages get to finish on SIGTERM before they are cancelled."""


class Config(Section):
    """The whole daemon configuration. Every key is optional; the defaults run the demo studio with no hardware."""

    daemon: DaemonSettings = DaemonSettings()
    capture: CaptureSettings = CaptureSettings()
    vision: VisionSettings = VisionSettings()
    behaviour: BehaviourSettings = BehaviourSettings()
    audio: AudioSettings = AudioSettings()
    mixer: MixerSettings = MixerSettings()
    record: RecordSettings = RecordSettings()
    control: ControlSettings = ControlSettings()
    logging: LoggingSettings = LoggingSettings()


class ConfigError(Exception):
    """A config that cannot be used. ``problems`` holds one line per problem, each naming its key path."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        lines = [f"invalid config {self.source}:"] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def config_from_dict(data: Any, source: str = "<config>") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [f"(top level): expected a mapping of sections, got {type(data).__name__}"])
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, describe_errors(exc.errors())) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (plain YAML keeps the last one silently, so a
    second ``mixer:`` section would quietly replace the first)."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first given on line {seen[key].start_mark.line + 1})",
                key_node.start_mark)
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_config(path: str | Path | None) -> Config:
    """Load and validate a config file; ``None`` gives the defaults. Raises :class:`ConfigError`."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        kind = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise ConfigError(str(path), [f"{kind} at {where}{problem}"]) from None
    return config_from_dict(data, str(path))

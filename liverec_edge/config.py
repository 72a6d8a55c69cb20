"""One YAML config file, validated once at load into typed, immutable objects and passed down.

Each stage owns its section (``liverec_edge/<stage>/settings.py``); this module composes them, adds the daemon-wide
keys, and turns any validation failure into a :class:`ConfigError` whose lines name the key path, the bad value and
what is allowed.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from liverec_edge.audio.settings import AudioSettings
from liverec_edge.behaviour.settings import BehaviourSettings
from liverec_edge.capture.settings import CaptureSettings
from liverec_edge.control.settings import ControlSettings
from liverec_edge.mixer.settings import MixerSettings
from liverec_edge.record.settings import RecordSettings
from liverec_edge.settings_base import Section, SettingsFileError, describe_errors, load_yaml_file
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

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir_named(cls, value: Any) -> Any:
        # An empty string reads as Path("."): the journal would land wherever the daemon happened to start.
        if isinstance(value, str) and not value.strip():
            raise ValueError("must name a directory (an empty path would mean the current directory)")
        return value
    watchdog_stall_s: float = Field(default=5.0, gt=0, le=600)
    """The pipeline counts as stalled, and the systemd watchdog is no longer fed, after this long without progress
    (at most 600 s: a longer stall is a hung box, and the unit's ``WatchdogSec`` is 10 s)."""
    shutdown_timeout_s: float = Field(default=1.5, gt=0, le=60)
    """How long stages get to finish on SIGTERM before they are cancelled (at most 60 s; systemd's
    ``TimeoutStopSec`` kills the daemon after 5 s anyway)."""


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
    except RecursionError:  # a dict built in code can nest deeper than any file the YAML loader lets through
        raise ConfigError(source, ["(top level): nesting too deep to be a config"]) from None


def load_config(path: str | Path | None) -> Config:
    """Load and validate a config file; ``None`` gives the defaults. Raises :class:`ConfigError`."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = load_yaml_file(path)
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except SettingsFileError as exc:
        raise ConfigError(str(path), [str(exc)]) from None
    return config_from_dict(data, str(path))

"""The ``mixer`` section of the config file."""

from __future__ import annotations

import enum
import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from liverec_edge.settings_base import MinusInfFloat, Section

_URL_RE = re.compile(r"^(?P<scheme>x32|xair|sim|soft)://(?P<host>\[[^\]]*\]|[^:/]*)(?::(?P<port>\d+))?/?$")
#: default UDP port per URL scheme (X32/M32 10023, X-Air 10024)
DEFAULT_PORTS = {"x32": 10023, "xair": 10024, "sim": 10023}
#: firmware config each scheme uses unless ``firmware`` says otherwise
DEFAULT_FIRMWARE = {"x32": "x32", "xair": "xair", "sim": "x32", "soft": "x32"}


@dataclass(frozen=True, slots=True)
class MixerUrl:
    """A parsed ``--mixer``/``mixer.url``: ``x32://HOST[:PORT]``, ``xair://HOST[:PORT]``, ``sim://[FAMILY]``,
    ``soft://``."""

    scheme: str
    host: str
    port: int | None

    @property
    def default_firmware(self) -> str:
        if self.scheme == "sim" and self.host in ("x32", "xair"):
            return self.host
        return DEFAULT_FIRMWARE[self.scheme]


def parse_mixer_url(text: str) -> MixerUrl:
    """Parse a mixer URL; raises ``ValueError`` saying what a good one looks like."""
    match = _URL_RE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(
            f"bad mixer URL {text!r}: expected x32://HOST[:PORT] (X32/M32, port 10023), xair://HOST[:PORT] "
            "(X-Air/MR18, port 10024), sim://[x32|xair] (built-in simulator) or soft:// (software console)"
        )
    scheme, host, port_text = match.group("scheme"), match.group("host").strip("[]"), match.group("port")
    if scheme in ("x32", "xair") and not host:
        raise ValueError(f"bad mixer URL {text!r}: {scheme}:// needs the desk's host name or IP address")
    port = int(port_text) if port_text else None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"bad mixer URL {text!r}: port {port} is outside 1..65535")
    if port is None and scheme in ("x32", "xair"):
        port = DEFAULT_PORTS[scheme]
    return MixerUrl(scheme, host, port)


class OnViolation(str, enum.Enum):
    clamp = "clamp"
    refuse = "refuse"


class ParamBounds(Section):
    """Limits on what the daemon may do to the parameters a pattern matches (engineering units)."""

    min: MinusInfFloat | None = None
    """Lowest value the daemon may set (for switches: 1 means it may never switch off, e.g. never mute; for levels
    ``-inf`` is the desk's off)."""
    max: MinusInfFloat | None = None
    """Highest value the daemon may set."""
    max_raise: float | None = Field(default=None, ge=0)
    """How far above the engineer's own value (the baseline) the daemon may go, e.g. 3 for +3 dB of gain."""
    max_cut: float | None = Field(default=None, ge=0)
    """How far below the baseline the daemon may go."""
    on_violation: OnViolation = OnViolation.clamp
    """``clamp`` moves an out-of-bounds target to the nearest allowed value; ``refuse`` drops the action."""


def _default_bounds() -> dict[str, ParamBounds]:
    return {
        "ch*.trim": ParamBounds(max_raise=3.0),
        "ch*.headamp.gain": ParamBounds(max_raise=3.0),
        "ch*.fader": ParamBounds(max_raise=3.0),
        "ch*.mix.*.level": ParamBounds(max_raise=3.0),
        "ch*.eq.*.gain": ParamBounds(max_raise=3.0),
        "ch*.dyn.mgain": ParamBounds(max_raise=3.0),
        "bus*.fader": ParamBounds(max_raise=0.0),
        "dca*.fader": ParamBounds(max_raise=0.0),
        "main.fader": ParamBounds(max_raise=0.0),
        "main.on": ParamBounds(min=1, on_violation=OnViolation.refuse),
        "ch*.headamp.index": ParamBounds(max_raise=0.0, max_cut=0.0, on_violation=OnViolation.refuse),
    }


class MixerSettings(Section):
    """Settings of the mixer stage: which console to drive, what the daemon may change, and how gently."""

    url: str = "sim://x32"
    """The console: ``x32://HOST[:PORT]`` (X32/M32, default port 10023), ``xair://HOST[:PORT]`` (X-Air/MR18, 10024),
    ``sim://x32`` or ``sim://xair`` (built-in desk simulator, for the demo) or ``soft://`` (the software console)."""
    firmware: str | None = None
    """Firmware config: a name under ``firmware_configs/`` (``x32``, ``xair``) or a path to a YAML. Default: the
    URL's family."""
    channels: dict[str, int] = Field(default_factory=lambda: {"presenter": 1})
    """Role -> input channel, so strategies can say ``presenter.hpf.freq``; e.g. ``{presenter: 1, music: 5}``."""
    presenter_never_muted: bool = True
    """Never switch the presenter channel off (``ch.on`` = 0), whatever a strategy asks."""
    bounds: dict[str, ParamBounds] = Field(default_factory=_default_bounds)
    """Per-parameter limits, keyed by name pattern (``ch01.trim``, ``ch*.fader``); every matching pattern applies.
    Giving this key replaces the defaults (+3 dB at most over the baseline for gains, faders, sends and EQ boosts;
    never raise bus/DCA/main faders; never switch main off)."""
    dry_run: bool = False
    """Log what would be sent instead of sending it (reads still go to the desk for the baselines)."""
    xremote_renew_s: float = Field(default=8.0, gt=0, le=9.5)
    """How often the ``/xremote`` subscription is renewed; the desk drops it after 10 s."""
    rate_limit_hz: float = Field(default=100.0, gt=0, le=100)
    """Most datagrams per second sent to the desk, all parameters and requests together (parameters ramping at
    once share it). The desk neither acknowledges sets nor reports overflow, and the protocol notes say to pace
    requests 10-20 ms apart as existing tools do: hence 100 (10 ms) at most; lower it for a busy desk or network."""
    batch_interval_ms: float = Field(default=10.0, ge=0, le=100)
    """Spacing of requests in a burst (baseline snapshots of many parameters), as existing X32 tools do (10-20 ms)."""
    ramp_rate_hz: float = Field(default=50.0, gt=0, le=50)
    """Most updates per second for one parameter while ramping (the desk and its faders cope with 20-50 Hz)."""
    override_hold_s: float = Field(default=60.0, ge=0, le=86400)
    """After an engineer changes a parameter the daemon was holding, how long the daemon leaves it alone (at most a
    day)."""
    reply_timeout_s: float = Field(default=0.25, gt=0, le=10)
    """How long to wait for the desk's answer to a read before sending it again (at most 10 s: a desk on the LAN
    answers in milliseconds, and the baseline snapshot waits this long per unanswered read)."""
    retries: int = Field(default=3, ge=0, le=20)
    """How many times a read that got no answer is re-sent."""
    connect_backoff_max_s: float = Field(default=10.0, gt=0, le=600)
    """Longest wait between reconnection attempts while the desk is unreachable (doubling from 0.5 s; at most
    600 s, so a desk switched back on is found again within minutes)."""
    state_dir: Path | None = None
    """Where the change journal lives; default: the daemon's ``state_dir``."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parse_mixer_url(value)
        return value

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: dict[str, int]) -> dict[str, int]:
        for role, channel in value.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", role) or re.fullmatch(r"(ch|bus|dca)\d*|main", role):
                raise ValueError(f"channel role {role!r}: use a lower-case word that is not ch/bus/dca/main")
            if not 1 <= channel <= 32:
                raise ValueError(f"channel role {role!r}: channel {channel} is outside 1..32")
        # The presenter's strip is what the strategies' {ch} resolves to (audio/stage.py channel_map), the strip the
        # record stage feeds and the one presenter_never_muted protects; the soft console is sized by the highest
        # channel. Without it the daemon could treat nothing.
        if "presenter" not in value:
            given = ", ".join(value) or "none"
            raise ValueError(f"the presenter channel is required, e.g. {{presenter: 1}} (roles given: {given})")
        return value

    @model_validator(mode="after")
    def _check_bounds(self) -> MixerSettings:
        for pattern, bound in self.bounds.items():
            if not re.fullmatch(r"[a-z0-9_.*?\[\]]+", pattern):
                raise ValueError(f"bounds key {pattern!r}: expected a parameter name or pattern like ch*.fader")
            if bound.min is not None and bound.max is not None and bound.min > bound.max:
                raise ValueError(f"bounds.{pattern}: min {bound.min} is above max {bound.max}")
        return self

    @model_validator(mode="after")
    def _check_against_firmware(self) -> MixerSettings:
        from liverec_edge.mixer.firmware import FirmwareConfigError, load_firmware

        if self.parsed_url.scheme == "soft":
            return self
        try:
            firmware = load_firmware(self.firmware_name)
        except FirmwareConfigError as exc:
            raise ValueError(str(exc)) from None
        first, last = firmware.parts["ch"]
        for role, channel in self.channels.items():
            if not first <= channel <= last:
                raise ValueError(f"channels.{role}: channel {channel} is not on {firmware.family} ({first}..{last})")
        return self

    @property
    def parsed_url(self) -> MixerUrl:
        return parse_mixer_url(self.url)

    @property
    def firmware_name(self) -> str:
        return self.firmware or self.parsed_url.default_firmware

    def bounds_for(self, param: str) -> list[tuple[str, ParamBounds]]:
        """Every bounds entry whose pattern matches ``param`` (a resolved ``chNN`` name)."""
        found = [(pattern, bound) for pattern, bound in self.bounds.items() if fnmatch.fnmatchcase(param, pattern)]
        presenter = self.channels.get("presenter")
        if self.presenter_never_muted and presenter is not None and param == f"ch{presenter:02d}.on":
            found.append(("presenter_never_muted", ParamBounds(min=1, on_violation=OnViolation.refuse)))
        return found

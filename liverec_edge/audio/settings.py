"""The ``audio`` section of the config file: the fault analysis (gate, model, thresholds, windows) and where the
strategy table lives."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from liverec_edge.settings_base import Section
from liverec_edge.types import BEHAVIOURS, FAULT_TYPES

#: Fault types that can be reported (``clean`` is the absence of a fault, never an event).
REPORTABLE_FAULTS: tuple[str, ...] = tuple(t for t in FAULT_TYPES if t != "clean")

#: Which fault each behaviour makes more likely. A behaviour only ever lowers the detection threshold of these
#: types by ``prior_boost``; it never invents a fault the audio does not show.
DEFAULT_BEHAVIOUR_PRIORS: dict[str, tuple[str, ...]] = {
    "hand_at_mic": ("mic_handling",),
    "hand_at_mouth": ("cough",),
    "typing": ("keyboard",),
    "lean_in": ("plosive", "clipping"),
}


class GateSettings(Section):
    """The cheap level/activity gate that runs before the model."""

    silence_dbfs: float = Field(default=-60.0, ge=-120.0, le=0.0)
    """A window whose RMS level (dBFS) is below this and whose peak is below ``silence_peak_dbfs`` is clean
    (silence or room tone) and never reaches the model."""
    silence_peak_dbfs: float = Field(default=-40.0, ge=-120.0, le=0.0)
    """Peak level (dBFS) a quiet window must stay under to count as silence; a single loud click in an otherwise
    quiet window still goes to the model."""
    clip_dbfs: float = Field(default=-0.3, ge=-6.0, le=0.0)
    """Samples at or above this absolute level (dBFS) count as at full scale for the deterministic clipping check."""
    clip_min_run: int = Field(default=3, ge=2, le=64)
    """Consecutive samples held at full scale that make one clipped run (a plateau): shorter runs are legitimate
    peaks."""


class FaultTypeSettings(Section):
    """Per-fault-type overrides of the analysis (the strategy table has its own switch for acting on a type)."""

    enabled: bool = True
    """False: this type is never reported (the strategy table is not consulted for it)."""
    threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    """Detection threshold on the model score in (0, 1); empty = the threshold shipped with the model."""
    confirm_windows: int = Field(default=2, ge=1, le=10)
    """Consecutive analysed windows that must all show this type before an audio-only detection (no behaviour tag)
    is acted on; a tag from the camera confirms on its own. Raise it for slow, stationary faults."""
    sustained_windows: int = Field(default=1, ge=1, le=20)
    """Also judge this type by its mean score over this many consecutive analysed windows (1 = off). A stationary
    fault under a talker, music bleed above all, scores unevenly from one window to the next (the talker covers it,
    then pauses); over several windows it is heard. Acting on it from audio alone still takes ``confirm_windows``
    such verdicts in a row."""
    sustained_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    """Threshold on that mean score; empty = ``SUSTAINED_THRESHOLD_RATIO`` × the type's threshold. Only read when
    ``sustained_windows`` > 1."""


#: Default threshold on a sustained type's mean score, as a share of its single-window threshold.
SUSTAINED_THRESHOLD_RATIO = 0.6
#: Windows background music is judged over by default (2 s at the 0.5 s hop).
SUSTAINED_MUSIC_WINDOWS = 4


def _default_types() -> dict[str, FaultTypeSettings]:
    # Without a tag, audio alone must repeat itself: with windows overlapping by half, every moment is heard by two
    # consecutive windows, so a real click or pop is confirmed half a second later while a verdict one window's
    # speech happened to fool is not. Stationary faults (hum, hiss, music bleed) lose nothing by waiting a third.
    # Feedback too: its strategy is sticky (a notch and the fader down until cleared), and a held note in music
    # looks like a howl for a window or two, never for three at one frequency.
    slow = {"hum": 3, "hiss": 3, "background_music": 3, "feedback": 3}
    # Music bleed is judged over 2 s as well (see FaultTypeSettings.sustained_windows; the figures are in
    # models/faults/MODEL_CARD.md, "Session 8").
    sustained = {"background_music": SUSTAINED_MUSIC_WINDOWS}
    return {name: FaultTypeSettings(confirm_windows=slow.get(name, 2), sustained_windows=sustained.get(name, 1))
            for name in REPORTABLE_FAULTS}


class AudioSettings(Section):
    """Settings of the audio stage: background-fault analysis and the strategy table it looks actions up in."""

    model_dir: Path | None = None
    """Folder holding the fault model and its metadata; empty = ``models/faults`` of the installation."""
    num_threads: int = Field(default=1, ge=1, le=8)
    """Threads the TFLite interpreter may use (the Pi has 4 cores shared with vision: keep 1)."""
    window_s: float = Field(default=1.0, ge=0.25, le=10.0)
    """Length (s) of the audio analysed per decision when no tag sets the span (audio-only trigger, offline)."""
    hop_s: float = Field(default=0.5, gt=0.0, le=10.0)
    """Step (s) between consecutive analysis windows (audio-only trigger and offline analysis)."""
    pre_roll_s: float = Field(default=0.3, ge=0.0, le=5.0)
    """Audio (s) taken before a behaviour tag's start: the fault often precedes what the camera sees."""
    post_roll_s: float = Field(default=0.3, ge=0.0, le=5.0)
    """Audio (s) taken after a behaviour tag's end."""
    max_window_s: float = Field(default=30.0, ge=1.0, le=600.0)
    """Longest window analysed in one go; a longer tag window is analysed over its last ``max_window_s``."""
    prejudge_ratio: float = Field(default=0.6, gt=0.0, le=1.0)
    """Pre-judgement threshold as a fraction of each type's detection threshold: a window goes on to event
    location and precise classification only if some type scores above this lower bar."""
    prior_boost: float = Field(default=0.1, ge=0.0, le=0.2)
    """How much a matching behaviour tag lowers the detection threshold of its fault types (kept modest: the camera
    says where to look, the audio must still show the fault)."""
    mains_hz: float | None = Field(default=None, ge=45.0, le=65.0)
    """Nominal mains frequency of the studio (50 or 60); empty = measured from the hum itself, searching both."""
    gate: GateSettings = GateSettings()
    """The level/activity gate in front of the model."""
    types: dict[str, FaultTypeSettings] = Field(default_factory=_default_types)
    """Per fault type: ``enabled``, ``threshold``, ``confirm_windows``, ``sustained_windows``,
    ``sustained_threshold``. Types not listed keep their defaults."""
    audio_only_types: tuple[str, ...] = ("hum", "feedback", "clipping")
    """Fault types acted on from audio alone, when no behaviour tag is open: the faults whose cause the camera
    cannot see and whose physics the analysis measures before acting (a harmonic comb at the mains frequency, a
    howl that holds its pitch, flat runs at full scale). Mic handling, plosive, cough and keyboard are what speech
    is most often mistaken for, and a false cough mutes the presenter on air, so they wait for the camera to see
    the hand, the lean or the typing. ``background_music`` and ``hiss`` are reported but not acted on alone: on the
    fault-free material (tools/bench/false_actuations.py) the shipped model scored clean recorded speech above
    speech with music 12–20 dB under it, and called music itself hiss several times a minute. Add them with a model
    that tells them apart; on a box without a camera, list every type."""
    behaviour_priors: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_BEHAVIOUR_PRIORS))
    """Behaviour → fault types whose threshold it lowers by ``prior_boost``."""
    strategies: Path | None = None
    """Strategy table (YAML); empty = the one packaged with liverec-edge (``liverec_edge/data/strategies.yaml``)."""

    @field_validator("types", mode="before")
    @classmethod
    def _merge_type_defaults(cls, value: object) -> object:
        # A config that overrides one type must not silently reset the others' confirm_windows to 1.
        if not isinstance(value, dict):
            return value
        unknown = [k for k in value if k not in REPORTABLE_FAULTS]
        if unknown:
            raise ValueError(
                f"unknown fault type {unknown[0]!r}; known types: {', '.join(REPORTABLE_FAULTS)}"
            )
        merged: dict[str, object] = {k: v.model_dump() for k, v in _default_types().items()}
        for key, override in value.items():
            if isinstance(override, FaultTypeSettings):
                override = override.model_dump(exclude_unset=True)
            if isinstance(override, dict):
                merged[key] = {**merged[key], **override}  # type: ignore[dict-item]
            else:
                merged[key] = override
        return merged

    @field_validator("audio_only_types")
    @classmethod
    def _check_audio_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for fault in value:
            if fault not in REPORTABLE_FAULTS:
                raise ValueError(f"unknown fault type {fault!r}; known types: {', '.join(REPORTABLE_FAULTS)}")
        return value

    @field_validator("behaviour_priors")
    @classmethod
    def _check_priors(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for behaviour, faults in value.items():
            if behaviour not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {behaviour!r}; known behaviours: {', '.join(BEHAVIOURS)}")
            for fault in faults:
                if fault not in REPORTABLE_FAULTS:
                    raise ValueError(
                        f"behaviour {behaviour!r}: unknown fault type {fault!r}; known types: "
                        f"{', '.join(REPORTABLE_FAULTS)}"
                    )
        return value

    @model_validator(mode="after")
    def _check_hop(self) -> AudioSettings:
        if self.hop_s > self.window_s:
            raise ValueError(f"hop_s ({self.hop_s}) must not exceed window_s ({self.window_s}): audio would be skipped")
        return self

    def type_settings(self, fault_type: str) -> FaultTypeSettings:
        return self.types.get(fault_type) or FaultTypeSettings()

    def resolved_model_dir(self) -> Path:
        """The model folder: the configured one, else ``models/faults`` beside the package (source checkout)."""
        if self.model_dir is not None:
            return self.model_dir
        return Path(__file__).resolve().parents[2] / "models" / "faults"

    def resolved_strategies(self) -> Path:
        """The strategy table file: the configured one, else the packaged default."""
        if self.strategies is not None:
            return self.strategies
        return Path(__file__).resolve().parents[1] / "data" / "strategies.yaml"

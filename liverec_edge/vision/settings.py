"""The ``vision`` section of the config file: which part detectors run, on which models, how often, and within what
time budget per frame."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from liverec_edge.settings_base import Section

#: Where tools/fetch_models.py puts the models in a checkout.
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models" / "vision"

PartKind = Literal["face", "hand", "pose"]


class VisionSettings(Section):
    """Settings of the vision stage (the part detectors and their schedule)."""

    models_dir: Path | None = None
    """Folder holding the ``.tflite`` part-detector models (and their ``manifest.json`` with sha256 pins); empty means
    the checkout's ``models/vision`` filled by ``tools/fetch_models.py``."""
    parts: tuple[PartKind, ...] = ("face", "hand", "pose")
    """Part detectors to run, by kind; drop one to save its time on a slow box."""
    face_range: Literal["short", "full"] = "short"
    """Face detector: ``short`` (BlazeFace short range, faces within ~2 m, 1 ms) or ``full`` (full range sparse,
    faces up to ~5 m and smaller in the frame, ~3× slower)."""
    face_detect_every_n: int = Field(default=10, ge=1, le=300)
    """Run the face detector every this many frames while a face is tracked (it always runs when none is): the face
    mesh follows the face on the frames in between, and the detector catches a larger face coming into view."""
    palm_model: Literal["lite", "full"] = "lite"
    """Palm detector variant: ``lite`` is faster, ``full`` finds smaller and more turned hands."""
    hand_model: Literal["lite", "full"] = "lite"
    """Hand-landmark variant run on the tracked hands (see ``hands_per_frame``): ``lite`` ~4 ms, ``full`` ~2× that."""
    num_threads: int = Field(default=1, ge=1, le=8)
    """Interpreter threads per model; 1 leaves the other cores to audio and capture."""
    max_hands: int = Field(default=2, ge=0, le=4)
    """Most hands tracked at once (a presenter has two)."""
    palm_every_n: int = Field(default=3, ge=1, le=300)
    """While fewer than ``max_hands`` hands are tracked, look for new ones (palm detection) every this many frames;
    tracked hands are followed from their previous landmarks without it."""
    hands_per_frame: float = Field(default=1.0, ge=0.25, le=4)
    """Moving tracked hands whose landmarks are measured per frame, on average: a fraction spreads the runs out (0.5:
    one hand every other frame; 0.67: two frames in three) and whole hands not spent for lack of a moving hand are
    not saved up. Hands not measured repeat their last result (marked ``reused``) and are measured later, the
    longest-waiting first; a moving hand waits at most two frames at 1 or more, proportionally longer below 1
    (four frames at 0.5). Each hand-landmark run costs about 3× the face mesh; 1 keeps steady-state frames at face +
    one hand, and two moving hands take turns. Below 1 the repeated landmarks lag a moving hand: the accuracy each
    value costs is in ``models/vision/README.md``."""
    hand_still_threshold: float = Field(default=3.0, ge=0)
    """A tracked hand whose crop has changed by less than this since its landmarks were last measured (mean absolute
    difference of a 16×16 thumbnail, in 0–255 levels) is still: it keeps its landmarks, marked ``reused``, and frees
    the frame's hand slot for a moving hand. 0 measures every tracked hand on every frame it can."""
    hand_refresh_n: int = Field(default=6, ge=1, le=300)
    """A still hand is measured again at least every this many frames (re-checks its presence and handedness)."""
    pose_every_n: int = Field(default=6, ge=1, le=300)
    """Run the body-pose model every this many frames; frames in between repeat the last pose, marked ``reused``."""
    frame_budget_ms: float = Field(default=50.0, gt=0)
    """Time the part analysis may take per frame. Before each optional stage (extra hands, palm search, pose) the
    expected cost is checked against what is left; a stage that does not fit is skipped and counted. The face always
    runs."""
    face_min_score: float = Field(default=0.4, gt=0, lt=1)
    """Minimum face-detection score. Below mediapipe's 0.5 because every candidate must also pass the face mesh's
    presence check (``face_min_presence``): at 0.5 small faces (~70 px wide at 640×480) are missed on some frames."""
    face_min_presence: float = Field(default=0.5, gt=0, lt=1)
    """Minimum face-presence score of the face mesh for a detection to count as the presenter's face; detections
    below it (skin patches, covered faces) are passed over for the next-largest face."""
    palm_min_score: float = Field(default=0.5, gt=0, lt=1)
    """Minimum palm-detection score for starting to track a hand."""
    hand_min_presence: float = Field(default=0.5, gt=0, lt=1)
    """Minimum hand-presence score of the landmark model; below it a tracked hand is dropped."""
    pose_min_score: float = Field(default=0.5, gt=0, lt=1)
    """Minimum person-detection score of the pose detector."""
    pose_min_presence: float = Field(default=0.5, gt=0, lt=1)
    """Minimum pose-presence score of the pose-landmark model; below it the pose is lost and re-detected."""
    bilinear_crops: bool = False
    """Sample model inputs bilinearly instead of nearest-neighbour: smoother crops at ~1.5 ms more per model input on
    a 640×480 frame; landmarks move by well under a pixel on the shared clips."""
    mirrored: bool = False
    """True when the camera image is mirrored (selfie view): swaps reported handedness so 0/1 stay the person's
    own left/right hand."""
    lean_baseline_s: float = Field(default=60.0, gt=0)
    """Time constant of the running shoulder-width baseline the pose ``lean`` is measured against: a lean held longer
    than this slowly becomes the new normal."""

    @model_validator(mode="after")
    def _parts_unique(self) -> VisionSettings:
        if len(set(self.parts)) != len(self.parts):
            raise ValueError(f"parts lists a detector twice: {list(self.parts)}")
        return self

    def resolved_models_dir(self) -> Path:
        return self.models_dir if self.models_dir is not None else DEFAULT_MODELS_DIR

"""The part-detector interface and the registry of detector kinds that config selects by name (``vision.parts``).

A detector kind is a class taking ``(settings, models_dir)`` that loads its models at construction (raising
:class:`~liverec_edge.tflite.ModelError` naming the file when one is missing, corrupt or of the wrong shape) and then
turns each frame into :class:`~liverec_edge.types.PartResult` instances. Adding a kind (an iris model, a
microphone detector) means writing such a class and adding it to :data:`DETECTOR_KINDS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from liverec_edge.types import PartResult
from liverec_edge.vision.face import FaceDetector
from liverec_edge.vision.hands import HandTracker
from liverec_edge.vision.model import FrameView, TfliteModel
from liverec_edge.vision.pose import PoseTracker
from liverec_edge.vision.settings import VisionSettings


@runtime_checkable
class PartDetector(Protocol):
    """One body part's detector: models loaded at construction, per-frame results, resettable tracking state."""

    part: str

    @property
    def models(self) -> tuple[TfliteModel, ...]:
        """The loaded models, for timing reports."""
        ...

    def process(self, view: FrameView) -> list[PartResult]:
        """Results for one frame: at least one, ``detected=False`` when the part is not seen."""
        ...

    def reset(self) -> None:
        """Forget state carried between frames (tracking), e.g. after a gap in the frames."""
        ...


class DetectorFactory(Protocol):
    def __call__(self, settings: VisionSettings, models_dir: Path) -> PartDetector: ...


#: Detector kinds by the name used in ``vision.parts``.
DETECTOR_KINDS: Mapping[str, DetectorFactory] = MappingProxyType(
    {"face": FaceDetector, "hand": HandTracker, "pose": PoseTracker}
)


def create_detector(kind: str, settings: VisionSettings, models_dir: Path) -> PartDetector:
    """Build the detector registered as ``kind``; ValueError naming the known kinds for an unknown one."""
    try:
        factory = DETECTOR_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown part detector {kind!r}; known: {', '.join(DETECTOR_KINDS)}") from None
    return factory(settings, Path(models_dir))

"""Offline behaviour analysis of a video or image file (the vision half of ``liverec-edge analyze``).

Runs the part detectors and the behaviour recognition over every frame (an image is one frame at t = 0) and returns
the closed tags and the per-part detection counts. Offline there is no real-time constraint, so the vision frame
budget is lifted (nothing is skipped for time, which also makes the result the same on a fast or a busy machine); the
detector schedule (pose every N frames, hand tracking) stays as configured, so the tags are those the daemon would
produce at full speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from liverec_edge.behaviour.recognise import BehaviourAnalyser, BehaviourTag, closed_tags
from liverec_edge.behaviour.settings import BehaviourSettings
from liverec_edge.media import IMAGE_SUFFIXES, MediaError, iter_video_frames, load_image, probe_video
from liverec_edge.types import PART_NAMES, Frame

#: Offline the vision budget is effectively unlimited (see the module docstring).
OFFLINE_FRAME_BUDGET_MS = 1e9


#: Image formats that may hold an animation (decoded as video when they have more than one frame).
ANIMATED_SUFFIXES = {".gif", ".webp"}


def is_still_image(path: str | Path) -> bool:
    """True for an image file of one frame; an animated GIF/WebP counts as video."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        return False
    if suffix in ANIMATED_SUFFIXES:
        try:
            from PIL import Image

            with Image.open(path) as img:
                return int(getattr(img, "n_frames", 1)) <= 1
        except OSError:
            return True  # let load_image report what is wrong with it
    return True


def iter_media_frames(path: str | Path) -> Iterator[Frame]:
    """Frames of a video file (or animated GIF), or the single frame of an image file (t = 0).
    Raises :class:`MediaError`."""
    path = Path(path)
    if is_still_image(path):
        yield Frame(t=0.0, index=0, image=load_image(path))
        return
    for index, (t, image) in enumerate(iter_video_frames(path)):
        yield Frame(t=t, index=index, image=image)


def tag_to_json(tag: BehaviourTag) -> dict[str, Any]:
    """A closed tag in the shared ``analyze --json`` shape."""
    return {
        "behaviour": tag.behaviour,
        "start": round(float(tag.start), 4),
        "end": round(float(tag.end), 4),
        "confidence": round(float(tag.confidence), 4),
        "parts": list(tag.parts),
    }


def recognise_frames(
    frames: Iterable[Frame], analyser: Any, behaviour_settings: BehaviourSettings, frame_period: float | None = None
) -> tuple[list[BehaviourTag], dict[str, dict[str, int]]]:
    """Run ``analyser`` (anything with ``analyse(frame) -> list[PartResult]``) and recognition over frames.

    Returns every tag event (open and closed, predictions included) and per-part ``frames``/``detected`` counts
    (frames with a result for the part; frames in which any instance of it was detected).
    """
    behaviour = BehaviourAnalyser(behaviour_settings)
    counts = {part: {"frames": 0, "detected": 0} for part in PART_NAMES}
    events: list[BehaviourTag] = []
    last: Frame | None = None
    for frame in frames:
        if frame.image.ndim != 3 or frame.image.shape[0] == 0 or frame.image.shape[1] == 0:
            raise MediaError(f"frame {frame.index} has an unusable image shape {frame.image.shape}")
        results = analyser.analyse(frame)
        for part in PART_NAMES:
            mine = [r for r in results if r.part == part and not r.attrs.get("reused")]
            if mine:
                counts[part]["frames"] += 1
                counts[part]["detected"] += int(any(r.detected for r in mine))
        aspect = frame.image.shape[0] / frame.image.shape[1]
        events += behaviour.push(frame.t, frame.index, results, aspect)
        last = frame
    if last is not None:
        period = frame_period if frame_period else behaviour.recogniser.frame_period
        end = last.t + (period if np.isfinite(period) else 0.0)
        events += behaviour.finish(end)
    return events, counts


def analyze_media(
    path: str | Path, vision_settings: Any, behaviour_settings: BehaviourSettings, models_dir: Path | None = None
) -> dict[str, Any]:
    """Behaviour analysis of a video or image file, shaped for ``liverec-edge analyze --json``::

        {"tags": [{"behaviour", "start", "end", "confidence", "parts"}, ...],
         "parts": {"face": {"frames": N, "detected": M}, "hand": {...}, "pose": {...}}}

    ``frames`` counts the frames on which the part's detector ran (pose runs every ``pose_every_n`` frames) and
    ``detected`` those in which it found the part. Raises :class:`MediaError` for unreadable media and
    ``ModelError`` (from the vision stage) for missing or corrupt models.
    """
    from liverec_edge.vision.pipeline import PartAnalyser

    path = Path(path)
    if not path.is_file():
        raise MediaError(f"media file not found: {path}")
    settings = vision_settings.model_copy(update={"frame_budget_ms": OFFLINE_FRAME_BUDGET_MS})
    analyser = PartAnalyser(settings, models_dir)
    period = None
    if not is_still_image(path):
        fps = probe_video(path)[0]
        period = 1.0 / fps if fps > 0 else None
    events, counts = recognise_frames(iter_media_frames(path), analyser, behaviour_settings, period)
    stats = analyser.stats()
    # Prefer the analyser's own counts (they know about scheduled reuse); fall back to ours.
    parts = {
        part: {
            "frames": int(stats.get(part, counts[part])["frames"]),
            "detected": int(stats.get(part, counts[part])["detected"]),
        }
        for part in PART_NAMES
    }
    return {"tags": [tag_to_json(t) for t in closed_tags(events)], "parts": parts}

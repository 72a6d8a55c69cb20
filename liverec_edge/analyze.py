"""``liverec-edge analyze FILE [--json]``: diagnose a recorded file with the daemon's own analysis, changing nothing.

Audio (any file with an audio stream) goes through the background-fault analysis: sliding windows, fault events with
type, score, start, end and measured frequency. Video and still images go through the part detectors and behaviour
recognition: per-part detection rates and the abnormal-behaviour tags. ``--json`` prints one object::

    {"file": ..., "faults": [{"type", "score", "start", "end", "freq"}...],
     "tags": [{"behaviour", "start", "end", "confidence", "parts"}...],
     "parts": {"face": {"frames": N, "detected": M}, "hand": {...}, "pose": {...}},
     "errors": [...]}

Times are seconds from the start of the file. A stage that cannot run (no audio stream, a missing or broken model)
leaves its list empty and says why in ``errors``; the exit code is 0 when every stage that applies ran, 1 otherwise,
and 2 when the file itself cannot be read (missing, a directory, corrupt, an unsupported format, no audio samples or
too few, samples that are not finite numbers) or the config is invalid.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="audio, video or image file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    parser.add_argument("--config", default=None, help="config file whose vision/behaviour/audio sections to use")
    parser.add_argument("--no-vision", action="store_true", help="skip the part detectors and behaviour tags")
    parser.add_argument("--no-audio", action="store_true", help="skip the background-fault analysis")


def _empty_parts() -> dict[str, dict[str, int]]:
    return {part: {"frames": 0, "detected": 0} for part in ("face", "hand", "pose")}


def analyze_file(path: Path, config: Any, *, audio: bool = True, vision: bool = True) -> dict[str, Any]:
    """Run the offline analyses that apply to ``path``; see the module docstring for the result's shape."""
    return _analyze(path, config, audio=audio, vision=vision)[0]


def _analyze(path: Path, config: Any, *, audio: bool, vision: bool) -> tuple[dict[str, Any], list[str]]:
    """The result, and the errors that come from the file itself (unreadable: exit 2, not a stage failure)."""
    from liverec_edge.media import IMAGE_SUFFIXES, MediaError, check_file, check_image, has_audio, has_video

    result: dict[str, Any] = {"file": str(path), "faults": [], "tags": [], "parts": _empty_parts(), "errors": []}
    unreadable: list[str] = []
    is_image = path.suffix.lower() in IMAGE_SUFFIXES
    check_file(path)
    if is_image:  # a text file named .png is as unreadable as one named .wav, whichever stages run
        check_image(path)
    file_has_audio = not is_image and has_audio(path)
    file_has_video = is_image or has_video(path)
    if not file_has_audio and not file_has_video:
        raise MediaError(f"no audio or video stream in {path}")

    if audio and file_has_audio:
        try:
            from liverec_edge.audio.offline import analyze_audio_file

            events = analyze_audio_file(path, config.audio)  # the file's problems are MediaErrors, checked first
            result["faults"] = [
                {"type": e.type, "score": round(float(e.score), 4), "start": round(float(e.start), 3),
                 "end": round(float(e.end), 3), "freq": None if e.freq is None else round(float(e.freq), 2)}
                for e in events
            ]
        except MediaError as exc:
            unreadable.append(str(exc))
            result["errors"].append(f"fault analysis: {exc}")
        except Exception as exc:  # a stage failure is reported, the other stage still runs
            log.debug("fault analysis failed", exc_info=True)
            result["errors"].append(f"fault analysis: {exc}")
    if vision and file_has_video:
        try:
            from liverec_edge.behaviour.offline import analyze_media

            found = analyze_media(path, config.vision, config.behaviour)
            result["tags"] = found["tags"]
            result["parts"] = found["parts"]
        except MediaError as exc:
            unreadable.append(str(exc))
            result["errors"].append(f"behaviour analysis: {exc}")
        except Exception as exc:
            log.debug("behaviour analysis failed", exc_info=True)
            result["errors"].append(f"behaviour analysis: {exc}")
    return result, unreadable


def format_report(result: dict[str, Any]) -> str:
    lines = [f"file: {result['file']}"]
    if any(v["frames"] for v in result["parts"].values()):
        lines.append("parts (frames detected / analysed):")
        for part, counts in result["parts"].items():
            frames = counts["frames"]
            rate = 100.0 * counts["detected"] / frames if frames else 0.0
            lines.append(f"  {part:5s} {counts['detected']:5d} / {frames:<5d} ({rate:5.1f} %)")
    lines.append(f"tags: {len(result['tags'])}")
    for tag in result["tags"]:
        lines.append(f"  {tag['behaviour']:14s} {tag['start']:8.3f} – {tag['end']:8.3f} s  "
                     f"conf {tag['confidence']:.2f}  parts {','.join(tag['parts'])}")
    lines.append(f"faults: {len(result['faults'])}")
    for fault in result["faults"]:
        freq = f"  {fault['freq']:.1f} Hz" if fault["freq"] is not None else ""
        lines.append(f"  {fault['type']:16s} {fault['start']:8.3f} – {fault['end']:8.3f} s  "
                     f"score {fault['score']:.2f}{freq}")
    for error in result["errors"]:
        lines.append(f"error: {error}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from liverec_edge.config import ConfigError, load_config
    from liverec_edge.media import MediaError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        result, unreadable = _analyze(Path(args.file), config, audio=not args.no_audio, vision=not args.no_vision)
    except MediaError as exc:
        print(f"liverec-edge analyze: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(format_report(result))
    for problem in unreadable:  # where the other unreadable-file errors go, besides the report's errors
        print(f"liverec-edge analyze: {problem}", file=sys.stderr)
    if unreadable:
        return 2
    return 1 if result["errors"] else 0

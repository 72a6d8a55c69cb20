"""``liverec-edge zones``: render the configured zones over a camera frame to a PNG, so an installer can check that
the microphone, keyboard and seat polygons sit where the real things are.

The frame comes from ``--frame`` (an image, or a video whose frame at ``--at`` seconds is used), or with ``--camera``
from the config's camera source (one frame is grabbed; stop the daemon first if it holds the device); otherwise the
zones are drawn on a neutral 10 % grid of the configured camera size, with a note saying so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

#: RGB fill colour per zone (semi-transparent over the frame) — distinct for colour-blind viewers too.
ZONE_COLOURS: dict[str, tuple[int, int, int]] = {
    "microphone": (230, 25, 75),
    "keyboard": (0, 130, 200),
    "seat": (255, 225, 25),
}
#: Opacity of the zone fill.
FILL_ALPHA = 0.35


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="YAML config file whose behaviour.zones to draw")
    parser.add_argument("--frame", help="image or video file to draw on (default: a blank grid)")
    parser.add_argument("--camera", action="store_true", help="grab the frame from the config's camera source")
    parser.add_argument("--at", type=float, default=0.0, help="with a video --frame: time of the frame, seconds")
    parser.add_argument("--out", default="zones.png", help="PNG file to write (default: zones.png)")


def render_zones(image: np.ndarray, zones, note: str | None = None) -> np.ndarray:
    """A copy of ``image`` (H×W×3 uint8) with each zone filled, outlined and labelled."""
    from PIL import Image, ImageDraw, ImageFont

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape[:2]:
        raise ValueError(f"the frame must be H×W×3 uint8 RGB, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    base = Image.fromarray(image).convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font = ImageFont.load_default()
    labels = []
    for name, polygon in zones.items():
        colour = ZONE_COLOURS.get(name, (255, 255, 255))
        pts = [(float(x) * (w - 1), float(y) * (h - 1)) for x, y in polygon.points]
        default_seat = name == "seat" and zones.seat_is_default
        if not default_seat:  # the default seat is the whole frame: outline only, a fill would tint everything
            draw.polygon(pts, fill=(*colour, round(255 * FILL_ALPHA)))
        draw.line([*pts, pts[0]], fill=(*colour, 255), width=max(2, w // 320))
        label = "seat (default: whole frame)" if default_seat else name
        lx = min(p[0] for p in pts) + 4
        ly = min(p[1] for p in pts) + 4
        labels.append((lx, ly, label, colour))
    out = Image.alpha_composite(base, overlay)
    text = ImageDraw.Draw(out)
    for lx, ly, label, colour in labels:
        box = text.textbbox((lx, ly), label, font=font)
        text.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0, 200))
        text.text((lx, ly), label, fill=(*colour, 255), font=font)
    if note:
        box = text.textbbox((4, h - 16), note, font=font)
        text.rectangle((box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2), fill=(0, 0, 0, 200))
        text.text((4, h - 16), note, fill=(255, 255, 255, 255), font=font)
    return np.asarray(out.convert("RGB"))


def _grid(width: int, height: int) -> np.ndarray:
    """A neutral grey canvas with a 10 % grid, so normalised coordinates can be read off it."""
    image = np.full((height, width, 3), 96, np.uint8)
    for k in range(1, 10):
        image[:, round(k * (width - 1) / 10)] = 128
        image[round(k * (height - 1) / 10), :] = 128
    return image


def _load_frame(path: str, at: float) -> np.ndarray:
    from liverec_edge.media import IMAGE_SUFFIXES, MediaError, iter_video_frames, load_image

    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        return load_image(path)
    chosen = None
    for t, image in iter_video_frames(path):
        chosen = image
        if t >= at:
            break
    if chosen is None:
        raise MediaError(f"no video frames in {path}")
    return chosen


def _grab_camera_frame(camera_settings) -> np.ndarray:
    """One frame from the configured camera source (opened and closed here)."""
    from liverec_edge.capture.base import SourceContext, SourceError
    from liverec_edge.capture.camera import make_camera
    from liverec_edge.capture.clock import CaptureClock
    from liverec_edge.media import MediaError

    clock = CaptureClock.starting_now()
    camera = make_camera(camera_settings.model_copy(update={"paced": False}))
    try:
        camera.open(SourceContext(clock=clock, t_origin=clock.now()))
        got = camera.read()
    except SourceError as exc:
        raise MediaError(f"cannot grab a frame from the camera: {exc}") from None
    finally:
        camera.close()
    if got is None:
        raise MediaError("the camera source ended before delivering a frame")
    return got[1]


def run(args: argparse.Namespace) -> int:
    from liverec_edge.behaviour.zones import Zones
    from liverec_edge.config import ConfigError, load_config
    from liverec_edge.media import MediaError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    zones = Zones.from_settings(config.behaviour.zones)
    note = None
    try:
        if args.frame:
            image = _load_frame(args.frame, args.at)
        elif args.camera:
            image = _grab_camera_frame(config.capture.camera)
        else:
            camera = config.capture.camera
            image = _grid(camera.width, camera.height)
            note = "no frame given: zones on a 10% grid"
        rendered = render_zones(image, zones, note)
    except (MediaError, ValueError) as exc:
        print(f"liverec-edge zones: {exc}", file=sys.stderr)
        return 1
    from PIL import Image

    out = Path(args.out)
    try:
        Image.fromarray(rendered).save(out, format="PNG")
    except OSError as exc:
        print(f"liverec-edge zones: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    configured = [name for name, _ in zones.items() if not (name == "seat" and zones.seat_is_default)]
    print(f"{out}: {', '.join(configured) or 'no zones configured (seat = whole frame)'}")
    return 0

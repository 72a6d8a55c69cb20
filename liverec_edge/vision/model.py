"""One loaded ``.tflite`` model with its expected tensor shapes checked at load, and a frame view shared by all
detectors of one frame (the PIL image is made once per frame)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from liverec_edge.tflite import ModelError, load_interpreter
from liverec_edge.vision.geometry import RotatedRect, crop_pixels, crop_to_tensor, scale_pixels


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a part detector expects of its model file: input size, value range, and output shapes in order."""

    filename: str
    input_size: tuple[int, int]  # width, height
    value_range: tuple[float, float]
    output_shapes: tuple[tuple[int, ...], ...]


def pinned_hashes(models_dir: Path) -> dict[str, str]:
    """sha256 by file name from ``models_dir/manifest.json`` (written by tools/fetch_models.py); {} without one."""
    manifest = models_dir / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return {Path(f["dest"]).name: f["sha256"] for f in data.get("files", [])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"unreadable model manifest {manifest}: {exc!r}") from None


class TfliteModel:
    """An interpreter plus its spec; :meth:`run` takes the input tensor and returns the outputs in spec order."""

    def __init__(self, spec: ModelSpec, models_dir: Path, num_threads: int = 1, verify_hash: bool = True):
        self.spec = spec
        self.path = Path(models_dir) / spec.filename
        expected = pinned_hashes(Path(models_dir)).get(spec.filename) if verify_hash else None
        self._interpreter = load_interpreter(self.path, num_threads=num_threads, expected_sha256=expected)
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        width, height = spec.input_size
        if len(inputs) != 1 or _shape(inputs[0]) != (1, height, width, 3):
            got = [_shape(d) for d in inputs]
            raise ModelError(f"{self.path}: expected one input of shape (1, {height}, {width}, 3), got {got}")
        by_shape = {}
        for detail in outputs:
            by_shape.setdefault(_shape(detail), []).append(detail)
        # Output order in the flatbuffer is not the order we want; match by shape (ties keep the file's order,
        # which for hand landmarks is screen landmarks before world landmarks).
        self._outputs: list[dict[str, Any]] = []
        for shape in spec.output_shapes:
            if not by_shape.get(shape):
                got = [_shape(d) for d in outputs]
                raise ModelError(f"{self.path}: expected an output of shape {shape}, got {got}")
            self._outputs.append(by_shape[shape].pop(0))
        self._input_index = inputs[0]["index"]
        self._input_dtype = inputs[0]["dtype"]
        self.last_ms = 0.0
        self.last_cpu_ms = 0.0

    def run_pixels(self, pixels: np.ndarray) -> list[np.ndarray]:
        """Invoke on an (H, W, 3) uint8 crop: scaled to the model's value range straight into its input tensor (no
        intermediate float array, no set_tensor copy)."""
        start, start_cpu = time.perf_counter(), time.thread_time()
        try:
            if self._input_dtype == np.float32:
                scale_pixels(pixels, self.spec.value_range, out=self._interpreter.tensor(self._input_index)()[0])
            else:
                tensor = scale_pixels(pixels, self.spec.value_range)[np.newaxis]
                self._interpreter.set_tensor(self._input_index, tensor.astype(self._input_dtype))
            self._interpreter.invoke()
            out = [self._interpreter.get_tensor(d["index"]) for d in self._outputs]
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{self.path}: inference failed: {exc}") from None
        self.last_ms = (time.perf_counter() - start) * 1000.0
        self.last_cpu_ms = (time.thread_time() - start_cpu) * 1000.0
        return out

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Invoke on one input tensor; ``last_ms`` / ``last_cpu_ms`` hold the wall and this thread's CPU time (with
        one interpreter thread XNNPACK runs in the caller, so CPU time is the model's own cost on a busy box)."""
        start, start_cpu = time.perf_counter(), time.thread_time()
        self._interpreter.set_tensor(self._input_index, tensor.astype(self._input_dtype, copy=False))
        self._interpreter.invoke()
        out = [self._interpreter.get_tensor(d["index"]) for d in self._outputs]
        self.last_ms = (time.perf_counter() - start) * 1000.0
        self.last_cpu_ms = (time.thread_time() - start_cpu) * 1000.0
        return out


def _shape(detail: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(s) for s in detail["shape"])


@dataclass
class FrameView:
    """One frame as the detectors need it: the PIL image (made once), its size, and its time and index."""

    image: Image.Image
    width: int
    height: int
    t: float
    index: int
    #: Sample model inputs bilinearly (VisionSettings.bilinear_crops) rather than nearest-neighbour.
    bilinear: bool = False
    #: Milliseconds spent in each model on this frame, filled by the detectors (keyed by model file name): wall
    #: time, and this thread's CPU time.
    model_ms: dict[str, float] = field(default_factory=dict)
    model_cpu_ms: dict[str, float] = field(default_factory=dict)
    #: Inferences of each model on this frame (a hand-landmark model may run once per hand).
    model_runs: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_array(cls, image: np.ndarray, t: float = 0.0, index: int = 0, bilinear: bool = False) -> FrameView:
        check_image(image)
        pil = Image.fromarray(np.ascontiguousarray(image), "RGB")
        return cls(pil, image.shape[1], image.shape[0], t, index, bilinear)

    def tensor(self, rect: RotatedRect, spec: ModelSpec) -> np.ndarray:
        """``rect`` of this frame as the float input tensor of a model with ``spec``."""
        return crop_to_tensor(self.image, rect, spec.input_size, spec.value_range, self.bilinear)

    def pixels(self, rect: RotatedRect, spec: ModelSpec) -> np.ndarray:
        """``rect`` of this frame sampled to a model's input size, as uint8 (for :meth:`TfliteModel.run_pixels`)."""
        return crop_pixels(self.image, rect, spec.input_size, self.bilinear)

    def record(self, model: TfliteModel) -> None:
        name = model.spec.filename
        self.model_ms[name] = self.model_ms.get(name, 0.0) + model.last_ms
        self.model_cpu_ms[name] = self.model_cpu_ms.get(name, 0.0) + model.last_cpu_ms
        self.model_runs[name] = self.model_runs.get(name, 0) + 1


#: Smallest frame side the detectors accept: below this a face or hand is a handful of pixels.
MIN_FRAME_SIDE = 32


def check_image(image: Any) -> None:
    """Raise ValueError naming what is wrong unless ``image`` is an H×W×3 uint8 RGB array of a usable size."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"frame image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"frame image must be H×W×3 RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"frame image must be uint8, got {image.dtype}")
    if min(image.shape[0], image.shape[1]) < MIN_FRAME_SIDE:
        raise ValueError(f"frame image {image.shape[1]}×{image.shape[0]} is smaller than {MIN_FRAME_SIDE} px a side")

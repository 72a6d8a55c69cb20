"""The one place a TFLite interpreter is made: ai-edge-litert when present, else tflite-runtime.

Both are imported lazily so that a box without either still runs capture, mixer and control (the stages that need a
model report a :class:`ModelError` instead).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np


class ModelError(Exception):
    """A model that cannot be used: missing, truncated, corrupt, or of the wrong shape."""


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except ImportError:
        raise ModelError(
            "no TFLite interpreter: install ai-edge-litert (or tflite-runtime on numpy<2 boxes)"
        ) from None


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_interpreter(path: str | Path, num_threads: int = 1, expected_sha256: str | None = None) -> Any:
    """Load a ``.tflite`` file, allocate its tensors, and return the interpreter.

    Any failure (missing file, wrong checksum, flatbuffer the runtime rejects) becomes a :class:`ModelError` naming
    the file, so the daemon can log it and carry on without that stage.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.stat().st_size < 16:
        raise ModelError(f"model file is truncated ({path.stat().st_size} bytes): {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[4:8] != b"TFL3":
        raise ModelError(f"not a TFLite flatbuffer (no TFL3 identifier): {path}")
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise ModelError(f"model file checksum mismatch (expected sha256 {expected_sha256[:12]}...): {path}")
    interpreter_cls = _interpreter_class()
    # The runtimes print one XNNPACK INFO line on stderr. It is left there: silencing it means pointing fd 2 away
    # for the whole process, which would swallow log lines other threads write meanwhile.
    try:
        interpreter = interpreter_cls(model_path=str(path), num_threads=max(1, int(num_threads)))
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"cannot load model {path}: {exc}") from None
    return interpreter


def quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Convert float input to a tensor's dtype using its (scale, zero_point); float tensors pass through."""
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x.astype(np.float32, copy=False)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def dequantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Convert a tensor's output to float32 using its (scale, zero_point)."""
    if x.dtype == np.float32:
        return x
    scale, zero = detail["quantization"]
    return (x.astype(np.float32) - zero) * scale

"""The background-fault model at run time: one score per fault type for a window of log-mel frames.

A model folder (``models/faults``) holds ``model.json`` and one or two full-int8 TFLite files written by
``tools/train_fault_model.py``:

* ``files.classifier`` — 2-layer bidirectional GRU + dense head, input ``input_shape`` (frames × channels), output
  one sigmoid per ``labels`` entry (the ``clean`` output is trained as "no fault present");
* ``files.mask`` (only when ``with_mask``) — the time-frequency mask estimator that separates the background
  ("device") sound from the talker; the classifier then sees the mixture and the masked background side by side.

``model.json`` also holds the feature parameters the model was trained with (checked against the caller's), the
per-channel standardisation, the per-type thresholds chosen on the validation split, sha256 checksums of the files,
and ``extra_features``: per-frame channels the classifier takes after the log-mel bands, computed here from the
window's samples by :data:`liverec_edge.audio.features.EXTRA_FEATURE_FUNCTIONS` (the shipped model: the 16
``mains_lines`` channels).
Nothing here imports TensorFlow: the interpreter comes from :func:`liverec_edge.tflite.load_interpreter`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liverec_edge.audio.features import EXTRA_FEATURE_FUNCTIONS, EXTRA_FEATURES, FeatureParams
from liverec_edge.tflite import ModelError, dequantize, load_interpreter, quantize
from liverec_edge.types import FAULT_TYPES

MODEL_JSON = "model.json"


@dataclass
class _Runner:
    """One allocated interpreter with its input/output tensor details."""

    interpreter: Any
    input_detail: dict[str, Any]
    output_detail: dict[str, Any]

    @classmethod
    def load(cls, path: Path, num_threads: int, sha256: str | None, shape: tuple[int, ...]) -> _Runner:
        interpreter = load_interpreter(path, num_threads=num_threads, expected_sha256=sha256)
        inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        if tuple(int(d) for d in inputs[0]["shape"]) != shape:
            raise ModelError(f"{path}: input shape {tuple(inputs[0]['shape'])}, model.json says {shape}")
        return cls(interpreter, inputs[0], outputs[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input_detail["index"], quantize(x[None], self.input_detail))
        self.interpreter.invoke()
        return dequantize(self.interpreter.get_tensor(self.output_detail["index"]), self.output_detail)[0]


class FaultModel:
    """Scores a window of log-mel frames for every background-fault type (order: ``types.FAULT_TYPES``).

    Not thread-safe (one interpreter per instance): give each analysis task its own, or serialise calls.
    """

    def __init__(self, meta: dict[str, Any], classifier: _Runner, mask: _Runner | None, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.meta = meta
        self.feature_params = FeatureParams.from_dict(meta["feature_params"])
        self.window_frames: int = int(meta["window_frames"])
        self.with_mask: bool = bool(meta["with_mask"])
        self.extra_features: tuple[str, ...] = tuple(meta.get("extra_features") or ())
        self.thresholds: dict[str, float] = {name: float(meta["thresholds"][name]) for name in FAULT_TYPES}
        self._classifier = classifier
        self._mask = mask
        self._mean = np.asarray(meta["norm"]["mean"], np.float32)
        self._std = np.asarray(meta["norm"]["std"], np.float32)
        self._mask_floor = float(meta.get("mask_floor", 1e-3))
        if mask is not None:
            self._sep_mean = np.asarray(meta["mask_norm"]["mean"], np.float32)
            self._sep_std = np.asarray(meta["mask_norm"]["std"], np.float32)

    @classmethod
    def load(cls, model_dir: Path, num_threads: int = 1) -> FaultModel:
        """Read ``model.json`` and the TFLite files it names; any problem becomes a :class:`ModelError`."""
        model_dir = Path(model_dir)
        meta_path = model_dir / MODEL_JSON
        if not meta_path.is_file():
            raise ModelError(f"fault model metadata not found: {meta_path}")
        try:
            meta = json.loads(meta_path.read_text())
            labels = list(meta["labels"])
            frames = int(meta["window_frames"])
            shape = (1, *(int(d) for d in meta["input_shape"]))
            files = meta["files"]
            checksums = meta.get("sha256", {})
            with_mask = bool(meta["with_mask"])
            n_mels = int(meta["feature_params"]["n_mels"])
            extra = list(meta.get("extra_features") or [])
            unknown = [name for name in extra if name not in EXTRA_FEATURES]
            if unknown:
                raise ValueError(f"unknown extra_features {unknown}; known: {sorted(EXTRA_FEATURES)}")
            channels = n_mels + sum(EXTRA_FEATURES[name] for name in extra)
            if len(meta["norm"]["mean"]) != channels or len(meta["norm"]["std"]) != channels:
                raise ValueError(f"norm mean/std length differs from the {channels} input channels")
            missing = [name for name in FAULT_TYPES if name not in meta["thresholds"]]
            if missing:
                raise ValueError(f"no threshold for {missing}")
            FeatureParams.from_dict(meta["feature_params"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"bad fault model metadata {meta_path}: {exc!r}") from None
        if labels != list(FAULT_TYPES):
            raise ModelError(f"{meta_path}: label order {labels} differs from FAULT_TYPES {list(FAULT_TYPES)}")
        if shape[1] != frames or shape[2] != channels + (n_mels if with_mask else 0):
            raise ModelError(f"{meta_path}: input_shape {shape[1:]} does not fit {frames} frames × {n_mels} mels"
                             f" + {channels - n_mels} extra channels")
        classifier = _Runner.load(model_dir / files["classifier"], num_threads, checksums.get("classifier"), shape)
        out_size = int(np.prod(classifier.output_detail["shape"]))
        if out_size != len(FAULT_TYPES):
            raise ModelError(f"{files['classifier']}: {out_size} outputs, expected {len(FAULT_TYPES)}")
        mask = None
        if with_mask:
            if not files.get("mask") or not meta.get("mask_norm"):
                raise ModelError(f"{meta_path}: with_mask is set but no mask file / mask_norm is given")
            mask = _Runner.load(model_dir / files["mask"], num_threads, checksums.get("mask"), (1, frames, n_mels))
        return cls(meta, classifier, mask, model_dir)

    @property
    def input_shape(self) -> tuple[int, int]:
        """(frames, mel bands) of the log-mel window :meth:`scores` takes."""
        return self.window_frames, self.feature_params.n_mels

    @property
    def needs_samples(self) -> bool:
        """True when :meth:`scores` also needs the window's 16 kHz samples (the model takes extra features)."""
        return bool(self.extra_features)

    def scores(
        self, logmel_window: np.ndarray, samples: np.ndarray | None = None, extra: np.ndarray | None = None
    ) -> np.ndarray:
        """One score in [0, 1] per ``FAULT_TYPES`` entry for a ``(window_frames, n_mels)`` log-mel window.

        The window must come from :mod:`liverec_edge.audio.features` with this model's ``feature_params``. A model
        with ``extra_features`` also needs ``samples``: the window's 16 kHz samples (frame ``i`` of the window covers
        ``samples[i*hop : i*hop + win]``), from which those features are computed, or ``extra``: those features
        already computed, ``(window_frames, channels)`` (as the dataset tool stores them). A wrong shape, missing
        samples or non-finite values raise ``ValueError`` (the features never produce them).
        """
        x = np.asarray(logmel_window, dtype=np.float32)
        if x.shape != self.input_shape:
            raise ValueError(f"expected a log-mel window of shape {self.input_shape}, got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("log-mel window holds NaN or inf")
        if self.extra_features:
            if extra is None:
                if samples is None:
                    raise ValueError(f"this model takes {list(self.extra_features)}: pass the window's samples")
                extra = np.concatenate([EXTRA_FEATURE_FUNCTIONS[name](samples, self.window_frames,
                                                                      self.feature_params)
                                        for name in self.extra_features], axis=-1)
            extra = np.asarray(extra, dtype=np.float32)
            want = (self.window_frames, self._mean.size - x.shape[1])
            if extra.shape != want or not np.isfinite(extra).all():
                raise ValueError(f"expected finite extra features of shape {want}, got {extra.shape}")
            x = np.concatenate([x, extra], axis=-1)
        standard = (x - self._mean) / self._std
        if self._mask is not None:
            mask = self._mask(standard[:, : self.feature_params.n_mels])
            background = x[:, : self.feature_params.n_mels] + np.log(np.maximum(mask, self._mask_floor))
            standard = np.concatenate([standard, (background - self._sep_mean) / self._sep_std], axis=-1)
        return np.clip(self._classifier(standard.astype(np.float32)), 0.0, 1.0).astype(np.float32)

    def background_mask(self, logmel_window: np.ndarray) -> np.ndarray | None:
        """The estimated background share (0–1) per (frame, band), or None for a model without a mask."""
        if self._mask is None:
            return None
        x = np.asarray(logmel_window, dtype=np.float32)
        if x.shape != self.input_shape:
            raise ValueError(f"expected a log-mel window of shape {self.input_shape}, got {x.shape}")
        n_mels = self.feature_params.n_mels
        return self._mask((x - self._mean[:n_mels]) / self._std[:n_mels])

    def detected(self, scores: np.ndarray) -> dict[str, float]:
        """The fault types (never ``clean``) whose score reaches its threshold, with their scores."""
        return {name: float(scores[i]) for i, name in enumerate(FAULT_TYPES)
                if name != "clean" and scores[i] >= self.thresholds[name]}

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
        floor = meta.get("mask_floor")
        self._mask_floor = 1e-3 if floor is None else float(floor)
        if mask is not None:
            self._sep_mean = np.asarray(meta["mask_norm"]["mean"], np.float32)
            self._sep_std = np.asarray(meta["mask_norm"]["std"], np.float32)

    @classmethod
    def load(cls, model_dir: Path, num_threads: int = 1) -> FaultModel:
        """Read ``model.json`` and the TFLite files it names; any problem becomes a :class:`ModelError`.

        Every key the runtime reads is checked for type and value here, so a hand-edited or damaged ``model.json``
        is one clear error naming the file and the key, never a ``KeyError`` from deep inside the scoring.
        """
        model_dir = Path(model_dir)
        meta_path = model_dir / MODEL_JSON
        if not meta_path.is_file():
            raise ModelError(f"fault model metadata not found: {meta_path}")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ModelError(f"bad fault model metadata {meta_path}: {exc}") from None
        try:
            checked = _check_meta(meta)
        except _MetaProblem as exc:
            raise ModelError(f"bad fault model metadata {meta_path}: {exc.key}: {exc.problem}") from None
        frames, shape, n_mels, channels, with_mask = (checked.frames, checked.shape, checked.n_mels,
                                                      checked.channels, checked.with_mask)
        if checked.labels != list(FAULT_TYPES):
            raise ModelError(f"{meta_path}: label order {checked.labels} differs from FAULT_TYPES "
                             f"{list(FAULT_TYPES)}")
        if shape[1] != frames or shape[2] != channels + (n_mels if with_mask else 0):
            raise ModelError(f"{meta_path}: input_shape {shape[1:]} does not fit {frames} frames × {n_mels} mels"
                             f" + {channels - n_mels} extra channels" + (" + the mask's mels" if with_mask else ""))
        files, checksums = checked.files, checked.checksums
        classifier = _Runner.load(model_dir / files["classifier"], num_threads, checksums.get("classifier"), shape)
        out_size = int(np.prod(classifier.output_detail["shape"]))
        if out_size != len(FAULT_TYPES):
            raise ModelError(f"{files['classifier']}: {out_size} outputs, expected {len(FAULT_TYPES)}")
        mask = None
        if with_mask:
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


# --- model.json validation -------------------------------------------------------------------------------------------


class _MetaProblem(Exception):
    """One problem in ``model.json``: the key path and what is wrong with it (the caller names the file)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class _Meta:
    """What :meth:`FaultModel.load` needs from a validated ``model.json``."""

    labels: list[str]
    frames: int
    shape: tuple[int, ...]
    files: dict[str, str]
    checksums: dict[str, str]
    with_mask: bool
    n_mels: int
    channels: int


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def _key(meta: dict[str, Any], key: str, path: str) -> Any:
    if key not in meta:
        raise _MetaProblem(path, "missing")
    return meta[key]


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _MetaProblem(path, f"expected a JSON object, got {_shown(value)}")
    return value


def _integer(value: Any, path: str, minimum: int = 1) -> int:
    # bool is an int subclass in Python: `true` must not pass as 1
    if isinstance(value, bool) or not isinstance(value, int):
        raise _MetaProblem(path, f"expected an integer, got {_shown(value)}")
    if value < minimum:
        raise _MetaProblem(path, f"must be at least {minimum}, got {value}")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _MetaProblem(path, f"expected a number, got {_shown(value)}")
    if not np.isfinite(value):  # json.loads accepts NaN and Infinity
        raise _MetaProblem(path, f"must be finite, got {value}")
    return float(value)


def _vector(value: Any, path: str, length: int, positive: bool = False) -> None:
    if not isinstance(value, list):
        raise _MetaProblem(path, f"expected a list of {length} numbers, got {_shown(value)}")
    if len(value) != length:
        raise _MetaProblem(path, f"has {len(value)} entries, the model takes {length} input channels")
    for i, item in enumerate(value):
        number = _number(item, f"{path}[{i}]")
        # checked as the float32 the runtime uses: 1e300 is finite here but inf there, 1e-50 is 0 there
        with np.errstate(over="ignore", under="ignore"):
            stored = np.float32(number)
        if not np.isfinite(stored):
            raise _MetaProblem(f"{path}[{i}]", f"must be finite as a 32-bit float, got {number}")
        if positive and stored <= 0:  # a standard deviation of 0 divides by zero: every score saturates
            raise _MetaProblem(f"{path}[{i}]", f"must be > 0, got {number}")


def _file_name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise _MetaProblem(path, f"expected a file name, got {_shown(value)}")
    name = Path(value)
    if name.is_absolute() or ".." in name.parts or value in (".", "./"):
        raise _MetaProblem(path, f"must name a file inside the model folder, got {value!r}")
    return value


def _norm(value: Any, path: str, length: int) -> None:
    norm = _mapping(value, path)
    _vector(_key(norm, "mean", f"{path}.mean"), f"{path}.mean", length)
    _vector(_key(norm, "std", f"{path}.std"), f"{path}.std", length, positive=True)


def _feature_params(value: Any) -> int:
    """Check ``feature_params`` (with :meth:`FeatureParams.from_dict`, the runtime's own check) and return its
    ``n_mels``."""
    params = _mapping(value, "feature_params")
    try:
        return FeatureParams.from_dict(params).n_mels
    except (TypeError, ValueError) as exc:
        name, _, problem = str(exc).partition(": ")  # from_dict names the parameter first where it can
        if name in params:
            raise _MetaProblem(f"feature_params.{name}", problem) from None
        raise _MetaProblem("feature_params", str(exc)) from None


def _check_meta(meta: Any) -> _Meta:
    """Validate the parsed ``model.json``; raises :class:`_MetaProblem` naming the first bad key."""
    meta = _mapping(meta, "(top level)")
    labels = _key(meta, "labels", "labels")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise _MetaProblem("labels", f"expected a list of fault type names, got {_shown(labels)}")
    frames = _integer(_key(meta, "window_frames", "window_frames"), "window_frames")
    raw_shape = _key(meta, "input_shape", "input_shape")
    if not isinstance(raw_shape, list) or len(raw_shape) != 2:
        raise _MetaProblem("input_shape", f"expected [frames, channels], got {_shown(raw_shape)}")
    shape = (1, *(_integer(d, f"input_shape[{i}]") for i, d in enumerate(raw_shape)))
    with_mask = _key(meta, "with_mask", "with_mask")
    if not isinstance(with_mask, bool):  # bool("no") is True: a string must not switch the mask on
        raise _MetaProblem("with_mask", f"expected true or false, got {_shown(with_mask)}")

    files = _mapping(_key(meta, "files", "files"), "files")
    names = {"classifier": _file_name(_key(files, "classifier", "files.classifier"), "files.classifier")}
    if with_mask:
        names["mask"] = _file_name(_key(files, "mask", "files.mask"), "files.mask")
    elif files.get("mask") is not None:
        _file_name(files["mask"], "files.mask")
    raw_sums = meta.get("sha256")
    checksums: dict[str, str] = {}
    if raw_sums is not None:
        for name, digest in _mapping(raw_sums, "sha256").items():
            if digest is not None and not isinstance(digest, str):
                raise _MetaProblem(f"sha256.{name}", f"expected a hex digest string, got {_shown(digest)}")
            if digest is not None:
                checksums[name] = digest

    n_mels = _feature_params(_key(meta, "feature_params", "feature_params"))
    extra = meta.get("extra_features")
    if extra is None:
        extra = []
    if not isinstance(extra, list):
        raise _MetaProblem("extra_features", f"expected a list of feature names, got {_shown(extra)}")
    for i, name in enumerate(extra):
        if not isinstance(name, str) or name not in EXTRA_FEATURES:
            raise _MetaProblem(f"extra_features[{i}]", f"unknown feature {name!r}; known: {sorted(EXTRA_FEATURES)}")
    channels = n_mels + sum(EXTRA_FEATURES[name] for name in extra)
    _norm(_key(meta, "norm", "norm"), "norm", channels)
    if with_mask:
        _norm(_key(meta, "mask_norm", "mask_norm"), "mask_norm", n_mels)

    thresholds = _mapping(_key(meta, "thresholds", "thresholds"), "thresholds")
    for name in FAULT_TYPES:
        path = f"thresholds.{name}"
        threshold = _number(_key(thresholds, name, path), path)
        if not 0.0 <= threshold <= 1.0:  # scores are sigmoids: outside [0, 1] a type is always or never found
            raise _MetaProblem(path, f"must be within [0, 1], got {threshold}")
    if meta.get("mask_floor") is not None:
        floor = _number(meta["mask_floor"], "mask_floor")
        if not 0.0 < floor <= 1.0:  # the log of the mask's floor: 0 gives -inf
            raise _MetaProblem("mask_floor", f"must be within (0, 1], got {floor}")
    return _Meta(labels, frames, shape, names, checksums, with_mask, n_mels, channels)

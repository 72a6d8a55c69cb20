"""Post-training int8 quantisation of the mediapipe part-detector models, straight from their ``.tflite`` files.

The TF converter takes SavedModels/Keras/concrete functions, not ``.tflite`` files, and the mediapipe wheel ships no
original graphs. The route that works on a flatbuffer is TFLite's own calibrator (what the converter runs after
conversion), which needs a float32 model. So, per model:

1. **de-float16**: every ``DEQUANTIZE`` of a constant float16 weight is folded away (its output tensor gets the
   weight as float32 data), giving a plain float32 model that computes the same thing;
2. **calibrate** on the model's real inputs: the crops and letterboxed frames the part detectors feed it on the
   shared ASL clips and images (every other frame; the rest is held out), recorded by running the float pipeline;
3. **quantise** weights per channel and activations to int8 (``TFLITE_BUILTINS_INT8`` kernels, float32 I/O kept
   so the detectors need no change), and write ``.cache/int8/<name>.tflite``;
4. **evaluate** on the held-out inputs against the float model: output agreement (landmark error in input pixels,
   presence/score agreement) and single-thread time, printed as a table for the model card.

Models with sparse (``DENSIFY``) weights (pose_detection) are skipped: the calibrator does not take them.

    .venv/bin/python tools/quantize_vision.py [--models face_landmark,hand_landmark_lite] [--max-samples 300]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from liverec_edge.media import iter_video_frames, load_image  # noqa: E402
from liverec_edge.tflite import load_interpreter  # noqa: E402
from liverec_edge.types import Frame  # noqa: E402
from liverec_edge.vision import model as vision_model  # noqa: E402
from liverec_edge.vision.geometry import scale_pixels  # noqa: E402
from liverec_edge.vision.pipeline import PartAnalyser  # noqa: E402
from liverec_edge.vision.settings import VisionSettings  # noqa: E402

MODELS_DIR = REPO / "models" / "vision"
#: Not under models/: on the shared media the int8 models are slower and less accurate (see the model card), so
#: they are experiment output, not shipped models.
OUT_DIR = REPO / ".cache" / "int8"
MEDIA = REPO.parent / "shared" / "media"
DEFAULT_MODELS = (
    "face_detection_short_range", "face_landmark", "palm_detection_lite", "hand_landmark_lite", "pose_landmark_full",
)  # fmt: skip


@contextlib.contextmanager
def _quiet_stderr():
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def record_inputs() -> dict[str, list[np.ndarray]]:
    """Run the float pipeline over the shared media and keep every input tensor each model was given."""
    recorded: dict[str, list[np.ndarray]] = defaultdict(list)
    original_run = vision_model.TfliteModel.run_pixels

    def recording_run(self, pixels):  # type: ignore[no-untyped-def]
        recorded[Path(self.spec.filename).stem].append(scale_pixels(pixels, self.spec.value_range)[np.newaxis])
        return original_run(self, pixels)

    vision_model.TfliteModel.run_pixels = recording_run  # type: ignore[method-assign]
    try:
        # pose and palm every frame so their models get as many samples as the others
        analyser = PartAnalyser(VisionSettings(frame_budget_ms=1e6, pose_every_n=1, palm_every_n=1,
                                               face_detect_every_n=1), MODELS_DIR)  # fmt: skip
        for clip in sorted((MEDIA / "video" / "asl").glob("*.mkv")):
            analyser.reset()
            for i, (t, image) in enumerate(iter_video_frames(clip)):
                analyser.analyse(Frame(t, i, image))
        for name in ("grace_hopper.bmp", "face.jpg", "squat.bmp"):
            analyser.reset()
            analyser.analyse(Frame(0.0, 0, load_image(MEDIA / "images" / name)))
    finally:
        vision_model.TfliteModel.run_pixels = original_run  # type: ignore[method-assign]
    return recorded


def float32_model(path: Path) -> bytes:
    """The model with its float16 weights folded to float32 (DEQUANTIZE of constants removed)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    for graph in model.subgraphs:
        if any(codes[op.opcodeIndex] == schema.BuiltinOperator.DENSIFY for op in graph.operators):
            raise ValueError(f"{path.name} has sparse (DENSIFY) weights, which the calibrator does not take")
        kept = []
        for op in graph.operators:
            if codes[op.opcodeIndex] == schema.BuiltinOperator.DEQUANTIZE:
                src = graph.tensors[op.inputs[0]]
                data = model.buffers[src.buffer].data
                if src.type == schema.TensorType.FLOAT16 and data is not None and len(data):
                    dst = graph.tensors[op.outputs[0]]
                    weights = np.frombuffer(bytes(data), np.float16).astype(np.float32)
                    # Activation tensors share the empty buffer 0: the folded weight needs a buffer of its own.
                    buffer = schema.BufferT()
                    buffer.data = np.frombuffer(weights.tobytes(), np.uint8)
                    model.buffers.append(buffer)
                    dst.buffer = len(model.buffers) - 1
                    continue
            kept.append(op)
        graph.operators = kept
    # The interpreter resolves every entry of the opcode table, used or not: drop the DEQUANTIZE entry and renumber.
    used = sorted({op.opcodeIndex for graph in model.subgraphs for op in graph.operators})
    renumber = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for graph in model.subgraphs:
        for op in graph.operators:
            op.opcodeIndex = renumber[op.opcodeIndex]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def quantise(float_bytes: bytes, samples: list[np.ndarray]) -> bytes:
    import tensorflow as tf
    from tensorflow.lite.python.optimize import calibrator

    def dataset():
        for sample in samples:
            yield [sample]

    with _quiet_stderr():
        quantiser = calibrator.Calibrator(float_bytes)
        return quantiser.calibrate_and_quantize(
            dataset, input_type=tf.float32, output_type=tf.float32, allow_float=False, activations_type=tf.int8
        )


def _run_all(interpreter, samples: list[np.ndarray]) -> tuple[list[list[np.ndarray]], list[float]]:
    inp = interpreter.get_input_details()[0]["index"]
    outs = [d["index"] for d in interpreter.get_output_details()]
    results, times = [], []
    for sample in samples:
        start = time.thread_time()
        interpreter.set_tensor(inp, sample)
        interpreter.invoke()
        times.append((time.thread_time() - start) * 1000.0)
        results.append([interpreter.get_tensor(i).copy() for i in outs])
    return results, times


def evaluate(name: str, float_path: Path, int8_path: Path, samples: list[np.ndarray]) -> dict[str, float]:
    ref = load_interpreter(float_path, num_threads=1)
    q = load_interpreter(int8_path, num_threads=1)
    ref_out, ref_ms = _run_all(ref, samples)
    q_out, q_ms = _run_all(q, samples)
    size = samples[0].shape[1]
    first = [np.abs(a[0] - b[0]).ravel() for a, b in zip(ref_out, q_out, strict=True)]
    errors = np.concatenate(first)
    row = {
        "float_ms": statistics.median(ref_ms), "int8_ms": statistics.median(q_ms),
        "float_kb": float_path.stat().st_size / 1024, "int8_kb": int8_path.stat().st_size / 1024,
        "out0_median_abs": float(np.median(errors)), "out0_p95_abs": float(np.percentile(errors, 95)),
    }  # fmt: skip
    if "landmark" in name:
        # Landmark coordinates are in input pixels: the error is directly "pixels in the crop".
        row["landmark_px_median"] = float(np.median(errors)) if size else 0.0
        presence = [(float(a[1].ravel()[0]), float(b[1].ravel()[0])) for a, b in zip(ref_out, q_out, strict=True)]
        if "face" in name:  # the face presence is a logit
            presence = [(1 / (1 + np.exp(-x)), 1 / (1 + np.exp(-y))) for x, y in presence]
        row["presence_agree"] = float(np.mean([(x >= 0.5) == (y >= 0.5) for x, y in presence]))
    else:
        # Detectors: agreement of the best anchor's score decision.
        ref_best = [1 / (1 + np.exp(-a[1].max())) >= 0.5 for a in ref_out]
        q_best = [1 / (1 + np.exp(-b[1].max())) >= 0.5 for b in q_out]
        row["detect_agree"] = float(np.mean(np.array(ref_best) == np.array(q_best)))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--max-samples", type=int, default=300, help="calibration samples per model")
    args = parser.parse_args(argv)

    cache = REPO / ".cache" / "vision_model_inputs.npz"
    if cache.is_file():
        with np.load(cache) as data:
            recorded = {name: list(data[name]) for name in data.files}
    else:
        print("recording model inputs on the shared media ...", file=sys.stderr)
        recorded = record_inputs()
        cache.parent.mkdir(exist_ok=True)
        np.savez(cache, **{name: np.stack(v[: 2 * args.max_samples]) for name, v in recorded.items()})
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in args.models.split(","):
        samples = recorded.get(name, [])
        if len(samples) < 20:
            print(f"{name}: only {len(samples)} recorded inputs, skipped", file=sys.stderr)
            continue
        calibration, held_out = samples[0::2][: args.max_samples], samples[1::2][: args.max_samples]
        try:
            float_bytes = float32_model(MODELS_DIR / f"{name}.tflite")
            int8_bytes = quantise(float_bytes, calibration)
        except (ValueError, RuntimeError) as exc:
            print(f"{name}: cannot quantise: {exc}", file=sys.stderr)
            continue
        out = OUT_DIR / f"{name}.tflite"
        out.write_bytes(int8_bytes)
        rows[name] = evaluate(name, MODELS_DIR / f"{name}.tflite", out, held_out)
        print(name, {k: round(v, 4) for k, v in rows[name].items()}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

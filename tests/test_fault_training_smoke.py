"""The training script end to end on tiny real data: dataset windows → Keras BiGRU → full-int8 TFLite → runtime."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from liverec_edge.audio.features import logmel  # noqa: E402
from liverec_edge.audio.model import FaultModel  # noqa: E402
from liverec_edge.types import FAULT_TYPES  # noqa: E402

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory, shared_media) -> Path:
    from tools import train_fault_model

    out = tmp_path_factory.mktemp("fault_smoke")
    assert train_fault_model.main(["--smoke", "--media", str(shared_media), "--out", str(out), "--threads", "1",
                                   "--type-weight", "background_music=2"]) == 0
    return out


def test_smoke_training_writes_a_full_int8_model_with_metadata(smoke_model: Path) -> None:
    meta = json.loads((smoke_model / "model.json").read_text())
    assert meta["labels"] == list(FAULT_TYPES)
    assert meta["smoke"] is True and meta["with_mask"] is True  # the smoke run exercises the mask path
    assert set(meta["thresholds"]) == set(FAULT_TYPES)
    assert all(0.0 < t < 1.0 for t in meta["thresholds"].values())
    metrics = json.loads((smoke_model / "metrics.json").read_text())
    assert metrics["chosen"] == "masked"
    weights = dict(zip(FAULT_TYPES, metrics["config"]["type_weights"], strict=True))
    assert weights["background_music"] == 2.0 and weights["hum"] == 1.0
    assert 0.0 <= metrics["variants"]["masked"]["int8"]["test"]["macro_f1"] <= 1.0
    assert (smoke_model / "classifier.weights.h5").stat().st_size > 0  # what a later --teacher reads

    from ai_edge_litert.interpreter import Interpreter

    for name in (meta["files"]["classifier"], meta["files"]["mask"]):
        interpreter = Interpreter(model_path=str(smoke_model / name))
        interpreter.allocate_tensors()
        assert interpreter.get_input_details()[0]["dtype"] == np.int8
        assert interpreter.get_output_details()[0]["dtype"] == np.int8
        assert int(interpreter.get_input_details()[0]["shape"][0]) == 1  # batch 1 (unrolled GRUs)
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert "WHILE" not in ops and not any(op.startswith("Flex") for op in ops), ops


def test_smoke_model_runs_in_the_runtime_on_real_audio(smoke_model: Path, shared_media: Path) -> None:
    from liverec_edge.media import decode_audio

    model = FaultModel.load(smoke_model)
    speech, _ = decode_audio(shared_media / "speech" / "jfk.wav", 16_000)
    feats = logmel(speech)
    for start in range(0, feats.shape[0] - model.window_frames, 97):
        samples = speech[start * 160 : (start + model.window_frames - 1) * 160 + 400]
        scores = model.scores(feats[start : start + model.window_frames], samples=samples)
        assert scores.shape == (len(FAULT_TYPES),) and scores.dtype == np.float32
        assert np.all((scores >= 0) & (scores <= 1))
    assert model.background_mask(feats[: model.window_frames]).shape == (model.window_frames, 64)


def test_type_weights_scale_each_types_cross_entropy() -> None:
    """Weighted loss: all weights 1 is Keras' binary cross-entropy; a weight moves that type's share of the loss,
    normalised so that the mean weight is 1 (the learning rate keeps its meaning)."""
    import keras

    from tools.train_fault_model import weighted_binary_crossentropy

    rng = np.random.default_rng(0)
    y_true = (rng.random((8, len(FAULT_TYPES))) < 0.3).astype(np.float32)
    y_pred = rng.uniform(0.05, 0.95, (8, len(FAULT_TYPES))).astype(np.float32)
    plain = keras.ops.convert_to_numpy(keras.losses.binary_crossentropy(y_true, y_pred))
    ones = keras.ops.convert_to_numpy(weighted_binary_crossentropy((1.0,) * len(FAULT_TYPES))(y_true, y_pred))
    np.testing.assert_allclose(ones, plain, rtol=1e-5)
    music = FAULT_TYPES.index("background_music")
    weights = [1.0] * len(FAULT_TYPES)
    weights[music] = 3.0
    per_type = -(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))
    w = np.asarray(weights) / np.mean(weights)
    got = keras.ops.convert_to_numpy(weighted_binary_crossentropy(tuple(weights))(y_true, y_pred))
    np.testing.assert_allclose(got, (per_type * w).mean(axis=1), rtol=1e-5)


@pytest.mark.parametrize("front, stride", [("conv1d", 2), ("conv1d", 3), ("conv2d", 2)])
def test_inference_graph_is_the_trained_network_written_out_step_by_step(front: str, stride: int) -> None:
    """The exported graph computes the Keras network's function (its own GRU steps, input projections hoisted
    out of the loop): float scores equal to rounding, for each front and an odd number of recurrent steps."""
    import keras

    from tools.train_fault_model import TrainConfig, build_classifier, inference_graph

    keras.utils.set_random_seed(1)
    model = build_classifier(30, 68, TrainConfig(units=8, dense=16, front=front, front_stride=stride))
    # trained-looking weights, not the zero biases of a fresh model, so that every bias term is exercised
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.normal(0, 1, (4, 30, 68)).astype(np.float32)
    graph = inference_graph(model)
    got = np.concatenate([graph(row[None]).numpy() for row in x])
    want = model.predict(x, verbose=0)
    assert np.ptp(want) > 0.1  # the outputs vary, so equality says something
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_time_frequency_front_converts_to_full_int8_and_keeps_the_float_scores(tmp_path: Path) -> None:
    """``--front conv2d``: 3×3 convolutions over time × mel band before the same BiGRU stack; it converts to the
    builtin int8 ops (no WHILE, no Flex) and the int8 scores follow the float model's."""
    import keras

    from liverec_edge.tflite import load_interpreter
    from tools.train_fault_model import TrainConfig, build_classifier, convert_int8, inference_graph, tflite_predict

    cfg = TrainConfig(units=8, dense=16, frames=20, front="conv2d")
    keras.utils.set_random_seed(0)
    model = build_classifier(20, 64 + 4, cfg)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (24, 20, 68)).astype(np.float32)
    path = tmp_path / "c2d.tflite"
    path.write_bytes(convert_int8(inference_graph(model), x[:16]))
    ops = {op["op_name"] for op in load_interpreter(path, num_threads=1)._get_ops_details()}
    assert "CONV_2D" in ops and "WHILE" not in ops and not any(op.startswith("Flex") for op in ops), ops
    np.testing.assert_allclose(tflite_predict(path, x[16:]), model.predict(x[16:], verbose=0), atol=0.06)


def test_front_stride_four_halves_the_recurrent_operators_and_sees_every_frame(tmp_path: Path) -> None:
    """``--front-stride 4``: the unrolled int8 GRUs run 10 + 5 steps per direction instead of 20 + 10 for a 40-frame
    window (25 + 13 instead of 50 + 25 for the daemon's 100), so the graph has about half the operators; the
    front's kernel (5 frames) still covers every frame, and the int8 scores follow the float model's."""
    import keras

    from liverec_edge.tflite import load_interpreter
    from tools.train_fault_model import TrainConfig, build_classifier, convert_int8, inference_graph, tflite_predict

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (24, 40, 68)).astype(np.float32)
    op_counts = {}
    for stride in (2, 4):
        cfg = TrainConfig(units=8, dense=16, front_stride=stride)
        keras.utils.set_random_seed(0)
        model = build_classifier(40, 68, cfg)
        front = model.get_layer("front")
        assert front.kernel_size == (stride + 1,) and front.strides == (stride,)
        path = tmp_path / f"stride{stride}.tflite"
        path.write_bytes(convert_int8(inference_graph(model), x[:16]))
        op_counts[stride] = len(load_interpreter(path, num_threads=1)._get_ops_details())
        if stride == 4:
            np.testing.assert_allclose(tflite_predict(path, x[16:]), model.predict(x[16:], verbose=0), atol=0.06)
    # 60 recurrent steps against 30: the rest of the graph (front, pooling, head) is the same
    assert 0.45 < op_counts[4] / op_counts[2] < 0.56, op_counts
    # and a step is ~11 operators (Keras' own unrolled GRU takes 17): the recurrent biases fold into their products
    assert (op_counts[2] - op_counts[4]) / 30 <= 11.5, op_counts
    with pytest.raises(ValueError, match="conv2d"):
        build_classifier(40, 68, TrainConfig(units=8, dense=16, front="conv2d", front_stride=4))


def test_rendered_music_share_leaves_out_only_rendered_music_windows() -> None:
    from tools.faultsynth.sources import RENDERED_PREFIX
    from tools.train_fault_model import rendered_music_kept

    music = FAULT_TYPES.index("background_music")
    labels = np.zeros((10, len(FAULT_TYPES)), np.uint8)
    labels[:8, music] = 1  # windows 0-7 hold music: 0-5 rendered, 6-7 real; 8-9 none
    sources = np.array([f"{RENDERED_PREFIX}piece{i}" for i in range(6)] + ["music/a.ogg", "music/b.ogg", "", ""])
    keep = rendered_music_kept({"labels": labels, "music_source": sources}, 0.5)
    # two real music windows allow two rendered ones (share 0.5): the first two, in window order
    assert keep.tolist() == [True, True, False, False, False, False, True, True, True, True]
    assert rendered_music_kept({"labels": labels, "music_source": sources}, 0.0).sum() == 4
    with pytest.raises(ValueError, match="share"):
        rendered_music_kept({"labels": labels, "music_source": sources}, 1.0)


def test_teacher_scores_are_the_teachers_mean_on_inputs_standardised_their_way(tmp_path: Path) -> None:
    """Distillation reads each finished run's weights and network from its --out directory; the student's targets
    use the teachers' mean score. A teacher standardised with other statistics (trained on other windows) is shown
    the same windows standardised its own way."""
    import dataclasses

    import keras

    from tools.train_fault_model import WEIGHTS_FILE, TrainConfig, build_classifier, teacher_scores

    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (6, 20, 68)).astype(np.float32)
    mean, std = np.zeros(68, np.float32), np.ones(68, np.float32)
    expected = []
    folders = []
    for seed, front in ((0, "conv1d"), (1, "conv2d")):
        cfg = TrainConfig(units=8, dense=16, frames=20, front=front, seed=seed)
        keras.utils.set_random_seed(seed)
        model = build_classifier(20, 68, cfg)
        folder = tmp_path / front
        folder.mkdir()
        model.save_weights(folder / WEIGHTS_FILE)
        (folder / "metrics.json").write_text(json.dumps({"config": dataclasses.asdict(cfg)}))
        (folder / "model.json").write_text(json.dumps({"input_shape": [20, 68], "with_mask": False,
                                                       "norm": {"mean": mean.tolist(), "std": std.tolist()}}))
        expected.append(model.predict(x, verbose=0))
        folders.append(str(folder))
    got = teacher_scores(tuple(folders), x, mean, std)
    np.testing.assert_allclose(got, np.mean(expected, axis=0), atol=1e-5)
    assert np.abs(expected[0] - expected[1]).max() > 1e-3  # two different teachers: the mean is not one of them
    # the student standardised with mean 0.5 and std 2 where the teachers used 0 and 1: its inputs x' = (raw - 0.5) / 2
    # are the same windows, and the teachers must still score raw = 2 x' + 0.5
    student_mean, student_std = np.full(68, 0.5, np.float32), np.full(68, 2.0, np.float32)
    shifted = teacher_scores(tuple(folders), (x - 0.5) / 2.0, student_mean, student_std)
    np.testing.assert_allclose(shifted, np.mean(expected, axis=0), atol=1e-5)
    assert np.abs(teacher_scores(tuple(folders), (x - 0.5) / 2.0, mean, std) - shifted).max() > 1e-3
    meta = json.loads((tmp_path / "conv2d" / "model.json").read_text())
    meta["norm"] = {"mean": [0.0] * 60, "std": [1.0] * 60}
    (tmp_path / "conv2d" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(SystemExit, match="standardisation of 60 channels"):
        teacher_scores(tuple(folders), x, mean, std)
    (tmp_path / "conv1d" / WEIGHTS_FILE).unlink()
    with pytest.raises(SystemExit, match=WEIGHTS_FILE):
        teacher_scores(tuple(folders), x, mean, std)


def test_distillation_targets_take_a_types_own_teacher_weight() -> None:
    """``--teacher-weight-for background_music=0``: music is learnt from the labels alone, every other type from
    the mix of labels and teachers with the common weight."""
    from tools.train_fault_model import distillation_targets

    labels = np.zeros((3, len(FAULT_TYPES)), np.float32)
    labels[:, FAULT_TYPES.index("background_music")] = 1.0
    labels[:, FAULT_TYPES.index("hum")] = 1.0
    soft = np.full_like(labels, 0.3)
    got = distillation_targets(labels, soft, 0.8, (("background_music", 0.0),))
    assert np.allclose(got[:, FAULT_TYPES.index("background_music")], 1.0)
    assert np.allclose(got[:, FAULT_TYPES.index("hum")], 0.2 * 1.0 + 0.8 * 0.3)
    assert np.allclose(got[:, FAULT_TYPES.index("cough")], 0.8 * 0.3)
    assert np.array_equal(distillation_targets(labels, soft, 0.8), 0.2 * labels + 0.8 * soft)

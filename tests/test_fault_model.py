"""The shipped fault model: loads, classifies held-out windows from recordings it never saw, refuses broken files.

The held-out windows are built here with the dataset tool's own functions from the TEST-split recordings only (JFK
speech, the Brahms string orchestra, keyboard g–h, mains 018–020) with a seed the training never used. The floors
are the figures of models/faults/MODEL_CARD.md minus a margin for a 480-window sample.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from liverec_edge.audio.features import StreamingLogMel, logmel  # noqa: E402
from liverec_edge.audio.model import FaultModel  # noqa: E402
from liverec_edge.tflite import ModelError  # noqa: E402
from liverec_edge.types import FAULT_TYPES  # noqa: E402
from tools.faultsynth.sources import SPLITS  # noqa: E402

HELD_OUT_SEED = 20_261_126  # not the training seed (0): new windows, same never-trained-on recordings
HELD_OUT_WINDOWS = 480
# Floors = the card's test figures (models/faults/metrics.json, 1500 windows) minus a margin for a 480-window sample.
MACRO_F1_MARGIN = 0.07
PER_CLASS_F1_MARGIN = 0.15
#: Classes whose F1 on these 480 windows is known to fall further below the card's test figure than the margin, with
#: the floor it must still hold (the measured figure less 0.02) and why. A model that does worse fails; one that does
#: better passes and should take its entry out.
KNOWN_SHORTFALL: dict[str, tuple[float, str]] = {
    # none for t24 (session 10): its music F1 on these windows is 0.509 against 0.474 on the test split; D8 before it
    # read them at 0.30 against 0.465 and needed a floor of 0.28 here
}


@pytest.fixture(scope="module")
def fault_model(models_dir: Path) -> FaultModel:
    return FaultModel.load(models_dir / "faults")


@pytest.fixture(scope="module")
def held_out(shared_media: Path) -> dict[str, np.ndarray]:
    from tools.faultsynth.windows import build_split

    return build_split(shared_media, "test", HELD_OUT_WINDOWS, HELD_OUT_SEED)


def test_test_split_recordings_never_trained_the_model() -> None:
    for kind in ("speech", "music", "keyboard", "hum"):
        train, val, test = (set(SPLITS[s][kind]) for s in ("train", "val", "test"))
        assert not (test & train) and not (test & val) and not (train & val), kind
    card = (REPO / "models" / "faults" / "MODEL_CARD.md").read_text()
    assert "jfk.wav" in card and "zoom_g" in card  # the card documents the split it was graded on


def test_windows_depend_only_on_seed_split_and_index(shared_media: Path,
                                                     held_out: dict[str, np.ndarray]) -> None:
    """What makes a rebuilt dataset (and so a re-run of the training) reproducible: window i is the same whether the
    build holds 4 or 480 windows, and whether it runs in one process or two."""
    from tools.faultsynth.windows import build_split

    small = build_split(shared_media, "test", 4, HELD_OUT_SEED, jobs=2)
    for key in ("logmel", "labels", "onset_s", "mains_lines", "clip_shape", "tonal_peaks"):
        np.testing.assert_array_equal(small[key], held_out[key][:4], err_msg=key)
    other_seed = build_split(shared_media, "test", 4, HELD_OUT_SEED + 1)
    assert not np.array_equal(other_seed["logmel"], small["logmel"])


def test_shipped_model_metadata_is_consistent(fault_model: FaultModel, models_dir: Path) -> None:
    meta = json.loads((models_dir / "faults" / "model.json").read_text())
    assert meta["labels"] == list(FAULT_TYPES)
    assert not meta["smoke"]
    assert fault_model.window_frames == 100
    assert set(fault_model.thresholds) == set(FAULT_TYPES)
    for name in meta["files"].values():
        if name:
            assert (models_dir / "faults" / name).stat().st_size <= 1_500_000


def test_shipped_model_classifies_held_out_windows(fault_model: FaultModel, held_out: dict[str, np.ndarray],
                                                   models_dir: Path) -> None:
    metrics = json.loads((models_dir / "faults" / "metrics.json").read_text())
    card = metrics["variants"][metrics["chosen"]]["int8"]["test"]
    scores = np.stack([fault_model.scores(window, extra=_extra(fault_model, held_out, i))
                       for i, window in enumerate(held_out["logmel"])])
    labels = held_out["labels"].astype(bool)
    thresholds = np.array([fault_model.thresholds[name] for name in FAULT_TYPES])
    predicted = scores >= thresholds
    f1s = {}
    for k, name in enumerate(FAULT_TYPES):
        tp = np.sum(labels[:, k] & predicted[:, k])
        fp = np.sum(~labels[:, k] & predicted[:, k])
        fn = np.sum(labels[:, k] & ~predicted[:, k])
        f1s[name] = 2 * tp / max(1, 2 * tp + fp + fn)
    macro = float(np.mean(list(f1s.values())))
    assert macro >= card["macro_f1"] - MACRO_F1_MARGIN, f1s
    for name, f1 in f1s.items():
        floor = card["per_class"][name]["f1"] - PER_CLASS_F1_MARGIN
        why = ""
        if name in KNOWN_SHORTFALL:
            floor, why = min(floor, KNOWN_SHORTFALL[name][0]), KNOWN_SHORTFALL[name][1]
        assert f1 >= floor, (name, floor, why, f1s)


def test_streaming_features_give_the_same_scores(fault_model: FaultModel, shared_media: Path) -> None:
    from liverec_edge.media import decode_audio

    speech, _ = decode_audio(shared_media / "speech" / "jfk.wav", 16_000)
    stream = StreamingLogMel(history_frames=400)
    for start in range(0, 48_000, 1024):
        stream.push(speech[start : min(start + 1024, 48_000)])
    batch = logmel(speech[:48_000])
    end = stream.frames_total
    samples = speech[(end - 100) * 160 : (end - 1) * 160 + 400]
    np.testing.assert_allclose(fault_model.scores(stream.window(end - 100, 100), samples=samples),
                               fault_model.scores(batch[end - 100 : end], samples=samples), atol=1e-2)


def test_bad_windows_are_refused_or_harmless(fault_model: FaultModel) -> None:
    with pytest.raises(ValueError):
        fault_model.scores(np.zeros((99, 64), np.float32))
    with pytest.raises(ValueError):
        fault_model.scores(np.full((100, 64), np.nan, np.float32))
    silence = logmel(np.zeros(16_240, np.float32))
    scores = fault_model.scores(silence, samples=np.zeros(16_240, np.float32))
    assert np.isfinite(scores).all() and scores.shape == (len(FAULT_TYPES),)
    assert fault_model.detected(scores) == {}  # digital silence is clean
    assert scores[FAULT_TYPES.index("clean")] >= fault_model.thresholds["clean"]


def _extra(model: FaultModel, windows: dict[str, np.ndarray], index: int) -> np.ndarray | None:
    """The extra channels the dataset tool stored for window ``index``, for a model that takes them."""
    return np.concatenate([windows[name][index] for name in model.extra_features], axis=-1) if model.needs_samples \
        else None


def _copy_model(models_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "faults"
    shutil.copytree(models_dir / "faults", target)
    return target


def test_truncated_model_file_raises_model_error(models_dir: Path, tmp_path: Path) -> None:
    target = _copy_model(models_dir, tmp_path)
    meta = json.loads((target / "model.json").read_text())
    classifier = target / meta["files"]["classifier"]
    classifier.write_bytes(classifier.read_bytes()[:5000])
    with pytest.raises(ModelError):
        FaultModel.load(target)


def test_corrupt_model_file_raises_model_error(models_dir: Path, tmp_path: Path) -> None:
    target = _copy_model(models_dir, tmp_path)
    meta = json.loads((target / "model.json").read_text())
    classifier = target / meta["files"]["classifier"]
    data = bytearray(classifier.read_bytes())
    data[100:4000] = np.random.default_rng(0).integers(0, 256, 3900, dtype=np.uint8).tobytes()
    classifier.write_bytes(bytes(data))
    with pytest.raises(ModelError):  # the sha256 in model.json catches what the flatbuffer parser might not
        FaultModel.load(target)
    del meta["sha256"]
    (target / "model.json").write_text(json.dumps(meta))
    classifier.write_bytes(b"\x00\x00\x00\x00TFL3" + b"\x00" * 64)
    with pytest.raises(ModelError):
        FaultModel.load(target)


def test_missing_or_bad_metadata_raises_model_error(models_dir: Path, tmp_path: Path) -> None:
    target = _copy_model(models_dir, tmp_path)
    (target / "model.json").write_text("{not json")
    with pytest.raises(ModelError):
        FaultModel.load(target)
    (target / "model.json").unlink()
    with pytest.raises(ModelError):
        FaultModel.load(target)
    with pytest.raises(ModelError):
        FaultModel.load(tmp_path / "nowhere")
    target = _copy_model(models_dir, tmp_path / "second")
    meta = json.loads((target / "model.json").read_text())
    meta["labels"] = list(reversed(meta["labels"]))
    (target / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError):
        FaultModel.load(target)


def test_report_recall_by_placement_counts_each_mode() -> None:
    from tools.fault_model_report import recall_by_placement

    k = FAULT_TYPES.index("hum")
    labels = np.zeros((4, len(FAULT_TYPES)), np.uint8)
    labels[:3, k] = 1
    scores = np.zeros_like(labels, dtype=np.float32)
    scores[[0, 2], k] = 0.9  # the whole-window hum and one of the two tail hums are found
    thresholds = np.full(len(FAULT_TYPES), 0.5)
    placement = np.array(["hum:full", "hum:tail", "hum:tail,cough:mid", ""])
    table = recall_by_placement(labels, scores, thresholds, placement)
    assert table["hum"] == {"full": (1.0, 1), "tail": (0.5, 2)}
    assert table["cough"] == {}  # placed but not labelled: not counted


def test_report_recall_by_concurrency_splits_lone_and_shared_faults() -> None:
    from tools.fault_model_report import recall_by_concurrency

    hum, cough, clean = (FAULT_TYPES.index(t) for t in ("hum", "cough", "clean"))
    labels = np.zeros((4, len(FAULT_TYPES)), np.uint8)
    labels[0, hum] = 1  # hum alone, found
    labels[1, [hum, cough]] = 1  # hum and a cough: the hum missed, the cough found
    labels[2, [hum, cough]] = 1  # both found
    labels[3, clean] = 1
    scores = np.zeros_like(labels, dtype=np.float32)
    scores[0, hum] = scores[2, hum] = 0.9
    scores[[1, 2], cough] = 0.9
    scores[3, hum] = 0.9  # a false call on a clean window is no recall figure
    table = recall_by_concurrency(labels, scores, np.full(len(FAULT_TYPES), 0.5))
    assert table["hum"] == {"alone": (1.0, 1), "with others": (0.5, 2)}
    assert table["cough"] == {"with others": (1.0, 2)}
    assert table["hiss"] == {}


def test_report_firing_by_talker_counts_fault_free_windows_only() -> None:
    from tools.fault_model_report import firing_by_talker

    clean, hiss, hum = (FAULT_TYPES.index(t) for t in ("clean", "hiss", "hum"))
    labels = np.zeros((5, len(FAULT_TYPES)), np.uint8)
    labels[:4, clean] = 1
    labels[4, hum] = 1  # a hum window: not fault-free, so its hum score is not a false alarm
    scores = np.zeros_like(labels, dtype=np.float32)
    scores[0, hiss] = 0.9
    scores[4, hum] = 0.9
    thresholds = np.full(len(FAULT_TYPES), 0.5)
    source = np.array(["a", "a", "b", "b", "b"])
    table = firing_by_talker(labels, scores, thresholds, source)
    assert table == {"a": {"windows": 2, "any": 0.5, "hiss": 0.5}, "b": {"windows": 2, "any": 0.0}}


def test_report_recall_by_level_and_howl_frequency() -> None:
    from tools.fault_model_report import feedback_recall_by_freq, recall_by_level

    music, fb = FAULT_TYPES.index("background_music"), FAULT_TYPES.index("feedback")
    labels = np.zeros((4, len(FAULT_TYPES)), np.uint8)
    labels[[0, 1, 2], music] = 1
    labels[2, fb] = 1  # two faults: not a single-label window, so not in the level table
    labels[3, fb] = 1
    talker = np.zeros((4, 100, 64), np.float16)  # mel power 1 per cell
    background = np.zeros((4, 100, 64), np.float16)
    background[0] = np.log(10 ** -2.5)  # music 25 dB under the talker
    background[1] = np.log(10 ** -0.7)  # 7 dB under
    windows = {"labels": labels, "talker_logmel": talker, "background_logmel": background,
               "has_speech": np.array([True, True, True, False]),
               "freq_hz": np.array([[np.nan] * fb + [v] + [np.nan] * (len(FAULT_TYPES) - fb - 1)
                                    for v in (np.nan, np.nan, 500.0, 2000.0)], np.float32)}
    scores = np.zeros((4, len(FAULT_TYPES)), np.float32)
    scores[1, music] = 0.9  # the louder music is found, the quieter one is not
    scores[3, fb] = 0.9
    thresholds = np.full(len(FAULT_TYPES), 0.5)
    table = recall_by_level(windows, scores, thresholds)
    assert table["background_music"] == {"-99..-20 dB": (0.0, 1), "-10..-5 dB": (1.0, 1)}
    assert table["feedback"] == {"no talker": (1.0, 1)}
    assert feedback_recall_by_freq(windows, scores, thresholds) == {"300..700 Hz": (0.0, 1), "1500..3000 Hz": (1.0, 1)}


def test_report_tool_grades_fresh_windows(capsys: pytest.CaptureFixture[str]) -> None:
    from tools.fault_model_report import main

    assert main(["--held-out", "24", "--seed", "7", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["windows"] == 24
    assert set(report["clean_window_firing_by_type"]) == set(FAULT_TYPES) - {"clean"}
    # a fault-free window that fires counts in the overall rate: no type fires more often than the overall rate
    assert max(report["clean_window_firing_by_type"].values()) <= report["clean_window_false_alarm_rate"] + 1e-9
    f1s = [report["per_class"][name]["f1"] for name in FAULT_TYPES]
    assert report["macro_f1"] == pytest.approx(np.mean(f1s), abs=1e-3)
    assert sum(report["per_class"][name]["support"] for name in FAULT_TYPES) >= 24  # every window has a label
    # the test split's music is real recordings only
    music = report["per_class"]["background_music"]["support"]
    assert set(report["music_recall_by_source"]) <= {"real"}
    assert report["music_recall_by_source"].get("real", (0.0, 0))[1] == music


def test_held_out_windows_name_their_music_source(held_out: dict[str, np.ndarray]) -> None:
    music = held_out["labels"][:, FAULT_TYPES.index("background_music")] == 1
    assert music.any()
    assert all(name in SPLITS["test"]["music"] for name in held_out["music_source"][music])
    assert not any(held_out["music_source"][~music])


def test_report_tool_voice_check_uses_the_held_out_voices(capsys: pytest.CaptureFixture[str]) -> None:
    """Needs the training-only packages (word voices, soundtracks, fluidsynth for the validation renders)."""
    from tools.faultsynth import soundtracks, voices

    if not voices.languages() or not all(soundtracks.track_paths(p) for p in soundtracks.PACKAGES) \
            or shutil.which("fluidsynth") is None:
        pytest.skip("training packages not installed (bash tools/setup.sh train)")
    from tools.faultsynth.windows import build_split

    windows = build_split(REPO.parent / "shared" / "media", "val", 6, 7, voices=True)
    assert all(name.startswith(voices.VOICE_PREFIX) for name in windows["source"] if name)
    assert any(windows["source"])
    from tools.fault_model_report import main

    assert main(["--voice-check", "6", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["windows"] == 6

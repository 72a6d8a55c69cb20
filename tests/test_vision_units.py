"""Vision plumbing: anchors against the real models' output shapes, decoding and weighted NMS, crops, the model
files (pins, corrupt and wrong files), bad frames, settings and the detector registry."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from liverec_edge.config import ConfigError, config_from_dict
from liverec_edge.media import load_image
from liverec_edge.tflite import ModelError
from liverec_edge.types import Frame
from liverec_edge.vision.face import FULL_RANGE_ANCHORS, SHORT_RANGE_ANCHORS
from liverec_edge.vision.geometry import (
    RotatedRect,
    crop_to_tensor,
    decode_detections,
    rotation_from_points,
    ssd_anchors,
    weighted_nms,
)
from liverec_edge.vision.hands import PALM_ANCHORS
from liverec_edge.vision.model import FrameView
from liverec_edge.vision.pipeline import PartAnalyser
from liverec_edge.vision.pose import DETECTOR_ANCHORS
from liverec_edge.vision.registry import DETECTOR_KINDS, PartDetector, create_detector
from liverec_edge.vision.settings import VisionSettings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def vision_models(models_dir: Path) -> Path:
    folder = models_dir / "vision"
    if not (folder / "face_landmark.tflite").is_file():
        pytest.fail(f"models missing in {folder}: run `.venv/bin/python tools/fetch_models.py`")
    return folder


# --- fetched files -------------------------------------------------------------------------------------------------

def _fetch_module():
    spec = importlib.util.spec_from_file_location("fetch_models", REPO / "tools" / "fetch_models.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["fetch_models"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_fetched_models_match_their_pins(vision_models: Path):
    fetch = _fetch_module()
    assert fetch.main(["--check"]) == 0
    manifest = json.loads((vision_models / "manifest.json").read_text())
    dests = {Path(f["dest"]).name for f in manifest["files"]}
    assert {"face_detection_short_range.tflite", "face_landmark.tflite", "palm_detection_lite.tflite",
            "hand_landmark_lite.tflite", "pose_detection.tflite", "pose_landmark_full.tflite",
            "astronaut.png"} <= dests
    assert load_image(REPO / "models" / "assets" / "astronaut.png").shape == (512, 512, 3)


def test_fetch_reports_a_missing_wheel_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A file missing, no cached wheel and pip unable to reach an index: exit 1 with a message, no traceback."""
    fetch = _fetch_module()
    # Offline, as far as pip can tell: no index and no local wheel folders.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    manifest = {
        "wheels": {"w": {"requirement": "no-such-package-liverec==0.0.1", "filename": "no_such-0.0.1-py3-none-any.whl",
                         "platform": "manylinux_2_17_x86_64", "python_version": "311", "abi": "cp311",
                         "sha256": "0" * 64}},
        "files": [{"dest": str(tmp_path / "x.tflite"), "wheel": "w", "member": "x.tflite", "sha256": "0" * 64}],
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    assert fetch.main(["--manifest", str(path), "--cache", str(tmp_path / "cache"), "--check"]) == 1
    assert fetch.main(["--manifest", str(path), "--cache", str(tmp_path / "cache")]) == 1
    wheels, _ = fetch.load_manifest(path)
    with pytest.raises(fetch.FetchError, match="could not download"):
        fetch.obtain_wheel(wheels["w"], tmp_path / "cache", [])


# --- anchors, decoding, NMS, crops ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("options", "count"),
    [(SHORT_RANGE_ANCHORS, 896), (FULL_RANGE_ANCHORS, 2304), (PALM_ANCHORS, 2016), (DETECTOR_ANCHORS, 2254)],
)
def test_anchor_counts_match_the_model_outputs(options, count: int):
    anchors = ssd_anchors(options)
    assert anchors.shape == (count, 2)
    assert anchors.min() > 0 and anchors.max() < 1
    # First grid: finest stride, cell (0, 0), then x varies fastest.
    first_stride = options.strides[0]
    cell = first_stride / options.input_width
    assert anchors[0] == pytest.approx([cell / 2, cell / 2])


def test_decode_and_weighted_nms_merge_overlapping_candidates():
    anchors = np.array([[0.5, 0.5], [0.52, 0.5], [0.1, 0.1]], np.float32)
    size = 128
    raw = np.zeros((1, 3, 16), np.float32)
    raw[0, :, 2:4] = 0.2 * size  # 0.2 wide and high boxes centred on their anchors
    raw[0, :, 4:6] = [0.01 * size, 0.0]  # first keypoint slightly right of the anchor
    scores = np.array([[[3.0], [1.0], [-5.0]]], np.float32)  # sigmoid: 0.95, 0.73, 0.007
    s, boxes, kps = decode_detections(raw, scores, anchors, size, 6, 0.5)
    assert len(s) == 2  # the third is below threshold
    (det,) = weighted_nms(s, boxes, kps, 0.3)
    w0, w1 = 1 / (1 + math.exp(-3)), 1 / (1 + math.exp(-1))
    expected_cx = (0.5 * w0 + 0.52 * w1) / (w0 + w1)
    assert det.score == pytest.approx(w0, abs=1e-5)
    assert (det.box[0] + det.box[2]) / 2 == pytest.approx(expected_cx, abs=1e-5)
    assert det.keypoints[0, 0] == pytest.approx(expected_cx + 0.01, abs=1e-5)
    assert weighted_nms(*decode_detections(raw, scores - 50, anchors, size, 6, 0.5), 0.3) == []


def test_rotation_convention_matches_mediapipe():
    # A vector pointing up (towards smaller y) needs no rotation to point up: target 90°.
    assert rotation_from_points(10, 10, 10, 0, 90.0) == pytest.approx(0.0)
    # Pointing right on screen: the crop must turn 90° clockwise (positive) for it to point up.
    assert rotation_from_points(0, 0, 10, 0, 90.0) == pytest.approx(math.pi / 2)


def test_crop_samples_the_rotated_rect():
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:40, 120:140] = (255, 0, 0)  # red square centred at (130, 30)
    image[60:80, 120:140] = (0, 0, 255)  # blue square centred at (130, 70)
    pil = FrameView.from_array(image).image
    rect = RotatedRect(130, 50, 40, 80, 0.0)
    tensor = crop_to_tensor(pil, rect, (40, 80), (0.0, 1.0))
    assert tensor.shape == (1, 80, 40, 3) and tensor.dtype == np.float32
    assert tensor[0, 20, 20].tolist() == [1.0, 0.0, 0.0] and tensor[0, 60, 20].tolist() == [0.0, 0.0, 1.0]
    # Rotated half a turn the crop is upside down: blue on top.
    flipped = crop_to_tensor(pil, RotatedRect(130, 50, 40, 80, math.pi), (40, 80), (-1.0, 1.0))
    assert flipped[0, 20, 20].tolist() == [-1.0, -1.0, 1.0]
    # Outside the frame reads black, as mediapipe's zero border.
    outside = crop_to_tensor(pil, RotatedRect(-50, -50, 20, 20), (8, 8), (0.0, 1.0))
    assert not outside.any()
    # Mapping back: the crop's centre is the rect's centre, its top-left corner rotates with it.
    assert rect.to_frame(np.array([0.5, 0.5])) == pytest.approx([130, 50])
    turned = RotatedRect(0, 0, 2, 2, math.pi / 2)
    assert turned.to_frame(np.array([0.0, 0.0])) == pytest.approx([1.0, -1.0])


# --- bad input -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def analyser(vision_models: Path) -> PartAnalyser:
    return PartAnalyser(VisionSettings(frame_budget_ms=1e6), vision_models)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 0, 3), np.uint8), "smaller than"),
        (np.zeros((480, 640), np.uint8), "H×W×3"),
        (np.zeros((480, 640, 4), np.uint8), "H×W×3"),
        (np.zeros((480, 640, 3), np.float32), "uint8"),
        (np.zeros((10, 640, 3), np.uint8), "smaller than"),
        ([[0, 0, 0]], "numpy array"),
    ],
)
def test_bad_frames_are_rejected_with_a_clear_error(analyser: PartAnalyser, image, message: str):
    with pytest.raises(ValueError, match=message):
        analyser.analyse(Frame(0.0, 0, image))


def test_analyse_rejects_a_non_frame(analyser: PartAnalyser):
    with pytest.raises(ValueError, match="expects a Frame"):
        analyser.analyse(np.zeros((480, 640, 3), np.uint8))  # type: ignore[arg-type]


def test_uniform_frames_give_no_detections(analyser: PartAnalyser):
    analyser.reset()
    for i, value in enumerate((0, 255, 128)):
        results = analyser.analyse(Frame(i / 30, i, np.full((480, 640, 3), value, np.uint8)))
        assert not any(r.detected for r in results)


def _copy_models(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for path in src.glob("*.tflite"):
        shutil.copy(path, dst / path.name)
    shutil.copy(src / "manifest.json", dst / "manifest.json")
    return dst


def test_truncated_model_is_a_model_error_naming_the_file(vision_models: Path, tmp_path: Path):
    models = _copy_models(vision_models, tmp_path / "models")
    target = models / "face_landmark.tflite"
    target.write_bytes(target.read_bytes()[: 50_000])
    with pytest.raises(ModelError, match=r"face_landmark.tflite"):
        PartAnalyser(VisionSettings(), models)
    # Without the manifest's pin the runtime itself must refuse the truncated flatbuffer.
    (models / "manifest.json").unlink()
    with pytest.raises(ModelError, match=r"face_landmark.tflite"):
        PartAnalyser(VisionSettings(), models)


def test_missing_and_wrong_models_are_model_errors(vision_models: Path, tmp_path: Path):
    models = _copy_models(vision_models, tmp_path / "models")
    (models / "pose_landmark_full.tflite").unlink()
    with pytest.raises(ModelError, match=r"not found.*pose_landmark_full.tflite"):
        PartAnalyser(VisionSettings(), models)
    # Without the pose part the same folder works: the missing model is only needed by the pose detector.
    PartAnalyser(VisionSettings(parts=("face", "hand")), models)
    # A valid model of the wrong kind in a slot: caught by the pin, and without a manifest by the shapes.
    shutil.copy(vision_models / "palm_detection_lite.tflite", models / "face_detection_short_range.tflite")
    with pytest.raises(ModelError, match="checksum"):
        PartAnalyser(VisionSettings(parts=("face",)), models)
    (models / "manifest.json").unlink()
    with pytest.raises(ModelError, match=r"face_detection_short_range.tflite: expected one input"):
        PartAnalyser(VisionSettings(parts=("face",)), models)
    shutil.copy(vision_models / "face_detection_short_range.tflite", models / "face_detection_short_range.tflite")
    (models / "face_landmark.tflite").write_bytes(b"not a model at all, just text" * 10)
    with pytest.raises(ModelError, match="TFL3"):
        PartAnalyser(VisionSettings(parts=("face",)), models)


# --- settings and registry -----------------------------------------------------------------------------------------

def test_vision_settings_from_config():
    config = config_from_dict({"vision": {"parts": ["face", "pose"], "pose_every_n": 5, "hand_model": "full"}})
    assert config.vision.parts == ("face", "pose") and config.vision.pose_every_n == 5
    assert config_from_dict({"vision": {"hands_per_frame": 0.5}}).vision.hands_per_frame == 0.5
    for bad, key in [({"parts": ["face", "feet"]}, "vision.parts"), ({"pose_every_n": 0}, "vision.pose_every_n"),
                     ({"face_range": "medium"}, "vision.face_range"), ({"parts": ["face", "face"]}, "vision"),
                     ({"frame_budget": 3}, "vision.frame_budget"), ({"hands_per_frame": 0.2}, "vision.hands_per_frame"),
                     ({"hands_per_frame": 5}, "vision.hands_per_frame")]:
        with pytest.raises(ConfigError) as info:
            config_from_dict({"vision": bad})
        assert any(p.startswith(key) for p in info.value.problems), info.value.problems


def test_registry_builds_each_kind_and_rejects_unknown(vision_models: Path):
    settings = VisionSettings()
    for kind in DETECTOR_KINDS:
        detector = create_detector(kind, settings, vision_models)
        assert isinstance(detector, PartDetector) and detector.part == kind
        assert all(model.path.is_file() for model in detector.models)
    with pytest.raises(ValueError, match="unknown part detector 'feet'"):
        create_detector("feet", settings, vision_models)

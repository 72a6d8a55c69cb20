"""Part detectors on real pixels: the shared ASL clips, still images and the head-pose clip (../shared/media).

Expected values were checked by eye on PNG overlays of the same frames (landmarks and boxes drawn over the image).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liverec_edge.media import iter_video_frames, load_image
from liverec_edge.types import Frame
from liverec_edge.vision.face import FaceDetector
from liverec_edge.vision.hands import HandTracker
from liverec_edge.vision.model import FrameView
from liverec_edge.vision.pipeline import PartAnalyser
from liverec_edge.vision.pose import PoseTracker
from liverec_edge.vision.settings import VisionSettings

UNLIMITED = VisionSettings(frame_budget_ms=1e6)
#: Every tracked hand measured whenever the scheduler lets it (no stillness check), at one moving hand per frame
#: whatever the default rate (the wait limit tested below is that of one hand per frame).
EVERY_HAND = VisionSettings(frame_budget_ms=1e6, hand_still_threshold=0.0, hands_per_frame=1.0)


@pytest.fixture(scope="module")
def vision_models(models_dir: Path) -> Path:
    folder = models_dir / "vision"
    if not (folder / "face_landmark.tflite").is_file():
        pytest.fail(f"models missing in {folder}: run `.venv/bin/python tools/fetch_models.py`")
    return folder


@pytest.fixture(scope="module")
def asl_clips(shared_media: Path) -> dict[str, list[np.ndarray]]:
    clips = sorted((shared_media / "video" / "asl").glob("*.mkv"))
    assert len(clips) >= 10
    return {clip.stem: [image for _, image in iter_video_frames(clip)] for clip in clips}


def _view(image: np.ndarray, index: int = 0) -> FrameView:
    return FrameView.from_array(image, t=index / 30.0, index=index)


def test_face_found_in_every_frame_of_every_asl_clip(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    detector = FaceDetector(UNLIMITED, vision_models)
    total = 0
    for name, frames in asl_clips.items():
        detector.reset()
        for i, image in enumerate(frames):
            (face,) = detector.process(_view(image, i))
            assert face.detected, f"{name} frame {i}: no face"
            # One presenter standing mid-frame: the nose is in the middle third horizontally, upper half vertically.
            assert 0.3 < face.attrs["nose_x"] < 0.7 and 0.1 < face.attrs["nose_y"] < 0.5, (name, i, face.attrs)
            assert face.landmarks.shape == (468, 3)
            x0, y0, x1, y1 = face.box
            assert x0 <= face.attrs["nose_x"] <= x1 and y0 <= face.attrs["nose_y"] <= y1
            total += 1
    assert total > 900


def test_faces_on_still_images(vision_models: Path, shared_media: Path):
    detector = FaceDetector(UNLIMITED, vision_models)
    images = shared_media / "images"

    detector.reset()
    (hopper,) = detector.process(_view(load_image(images / "grace_hopper.bmp")))
    assert hopper.detected and hopper.confidence > 0.8
    # Her face is in the upper middle of the portrait, facing the camera, mouth closed.
    assert 0.45 < hopper.attrs["nose_x"] < 0.6 and 0.3 < hopper.attrs["nose_y"] < 0.5
    assert abs(hopper.attrs["yaw_deg"]) < 10 and hopper.attrs["mouth_open"] < 0.1
    assert 0.25 < hopper.attrs["size"] < 0.5

    detector.reset()
    (group,) = detector.process(_view(load_image(images / "face.jpg")))
    assert group.detected and group.attrs["count"] >= 2
    # The largest face is the man on the right of the centre.
    assert 0.5 < group.attrs["nose_x"] < 0.7

    detector.reset()
    (squat,) = detector.process(_view(load_image(images / "squat.bmp")))
    # Full body in three-quarter view, looking towards the image's right: the face, not a knee, and yaw positive.
    assert squat.detected and 0.5 < squat.attrs["nose_x"] < 0.7 and squat.attrs["nose_y"] < 0.45
    assert squat.attrs["yaw_deg"] > 15


def test_yaw_sign_follows_the_head_turning(vision_models: Path, shared_media: Path):
    """Positive yaw = the face turns towards the image's right: the nose moves right of the face's centre."""
    detector = FaceDetector(UNLIMITED, vision_models)
    yaws, offsets = [], []
    for i, (_, image) in enumerate(iter_video_frames(shared_media / "video" / "head-pose-face-detection-female.gif")):
        (face,) = detector.process(_view(image, i))
        assert face.detected
        yaws.append(face.attrs["yaw_deg"])
        offsets.append(face.attrs["nose_x"] - (face.box[0] + face.box[2]) / 2)
    assert max(yaws) > 20 and min(yaws) < -20  # she looks both ways
    assert np.corrcoef(yaws, offsets)[0, 1] > 0.8


def test_hand_at_the_mouth_is_found_and_tracked(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    """eat.mkv: the right hand rises to the mouth (frames ~15–31, checked by eye) and stays there."""
    analyser = PartAnalyser(UNLIMITED, vision_models)
    per_frame = [analyser.analyse(Frame(i / 30.0, i, image)) for i, image in enumerate(asl_clips["eat"])]
    at_mouth = range(17, 30)
    tracked = 0
    for i in at_mouth:
        face = next(r for r in per_frame[i] if r.part == "face")
        hands = [r for r in per_frame[i] if r.part == "hand" and r.detected]
        assert hands, f"frame {i}: the hand at the mouth was not found"
        nearest = min(hands, key=lambda h: np.hypot(h.attrs["cx"] - face.attrs["mouth_x"],
                                                    h.attrs["cy"] - face.attrs["mouth_y"]))
        assert np.hypot(nearest.attrs["cx"] - face.attrs["mouth_x"], nearest.attrs["cy"] - face.attrs["mouth_y"]) < 0.12
        assert nearest.landmarks.shape == (21, 3)
        assert nearest.attrs["handedness"] == 1.0  # his right hand (unmirrored camera)
        tracked += int(nearest.attrs["tracked"])
        x0, y0, x1, y1 = nearest.box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    # Once found, the hand is followed from its landmarks rather than re-detected.
    assert tracked >= len(at_mouth) - 2
    # Found on most frames of the clip, measured or (while still at the mouth) repeated by the scheduler.
    assert sum(any(r.part == "hand" and r.detected for r in results) for results in per_frame) >= 20
    stats = analyser.stats()
    assert stats["hand"]["detected"] >= 10


def test_hands_found_across_the_asl_clips(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    """Hands are visible in nearly every ASL frame, but often small (~35 px) and motion-blurred; the rate found is
    the figure in models/vision/README.md, kept from regressing."""
    analyser = PartAnalyser(UNLIMITED, vision_models)
    for name in ("eat", "hungry", "yes", "bird", "help"):
        analyser.reset()
        for i, image in enumerate(asl_clips[name]):
            analyser.analyse(Frame(i / 30.0, i, image))
    stats = analyser.stats()["hand"]
    assert stats["detected"] / stats["frames"] > 0.7, stats


def test_no_parts_on_an_empty_room(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    """The room's right-hand side (wall, blue panel, empty chair), scaled to a frame: nobody is there."""
    from PIL import Image

    room = np.asarray(Image.fromarray(asl_clips["eat"][0][:, 430:]).resize((640, 480)))
    analyser = PartAnalyser(UNLIMITED, vision_models)
    for i in range(4):
        results = analyser.analyse(Frame(i / 30.0, i, room))
        assert not any(r.detected for r in results), [r for r in results if r.detected]
    assert {r.part for r in results} == {"face", "hand", "pose"}


def test_pose_on_still_images(vision_models: Path, shared_media: Path):
    tracker = PoseTracker(UNLIMITED, vision_models)
    images = shared_media / "images"
    (squat,) = tracker.process(_view(load_image(images / "squat.bmp")))
    assert squat.detected and squat.landmarks.shape == (33, 4)
    lm = squat.landmarks
    # Full body: the head above the hips above the feet, all visible.
    assert lm[0, 1] < lm[23, 1] < lm[27, 1]
    assert lm[[0, 11, 12, 23, 24], 3].min() > 0.5
    assert 0.05 < squat.attrs["shoulder_width"] < 0.4

    tracker.reset()
    (hopper,) = tracker.process(_view(load_image(images / "grace_hopper.bmp")))
    assert hopper.detected
    assert 0.35 < hopper.attrs["shoulder_cx"] < 0.65 and hopper.attrs["shoulder_cy"] > 0.6
    assert hopper.attrs["shoulder_width"] > 0.4  # head-and-shoulders portrait

    tracker.reset()
    (group,) = tracker.process(_view(load_image(images / "face.jpg")))
    assert group.detected


def test_lean_grows_when_the_presenter_comes_closer(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    """Zoom the real frame 1.25× about the shoulders (the presenter leaning towards the camera): lean ≈ +0.25."""
    from PIL import Image

    image = asl_clips["eat"][0]
    tracker = PoseTracker(UNLIMITED, vision_models)
    for i in range(5):
        (baseline,) = tracker.process(_view(image, i))
        assert baseline.detected and abs(baseline.attrs["lean"]) < 0.05
    cx, cy = baseline.attrs["shoulder_cx"] * 640, baseline.attrs["shoulder_cy"] * 480
    w, h = 640 / 1.25, 480 / 1.25
    box = (int(cx - w / 2), int(cy - h / 2), int(cx + w / 2), int(cy + h / 2))
    closer = np.asarray(Image.fromarray(image).crop(box).resize((640, 480), Image.Resampling.BILINEAR))
    (leaning,) = tracker.process(_view(closer, 5))
    assert leaning.detected
    assert 0.15 < leaning.attrs["lean"] < 0.35, leaning.attrs


def test_pose_every_nth_frame_is_reused_and_marked(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    settings = VisionSettings(frame_budget_ms=1e6, pose_every_n=3)
    analyser = PartAnalyser(settings, vision_models)
    frames = asl_clips["hungry"][:12]
    poses = []
    for i, image in enumerate(frames):
        results = analyser.analyse(Frame(i / 30.0, i, image))
        assert [r.part for r in results].count("face") == 1
        (pose,) = [r for r in results if r.part == "pose"]
        assert pose.frame_index == i and pose.detected
        poses.append(pose)
    fresh = [p.attrs["reused"] == 0.0 for p in poses]
    assert fresh == [i % 3 == 0 for i in range(len(frames))]
    assert [p.attrs["age_frames"] for p in poses[:3]] == [0.0, 1.0, 2.0]
    assert np.array_equal(poses[1].landmarks, poses[0].landmarks)
    stats = analyser.stats()
    assert stats["pose"] == {"frames": 4, "detected": 4, "skipped": 0}
    assert stats["face"] == {"frames": 12, "detected": 12, "skipped": 0}


def test_budget_sheds_optional_stages_and_counts_them(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    """With a budget nothing fits into, the face still runs every frame; hand and pose stages are skipped and
    counted (until overdue: a pose deferred for two periods runs regardless)."""
    settings = VisionSettings(frame_budget_ms=0.001, pose_every_n=2, palm_every_n=2)
    analyser = PartAnalyser(settings, vision_models)
    for i, image in enumerate(asl_clips["eat"][:20]):
        results = analyser.analyse(Frame(i / 30.0, i, image))
        assert any(r.part == "face" and r.detected for r in results)
        assert {r.part for r in results} == {"face", "hand", "pose"}
    stats = analyser.stats()
    assert stats["face"] == {"frames": 20, "detected": 20, "skipped": 0}
    assert stats["pose"]["skipped"] > 0 and stats["pose"]["frames"] >= 3  # overdue runs still happen
    assert stats["hand"]["skipped"] > 0


def test_tracking_is_dropped_on_a_jump_in_time(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    analyser = PartAnalyser(UNLIMITED, vision_models)
    for i in range(16, 22):
        analyser.analyse(Frame(i / 30.0, i, asl_clips["eat"][i]))
    hands = analyser.detectors["hand"]
    assert isinstance(hands, HandTracker) and hands.tracked_count >= 1
    # The next frame comes from another clip, earlier in time: tracking must restart, not follow a stale crop.
    results = analyser.analyse(Frame(0.0, 0, asl_clips["hungry"][0]))
    assert all(r.attrs.get("tracked", 0.0) == 0.0 for r in results if r.part in ("hand", "face") and r.detected)


def test_hands_take_turns_when_only_one_fits(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    """hungry.mkv frames 9–20: both hands up and tracked. Updating one hand per frame alternates between them; the
    other repeats its last result, marked, and stays tracked."""
    tracker = HandTracker(EVERY_HAND, vision_models)
    frames = asl_clips["hungry"]
    for i in range(9, 13):
        tracker.process(_view(frames[i], i))
    assert tracker.tracked_count == 2
    updated = []
    for i in range(13, 19):
        results = tracker.track(_view(frames[i], i), limit=1)
        tracker.no_search()
        assert len(results) == 2 and all(r.detected for r in results)
        fresh = [r.instance for r in results if r.attrs["reused"] == 0.0]
        stale = [r for r in results if r.attrs["reused"] == 1.0]
        assert len(fresh) == 1 and len(stale) == 1 and stale[0].attrs["age_frames"] == 1.0
        assert stale[0].frame_index == i
        updated += fresh
    assert updated == [updated[0], 1 - updated[0]] * 3  # strict alternation


def test_a_starved_hand_is_updated_anyway(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    """With no time for any hand, tracked hands repeat for at most two frames, then are measured again."""
    tracker = HandTracker(EVERY_HAND, vision_models)
    frames = asl_clips["hungry"]
    for i in range(9, 12):
        tracker.process(_view(frames[i], i))
    assert tracker.tracked_count == 2
    ages = []
    for i in range(12, 18):
        results = tracker.track(_view(frames[i], i), limit=0)
        tracker.no_search()
        ages.append(sorted(r.attrs["age_frames"] for r in results))
    assert ages == [[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]] * 2


def test_a_still_hand_keeps_its_landmarks_and_a_moving_one_is_measured(
    vision_models: Path, asl_clips: dict[str, list[np.ndarray]]
):
    """The same frame shown again is a still hand: it repeats its landmarks (marked) until hand_refresh_n frames have
    passed; a hand whose crop changes is measured on the next frame."""
    settings = VisionSettings(frame_budget_ms=1e6, hand_refresh_n=4)
    tracker = HandTracker(settings, vision_models)
    frames = asl_clips["hungry"]
    for i in range(9, 13):
        tracker.process(_view(frames[i], i))
    assert tracker.tracked_count == 2
    held = frames[12]
    fresh_per_frame = []
    for i in range(13, 19):  # the camera shows frame 12 again and again: nothing moves
        results = tracker.track(_view(held, i))
        tracker.no_search()
        assert len(results) == 2 and all(r.detected for r in results)
        fresh_per_frame.append(sum(r.attrs["reused"] == 0.0 for r in results))
    # Still: repeated, then each hand re-measured once its result is hand_refresh_n frames old, then repeated again.
    assert fresh_per_frame.count(0) >= 3 and sum(fresh_per_frame) <= 2 * 2
    results = tracker.track(_view(frames[22], 22))  # the hands have moved on: measured now
    assert all(r.attrs["reused"] == 0.0 for r in results if r.detected)


#: Half a moving hand per frame, every tracked hand counted as moving, faces and hands only (no pose seeding).
HALF_A_HAND = VisionSettings(frame_budget_ms=1e6, hand_still_threshold=0.0, hands_per_frame=0.5, parts=("face", "hand"))


def test_half_a_hand_per_frame_measures_one_hand_every_other_frame(
    vision_models: Path, asl_clips: dict[str, list[np.ndarray]]
):
    """hungry.mkv, both hands up and tracked: at hands_per_frame 0.5 the hand-landmark model runs on alternate frames
    only, on the two hands in turn; each waits three frames and is reported (repeated, marked) on every frame."""
    analyser = PartAnalyser(HALF_A_HAND, vision_models)
    frames = asl_clips["hungry"]
    for i in range(9, 13):
        analyser.analyse(Frame(i / 30.0, i, frames[i]))
    hands = analyser.detectors["hand"]
    assert isinstance(hands, HandTracker) and hands.tracked_count == 2
    runs, measured, oldest = [], [], []
    for i in range(13, 21):
        results = [r for r in analyser.analyse(Frame(i / 30.0, i, frames[i])) if r.part == "hand"]
        assert len(results) == 2 and all(r.detected and r.frame_index == i for r in results)
        runs.append(analyser.last_model_runs.get("hand_landmark_lite.tflite", 0))
        measured += [r.instance for r in results if r.attrs["reused"] == 0.0]
        oldest.append(max(r.attrs["age_frames"] for r in results))
    assert runs in ([0, 1] * 4, [1, 0] * 4), runs
    assert measured == [measured[0], 1 - measured[0]] * 2  # the longest-waiting first: strict turns
    assert max(oldest) == 3.0
    assert analyser.stats()["hand"]["skipped"] == 0


def test_a_fraction_of_a_hand_carries_to_the_next_frames(vision_models: Path, asl_clips: dict[str, list[np.ndarray]]):
    """At hands_per_frame 0.67 the left-over fraction carries: two frames in three measure a hand, none measures two."""
    settings = HALF_A_HAND.model_copy(update={"hands_per_frame": 0.67})
    analyser = PartAnalyser(settings, vision_models)
    frames = asl_clips["hungry"]
    for i in range(9, 13):
        analyser.analyse(Frame(i / 30.0, i, frames[i]))
    hands = analyser.detectors["hand"]
    assert isinstance(hands, HandTracker) and hands.tracked_count == 2
    runs = []
    for i in range(13, 22):
        analyser.analyse(Frame(i / 30.0, i, frames[i]))
        assert hands.tracked_count == 2
        runs.append(hands.last_updates)
    assert sorted(runs) == [0] * 3 + [1] * 6, runs
    assert all(runs[k : k + 3].count(1) == 2 for k in range(0, 9, 3)), runs


def test_hand_credit_is_not_saved_up_while_no_hand_is_tracked(
    vision_models: Path, asl_clips: dict[str, list[np.ndarray]]
):
    """An empty room for 12 frames, then the presenter with both hands up: the frames without a hand leave no credit
    behind, so the two hands found are measured one at a time on alternate frames, not both at once to catch up."""
    from PIL import Image

    room = np.asarray(Image.fromarray(asl_clips["eat"][0][:, 430:]).resize((640, 480)))
    frames = [room] * 12 + asl_clips["hungry"][9:21]
    analyser = PartAnalyser(HALF_A_HAND, vision_models)
    hands = analyser.detectors["hand"]
    assert isinstance(hands, HandTracker)
    runs = []
    for i, image in enumerate(frames):
        analyser.analyse(Frame(i / 30.0, i, image))
        if i >= 12:
            assert hands.tracked_count == 2, i
            runs.append(hands.last_updates)  # runs on hands tracked from earlier frames
    assert runs[1:] in ([0, 1] * 5 + [0], [1, 0] * 5 + [1]), runs


def test_a_hand_starved_below_one_per_frame_waits_in_proportion(
    vision_models: Path, asl_clips: dict[str, list[np.ndarray]]
):
    """With no time for any hand, at hands_per_frame 0.5 tracked moving hands repeat for at most four frames (the
    two-frame limit at one hand per frame, scaled), then are measured again."""
    tracker = HandTracker(HALF_A_HAND, vision_models)
    frames = asl_clips["hungry"]
    for i in range(9, 12):
        tracker.process(_view(frames[i], i))
    assert tracker.tracked_count == 2
    ages = []
    for i in range(12, 22):
        results = tracker.track(_view(frames[i], i), limit=0)
        tracker.no_search()
        ages.append(sorted(r.attrs["age_frames"] for r in results))
    assert ages == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [0.0, 0.0]] * 2

"""Capture sources on their own: synthetic and scene cameras, synthetic and file audio, settings and device errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from liverec_edge.capture.audio_input import (
    FileAudioSource,
    SyntheticAudioSource,
    SyntheticSpeech,
    make_audio_source,
    pcm_to_float,
)
from liverec_edge.capture.base import SourceContext, SourceError
from liverec_edge.capture.camera import SyntheticCamera, decode_frame_counter, make_camera
from liverec_edge.capture.clock import CaptureClock
from liverec_edge.capture.scene import SceneCamera, SceneScript
from liverec_edge.capture.settings import CameraSettings
from liverec_edge.config import ConfigError, config_from_dict
from liverec_edge.media import decode_audio, load_image


def _context(t_origin: float = 0.0) -> SourceContext:
    return SourceContext(CaptureClock.starting_now(), t_origin)


# -- cameras -------------------------------------------------------------------------------------------------------
def test_synthetic_camera_encodes_its_frame_index_and_moves_the_bar() -> None:
    camera = SyntheticCamera(640, 480, 30, paced=False)
    camera.open(_context(t_origin=5.0))
    frames = [camera.read() for _ in range(40)]
    camera.close()
    assert [t for t, _ in frames] == pytest.approx([5.0 + k / 30 for k in range(40)])
    assert [decode_frame_counter(image) for _, image in frames] == list(range(40))
    assert decode_frame_counter(camera.render(123456)) == 123456
    # the white bar is 16 px wide at x = 8k
    row = frames[3][1][200]
    white = np.flatnonzero((row == 255).all(axis=1))
    assert white.min() == 24 and white.max() == 39
    assert frames[0][1].shape == (480, 640, 3) and frames[0][1].dtype == np.uint8


def test_scene_script_says_when_the_presenter_leans_in_or_is_away() -> None:
    script = SceneScript([(0, "normal"), (6, "lean_in"), (10, "normal"), (14, "away"), (18, "normal")], 24, 0.5)
    assert script.label_at(3.0) == "normal" and script.expected_behaviour(3.0) is None
    assert script.label_at(6.2) == "moving"
    assert script.label_at(8.0) == "lean_in" and script.expected_behaviour(8.0) == "lean_in"
    assert script.label_at(16.0) == "away" and script.expected_behaviour(16.0) == "absent"
    assert script.label_at(24 + 8.0) == "lean_in"  # repeats
    assert script.label_at(24.1) == "normal"  # moving back from the last pose (normal → normal) is no move
    assert script.pose_at(8.0).scale > 1.3 and script.pose_at(3.0).scale == 1.0
    spans = script.expected_spans(30)
    assert spans == [("lean_in", 6.5, 10.0), ("absent", 14.5, 18.0)]  # the next lean-in starts at 30.5
    assert script.expected_spans(40)[2:] == [("lean_in", 30.5, 34.0), ("absent", 38.5, 40.0)]
    for behaviour, start, end in script.expected_spans(60):
        for t in np.linspace(start, end, 7)[:-1]:
            assert script.expected_behaviour(t) == behaviour
    with pytest.raises(ValueError, match="unknown scene pose"):
        SceneScript([(0, "dancing")], 10)


def test_scene_camera_renders_the_portrait_where_the_script_says(shared_media: Path) -> None:
    portrait = load_image(shared_media / "images" / "grace_hopper.bmp")
    script = SceneScript([(0, "normal"), (6, "lean_in"), (10, "normal"), (14, "away"), (18, "normal")], 24, 0.5)
    camera = SceneCamera(portrait, 640, 480, 30, script, paced=False)
    backdrop = camera.render(16.0)  # away: nothing but the studio
    normal, lean = camera.render(3.0), camera.render(8.0)

    def portrait_box(image: np.ndarray) -> tuple[int, int, int, int]:
        ys, xs = np.nonzero((image != backdrop).any(axis=2))
        return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1

    x0, y0, x1, y1 = portrait_box(normal)
    # at rest the portrait is 85 % of the frame high, centred, standing behind the desk (the bottom 10 %)
    px0, py0, px1, py1 = camera.placement(3.0)
    assert py1 - py0 == pytest.approx(0.85 * 480, abs=1) and (px0 + px1) / 2 == pytest.approx(320, abs=1)
    assert (x0, y0, x1) == pytest.approx((px0, py0, px1), abs=1) and y1 == 432
    lx0, _, lx1, _ = portrait_box(lean)
    assert lx1 - lx0 > x1 - x0
    # leaning in: the face (a third down the portrait) is larger and lower in the frame, towards the mic
    def face_y(rect: tuple[int, int, int, int]) -> float:
        return rect[1] + 0.3 * (rect[3] - rect[1])

    normal_rect, lean_rect = camera.placement(3.0), camera.placement(8.0)
    assert lean_rect[3] - lean_rect[1] > 1.4 * (normal_rect[3] - normal_rect[1])
    assert face_y(lean_rect) > face_y(normal_rect) + 20 and 0 < face_y(lean_rect) < 480
    assert not (backdrop == camera.render(8.0)).all()
    np.testing.assert_array_equal(camera.render(16.0), camera.render(24 + 16.0))  # deterministic, cyclic
    # frame k carries media time k / fps on the clock
    camera.open(_context(t_origin=2.0))
    t, image = camera.read()  # type: ignore[misc]
    assert t == 2.0
    np.testing.assert_array_equal(image, camera.render(0.0))


def test_scene_camera_from_settings_needs_a_readable_portrait(tmp_path: Path, shared_media: Path) -> None:
    camera = make_camera(CameraSettings(kind="scene", path=tmp_path / "missing.png"))
    with pytest.raises(SourceError, match=r"capture\.camera\.path.*not found"):
        camera.open(_context())  # at open, so the runner reports it and audio carries on
    camera = make_camera(CameraSettings(kind="scene", path=shared_media / "images" / "grace_hopper.bmp", paced=False))
    camera.open(_context())
    t, image = camera.read()  # type: ignore[misc]
    assert t == 0.0 and image.shape == (480, 640, 3)


def test_unavailable_cameras_raise_clear_errors() -> None:
    v4l2 = make_camera(CameraSettings(kind="v4l2", device="/dev/video-does-not-exist"))
    with pytest.raises(SourceError, match="does not exist"):
        v4l2.open(_context())
    picam = make_camera(CameraSettings(kind="picamera2"))
    with pytest.raises(SourceError, match="picamera2"):
        picam.open(_context())


# -- audio ---------------------------------------------------------------------------------------------------------
def test_synthetic_speech_is_deterministic_whatever_the_block_size() -> None:
    rate = 16000
    whole = SyntheticSpeech(rate, seed=7).render(0, rate * 6)
    speech = SyntheticSpeech(rate, seed=7)
    pieces, position = [], 0
    for size in [333, 1024, 1, 4000] * 30:
        pieces.append(speech.render(position, size))
        position += size
    np.testing.assert_allclose(np.concatenate(pieces)[: whole.size], whole[:position], atol=1e-6)
    other = SyntheticSpeech(rate, seed=8).render(0, rate * 6)
    assert not np.allclose(other, whole)


def test_synthetic_speech_has_syllables_pauses_and_a_noise_floor() -> None:
    rate = 16000
    signal = SyntheticSpeech(rate, seed=1).render(0, rate * 20)
    frames = signal[: signal.size // 800 * 800].reshape(-1, 800)  # 50 ms
    level_db = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-12)
    assert np.abs(signal).max() < 1.0
    assert (level_db > -30).mean() > 0.3  # voiced syllables
    quiet = level_db[level_db < -50]
    assert quiet.size > 20 and np.median(quiet) == pytest.approx(-60, abs=2)  # pauses sit on the noise floor


def test_synthetic_audio_source_blocks_carry_exact_media_times() -> None:
    source = SyntheticAudioSource(48000, 2, 1024, seed=3, paced=False)
    source.open(_context(t_origin=1.0))
    blocks = [source.read() for _ in range(10)]
    assert [b.t0 for b in blocks] == pytest.approx([1.0 + k * 1024 / 48000 for k in range(10)])  # type: ignore[union-attr]
    samples = np.concatenate([b.samples for b in blocks])  # type: ignore[union-attr]
    assert samples.shape == (10240, 2) and samples.dtype == np.float32
    np.testing.assert_array_equal(samples[:, 0], samples[:, 1])
    np.testing.assert_allclose(samples[:, 0], SyntheticSpeech(48000, 3).render(0, 10240), atol=1e-6)


def test_file_audio_source_delivers_the_file_in_period_blocks(shared_media: Path) -> None:
    path = shared_media / "speech" / "jfk.wav"
    reference, _ = decode_audio(path, rate=48000)
    source = FileAudioSource(path, 48000, 1, 1024, loop=False, paced=False)
    source.open(_context(t_origin=0.5))
    blocks = []
    while (block := source.read()) is not None:
        blocks.append(block)
    source.close()
    assert all(b.samples.shape[0] == 1024 for b in blocks[:-1]) and blocks[-1].samples.shape[0] <= 1024
    np.testing.assert_array_equal(np.concatenate([b.samples[:, 0] for b in blocks]), reference)
    assert blocks[5].t0 == pytest.approx(0.5 + 5 * 1024 / 48000)

    looping = FileAudioSource(path, 48000, 2, 1024, loop=True, paced=False)
    looping.open(_context())
    n_blocks = reference.size // 1024 + 3
    got = np.concatenate([looping.read().samples for _ in range(n_blocks)])  # type: ignore[union-attr]
    wrapped = np.concatenate([reference, reference])[: n_blocks * 1024]
    np.testing.assert_array_equal(got[:, 1], wrapped)


def test_file_audio_source_reports_missing_file(tmp_path: Path) -> None:
    source = FileAudioSource(tmp_path / "nope.wav", 48000, 1, 1024)
    with pytest.raises(SourceError, match="not found"):
        source.open(_context())


def test_pcm_conversion_of_both_alsa_formats() -> None:
    s16 = np.array([0, 16384, -32768, 32767, -16384, 1], "<i2")
    out = pcm_to_float(s16.tobytes(), 3, 2, "S16_LE")
    assert out.shape == (3, 2)
    np.testing.assert_allclose(out.ravel(), s16 / 32768.0)
    s32 = np.array([2**30, -(2**31)], "<i4")
    np.testing.assert_allclose(pcm_to_float(s32.tobytes(), 2, 1, "S32_LE").ravel(), [0.5, -1.0])
    # 24-bit, packed (3 bytes) and in 32-bit words whose top byte is junk
    s24 = np.array([2**22, -(2**23), 1, -1], np.int64)
    packed = b"".join(int(v & 0xFFFFFF).to_bytes(3, "little") for v in s24)
    np.testing.assert_allclose(pcm_to_float(packed, 4, 1, "S24_3LE").ravel(), s24 / 2**23)
    loose = b"".join((int(v & 0xFFFFFF) | 0x5A000000).to_bytes(4, "little") for v in s24)
    np.testing.assert_allclose(pcm_to_float(loose, 2, 2, "S24_LE").ravel(), s24 / 2**23)
    floats = np.array([0.25, -0.5], "<f4")
    np.testing.assert_array_equal(pcm_to_float(floats.tobytes(), 1, 2, "FLOAT_LE"), [[0.25, -0.5]])
    with pytest.raises(SourceError, match="U8"):
        pcm_to_float(b"\x00", 1, 1, "U8")


# -- settings ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("capture", "key"),
    [
        ({"camera": {"kind": "file"}}, "capture.camera.path"),
        ({"camera": {"kind": "scene"}}, "capture.camera.path"),
        ({"audio": {"kind": "file"}}, "capture.audio.path"),
        ({"audio": {"kind": "alsa"}}, "capture.audio.device"),
        ({"audio": {"period_frames": 0}}, "capture.audio.period_frames"),
        ({"camera": {"fps": -30}}, "capture.camera.fps"),
        ({"video_ring_max_mb": 0}, "capture.video_ring_max_mb"),
        ({"camera": {"resolution": "hd"}}, "capture.camera.resolution"),
        ({"camera": {"kind": "webcam"}}, "capture.camera.kind"),
        ({"camera": {"scene_script": [{"at_s": 1, "pose": "normal"}]}}, "capture.camera.scene_script"),
    ],
)
def test_bad_capture_settings_name_the_key(capture: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"capture": capture})
    assert key in str(caught.value)


def test_default_capture_settings_need_no_hardware() -> None:
    config = config_from_dict({})
    assert config.capture.camera.kind == "synthetic" and config.capture.audio.kind == "synthetic"
    assert (config.capture.camera.width, config.capture.camera.height, config.capture.camera.fps) == (640, 480, 30)
    assert (config.capture.audio.rate, config.capture.audio.channels, config.capture.audio.period_frames) == (
        48000,
        1,
        1024,
    )
    assert make_audio_source(config.capture.audio).rate == 48000


class _FakeAlsaError(Exception):
    pass


def _fake_alsaaudio(script: list[object], opened: list[dict]) -> object:
    """A stand-in for the pyalsaaudio module whose PCM.read() plays ``script``: (length, bytes) tuples or
    exceptions; it records every PCM opened."""
    import types

    module = types.SimpleNamespace(
        PCM_CAPTURE=1, PCM_NORMAL=0, PCM_FORMAT_S16_LE=2, PCM_FORMAT_S32_LE=10, ALSAAudioError=_FakeAlsaError
    )

    class PCM:
        def __init__(self, **kwargs: object):
            opened.append(kwargs)

        def info(self) -> dict:
            return {"rate": 48000, "channels": 1, "format_name": "S16_LE"}

        def read(self) -> tuple[int, bytes]:
            step = script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step  # type: ignore[return-value]

        def close(self) -> None:
            pass

    module.PCM = PCM
    return module


def test_alsa_overruns_in_both_library_styles_are_counted_and_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    from liverec_edge.capture.audio_input import AlsaSource

    period = np.arange(4, dtype="<i2") * 1000
    script: list[object] = [
        (4, period.tobytes()),
        (-32, b""),  # pyalsaaudio >= 0.10: -EPIPE as the length
        (4, period.tobytes()),
        _FakeAlsaError("Broken pipe [hw:1]"),  # older builds raise
        (4, period.tobytes()),
        (4, period.tobytes()),
        _FakeAlsaError("No such device [hw:1]"),  # unplugged: not an overrun
    ]
    opened: list[dict] = []
    monkeypatch.setitem(sys.modules, "alsaaudio", _fake_alsaaudio(script, opened))
    source = AlsaSource("hw:1", 48000, 1, 4)
    source.open(_context())
    flags = [source.read().discontinuity for _ in range(4)]  # type: ignore[union-attr]
    assert flags == [False, True, True, False]
    assert source.overruns == 2
    assert len(opened) == 2  # reopened after the raised overrun
    assert opened[0]["device"] == "hw:1" and opened[0]["periodsize"] == 4 and opened[0]["rate"] == 48000
    with pytest.raises(SourceError, match=r"hw:1.*No such device"):
        source.read()


def test_alsa_device_granting_another_rate_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from liverec_edge.capture.audio_input import AlsaSource

    monkeypatch.setitem(sys.modules, "alsaaudio", _fake_alsaaudio([], []))
    source = AlsaSource("hw:1", 44100, 1, 1024)
    with pytest.raises(SourceError, match=r"granted rate 48000 \(asked 44100\).*plughw"):
        source.open(_context())


class _SteppedClock(CaptureClock):
    """A capture clock that reads whatever the test sets (paced sources then never sleep)."""

    def __init__(self) -> None:
        super().__init__(0)
        self.t = 0.0

    def now(self) -> float:
        return self.t


def test_paced_camera_delivers_queued_frames_after_a_short_stall_and_skips_after_a_long_one() -> None:
    clock = _SteppedClock()
    camera = SyntheticCamera(64, 48, 30, paced=True)  # also: the smallest frames still carry the counter
    camera.open(SourceContext(clock, t_origin=0.0))
    t, image = camera.read()  # type: ignore[misc]
    assert t == 0.0 and decode_frame_counter(image) == 0
    clock.t = 0.1  # a stall of three frames: the camera's queued frames come late, with their own times
    got = [camera.read() for _ in range(3)]
    assert [g[0] for g in got] == pytest.approx([1 / 30, 2 / 30, 3 / 30])  # type: ignore[index]
    assert [decode_frame_counter(g[1]) for g in got] == [1, 2, 3] and camera.dropped == 0  # type: ignore[index]
    clock.t = 1.0  # a long stall: frames are lost, the next one is the current one
    t, image = camera.read()  # type: ignore[misc]
    assert t == pytest.approx(1.0) and decode_frame_counter(image) == 30
    assert camera.dropped == 26

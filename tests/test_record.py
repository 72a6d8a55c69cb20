"""The target recording: GOP-aligned segments carrying their own audio, assembled without re-timing."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import pytest

from liverec_edge.config import config_from_dict
from liverec_edge.control.state import ControlState
from liverec_edge.media import decode_audio, iter_video_frames
from liverec_edge.pipeline import TOPIC_AUDIO, TOPIC_FRAMES, EventBus, StageContext
from liverec_edge.record.segments import RecordError, SegmentInfo, SegmentRecorder, assemble, recording_segments
from liverec_edge.record.settings import RecordSettings
from liverec_edge.record.stage import RecordStage
from liverec_edge.types import AudioBlock, Frame

RATE = 48_000


def _record(tmp_path: Path, frames: list[tuple[float, np.ndarray]], audio: np.ndarray, origin: float,
            audio_block: int = 1000, **settings) -> list:
    height, width = frames[0][1].shape[:2]
    wall = {"origin_wall_time": settings.pop("wall_time")} if "wall_time" in settings else {}
    recorder = SegmentRecorder(RecordSettings(**settings), tmp_path, origin=origin, width=width, height=height,
                               fps=30, audio_rate=RATE, **wall)
    # Interleave the two streams the way capture delivers them: by time, audio in odd-sized blocks.
    audio_pos = 0
    for index, (t, image) in enumerate(frames):
        while audio_pos < audio.shape[0] and origin + audio_pos / RATE <= t:
            block = audio[audio_pos:audio_pos + audio_block]
            recorder.add_audio(AudioBlock(origin + audio_pos / RATE, block[:, None], RATE))
            audio_pos += block.shape[0]
        recorder.add_frame(Frame(t, index, image))
    while audio_pos < audio.shape[0]:
        block = audio[audio_pos:audio_pos + audio_block]
        recorder.add_audio(AudioBlock(origin + audio_pos / RATE, block[:, None], RATE))
        audio_pos += block.shape[0]
    return recorder.close()


def test_segments_start_on_key_frames_and_carry_their_audio(tmp_path: Path, shared_media: Path) -> None:
    clip = [(t, img) for t, img in iter_video_frames(shared_media / "video/asl/eat.mkv")]
    origin = 100.0
    frames = [(origin + t, img) for t, img in clip]
    speech, _ = decode_audio(shared_media / "speech/jfk.wav", RATE)
    speech = speech[: int(clip[-1][0] * RATE) + RATE // 30]

    segments = _record(tmp_path, frames, speech, origin, segment_seconds=0.6)

    assert [s.index for s in segments] == list(range(len(segments)))
    assert len(segments) == int(clip[-1][0] // 0.6) + 1
    assert sum(s.video_frames for s in segments) == len(clip)
    assert sum(s.audio_samples for s in segments) == speech.shape[0]
    for segment in segments:
        with av.open(str(segment.path)) as container:
            video_packets = [p for p in container.demux(container.streams.video[0]) if p.size]
            assert video_packets[0].is_keyframe, f"{segment.path.name} does not start on a key frame"
            assert sum(p.is_keyframe for p in video_packets) == 1, "a segment is exactly one GOP"
            start = float(video_packets[0].pts * video_packets[0].time_base)
            assert start == pytest.approx(segment.start - origin, abs=1 / 30)


def test_assembled_recording_keeps_audio_samples_and_sync(tmp_path: Path, shared_media: Path) -> None:
    origin = 5.0
    n_frames = 75
    frames = []
    for index in range(n_frames):
        image = np.zeros((240, 320, 3), np.uint8)
        if index == 40:  # a white flash at 40/30 s ...
            image[:] = 255
        frames.append((origin + index / 30, image))
    speech, _ = decode_audio(shared_media / "speech/librispeech_198-209-0000.ogg", RATE)
    audio = 0.3 * speech[: n_frames * RATE // 30]
    click_at = int(40 / 30 * RATE)  # ... and a click at the same capture time
    audio[click_at:click_at + 48] = 0.99

    segments = _record(tmp_path / "segs", frames, audio, origin, audio_block=777, segment_seconds=1.0)
    out = assemble([s.path for s in segments], tmp_path / "target.mkv")

    decoded, rate = decode_audio(out)
    assert rate == RATE
    assert decoded.shape[0] == audio.shape[0]
    assert np.max(np.abs(decoded - audio)) < 2 / 32768  # PCM s16: only quantisation
    video = list(iter_video_frames(out))
    assert len(video) == n_frames
    flash_t = next(t for t, image in video if image.mean() > 200)
    click_t = int(np.argmax(np.abs(decoded) > 0.98)) / RATE
    assert abs(flash_t - click_t) < 1 / 30


def test_retention_keeps_only_the_newest_segments(tmp_path: Path) -> None:
    frames = [(i / 30, np.full((64, 64, 3), i % 255, np.uint8)) for i in range(150)]
    audio = np.zeros(150 * RATE // 30, np.float32)
    segments = _record(tmp_path, frames, audio, 0.0, segment_seconds=1.0, keep_segments=2)
    recording = segments[0].recording
    assert sorted(p.name for p in tmp_path.glob("seg-*.mkv")) == [f"seg-{recording}-000003.mkv",
                                                                   f"seg-{recording}-000004.mkv"]


def test_a_restart_starts_a_new_recording_beside_the_earlier_one(tmp_path: Path) -> None:
    """The daemon (or the record stage) restarts: a new recorder on the same directory, a new origin. The first
    recording's files stay as they were; each recording assembles on its own to continuous audio and video."""
    directory = tmp_path / "rec"
    rng = np.random.default_rng(11)
    first_audio = (0.2 * rng.standard_normal(int(2.5 * RATE))).astype(np.float32)
    second_audio = (0.2 * rng.standard_normal(int(1.5 * RATE))).astype(np.float32)
    first_frames = [(10.0 + i / 30, np.full((48, 64, 3), 40, np.uint8)) for i in range(75)]
    second_frames = [(3.0 + i / 30, np.full((48, 64, 3), 200, np.uint8)) for i in range(45)]

    first = _record(directory, first_frames, first_audio, 10.0, segment_seconds=1.0)
    written = {s.path: s.path.read_bytes() for s in first}
    second = _record(directory, second_frames, second_audio, 3.0, segment_seconds=1.0)  # within the same second

    assert len(first) == 3 and len(second) == 2
    names = sorted(p.name for p in directory.glob("seg-*.mkv"))
    assert names == [s.path.name for s in first + second], "a restart wrote over the earlier recording"
    assert all(path.read_bytes() == data for path, data in written.items())
    for n, (segments, audio, n_frames, shade) in enumerate(((first, first_audio, 75, 40),
                                                             (second, second_audio, 45, 200))):
        out = assemble([s.path for s in segments], tmp_path / f"target{n}.mkv")
        decoded, _ = decode_audio(out)
        assert decoded.shape[0] == audio.shape[0] and np.max(np.abs(decoded - audio)) < 2 / 32768
        video = list(iter_video_frames(out))
        assert len(video) == n_frames
        assert all(abs(float(image.mean()) - shade) < 8 for _, image in video)
        assert np.allclose(np.diff([t for t, _ in video]), 1 / 30, atol=1e-3)  # no hole, no overlap at the joins


def test_recordings_are_named_by_their_start_in_utc_and_never_take_a_name_twice(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    start = datetime(2026, 11, 26, 16, 15, 3, 700_000, tzinfo=UTC).timestamp()

    def record(wall: float) -> SegmentRecorder:
        return SegmentRecorder(RecordSettings(segment_seconds=1.0), tmp_path, origin=0.0, fps=30, audio_rate=RATE,
                               origin_wall_time=wall)

    def half_a_second(recorder: SegmentRecorder) -> SegmentInfo:
        recorder.add_audio(AudioBlock(0.0, np.full((RATE // 2, 1), 0.1, np.float32), RATE))
        [segment] = recorder.close()
        return segment

    first = record(start)
    assert first.recording_id == "20261126T161503Z"
    segment = half_a_second(first)
    assert segment.path.name == "seg-20261126T161503Z-000000.mkv" and segment.recording == first.recording_id
    again = record(start + 0.2)  # restarted within the same second: the next free second
    assert again.recording_id == "20261126T161504Z"
    half_a_second(again)
    with caplog.at_level(logging.INFO, logger="liverec_edge.record.segments"):
        behind = record(start - 7200)  # a box without a real-time clock, not synchronised yet
    assert behind.recording_id == "20261126T161505Z", "a clock behind must not sort a new recording before old ones"
    assert any(r.levelname == "WARNING" and "wall clock behind" in r.getMessage() for r in caplog.records)
    half_a_second(behind)
    later = record(start + 86_400)
    assert later.recording_id == "20261127T161503Z"
    # Another writer takes the name after the id was chosen: its file is left alone, the recording takes a new id.
    taken = tmp_path / f"seg-{later.recording_id}-000000.mkv"
    taken.write_bytes(b"not ours")
    segment = half_a_second(later)
    assert taken.read_bytes() == b"not ours"
    assert segment.path.name == "seg-20261127T161504Z-000000.mkv"
    assert decode_audio(segment.path)[0].shape[0] == RATE // 2
    assert sorted(p.name for p in tmp_path.glob("*.mkv")) == [
        "seg-20261126T161503Z-000000.mkv", "seg-20261126T161504Z-000000.mkv", "seg-20261126T161505Z-000000.mkv",
        "seg-20261127T161503Z-000000.mkv", "seg-20261127T161504Z-000000.mkv"]


def test_retention_counts_the_earlier_recordings_and_deletes_the_oldest_first(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def frames(n: int) -> list[tuple[float, np.ndarray]]:
        return [(i / 30, np.full((48, 64, 3), i % 255, np.uint8)) for i in range(n)]

    start = datetime(2026, 11, 26, 16, 15, 3, tzinfo=UTC).timestamp()
    first = _record(tmp_path, frames(90), np.zeros(3 * RATE, np.float32), 0.0, segment_seconds=1.0,
                    wall_time=start)
    legacy = tmp_path / "seg-000005.mkv"  # left by a version that named segments by their index alone
    legacy.write_bytes(first[0].path.read_bytes())
    with caplog.at_level(logging.INFO, logger="liverec_edge.record.segments"):
        second = _record(tmp_path, frames(90), np.zeros(3 * RATE, np.float32), 0.0, segment_seconds=1.0,
                         keep_segments=4, wall_time=start + 600)

    deleted = [r.fields["path"] for r in caplog.records if r.getMessage() == "segment deleted by retention"]
    assert deleted == [legacy.name, first[0].path.name, first[1].path.name]
    assert sorted(tmp_path.glob("*.mkv")) == [first[2].path] + [s.path for s in second]

    # The tightest retention never deletes a segment still being written: the last one is whole.
    third = _record(tmp_path, frames(90), np.zeros(3 * RATE, np.float32), 0.0, segment_seconds=1.0,
                    keep_segments=1, wall_time=start + 1200)
    assert sorted(tmp_path.glob("*.mkv")) == [third[-1].path]
    last = third[-1]
    assert decode_audio(last.path)[0].shape[0] == last.audio_samples > 0.9 * RATE
    assert len(_video_pts(last.path)) == last.video_frames == 30


def test_recording_segments_groups_each_recording_in_order_and_assemble_takes_one(tmp_path: Path) -> None:
    start = datetime(2026, 11, 26, 16, 15, 3, tzinfo=UTC).timestamp()
    tones = []
    for n in range(2):
        tone = 0.3 * np.sin(2 * np.pi * (440 + 220 * n) * np.arange(int(2.5 * RATE)) / RATE).astype(np.float32)
        recorder = SegmentRecorder(RecordSettings(segment_seconds=1.0), tmp_path, origin=0.0, fps=30,
                                   audio_rate=RATE, origin_wall_time=start + 3600 * n)
        _feed_audio(recorder, tone, 0.0, 0, tone.shape[0], 1111)
        tones.append((recorder.recording_id, recorder.close(), tone))
    (tmp_path / "seg-000000.mkv").write_bytes(b"")  # the older naming
    (tmp_path / "seg-notes.mkv").write_bytes(b"")  # not a segment

    groups = recording_segments(tmp_path)
    assert list(groups) == ["", "20261126T161503Z", "20261126T171503Z"]
    assert groups[""] == [tmp_path / "seg-000000.mkv"]
    for recording, segments, tone in tones:
        assert groups[recording] == [s.path for s in segments]
        decoded, _ = decode_audio(assemble(groups[recording], tmp_path / f"{recording}.mkv"))
        assert decoded.shape[0] == tone.shape[0] and np.max(np.abs(decoded - tone)) < 2 / 32768
    with pytest.raises(RecordError, match="2 recordings"):
        assemble(groups[tones[0][0]] + groups[tones[1][0]], tmp_path / "mixed.mkv")
    # Past a million segments (46 days of 4 s) the index grows a digit; the order stays numeric.
    for index in (999_999, 1_000_000):
        (tmp_path / f"seg-20261126T181503Z-{index:06d}.mkv").write_bytes(b"")
    assert [p.name for p in recording_segments(tmp_path)["20261126T181503Z"]] == [
        "seg-20261126T181503Z-999999.mkv", "seg-20261126T181503Z-1000000.mkv"]


def test_bad_input_gives_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="even"):
        SegmentRecorder(RecordSettings(), tmp_path, origin=0, width=641, height=480, fps=30, audio_rate=RATE)
    recorder = SegmentRecorder(RecordSettings(), tmp_path, origin=0, width=64, height=64, fps=30, audio_rate=RATE)
    recorder.add_frame(Frame(0.1, 0, np.zeros((32, 32, 3), np.uint8)))  # wrong size: skipped, counted
    assert recorder.frames_skipped == 1
    with pytest.raises(RecordError, match="44100 Hz"):
        recorder.add_audio(AudioBlock(0.0, np.zeros((10, 1), np.float32), 44_100))
    recorder.add_audio(AudioBlock(0.0, np.full((100, 1), np.nan, np.float32), RATE))  # NaN is written as silence
    recorder.close()


def _feed_audio(recorder: SegmentRecorder, audio: np.ndarray, origin: float, start: int, stop: int,
                block: int) -> int:
    pos = start
    while pos < min(stop, audio.shape[0]):
        chunk = audio[pos:min(pos + block, stop, audio.shape[0])]
        recorder.add_audio(AudioBlock(origin + pos / RATE, chunk[:, None], RATE))
        pos += chunk.shape[0]
    return pos


def _stream_types(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [s.type for s in container.streams]


def _video_pts(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        if not container.streams.video:
            return []
        return sorted(float(p.pts * p.time_base) for p in container.demux(container.streams.video[0]) if p.size)


def test_audio_only_recorder_keeps_every_sample_and_closes_segments_on_time(tmp_path: Path,
                                                                           shared_media: Path) -> None:
    speech, _ = decode_audio(shared_media / "speech/jfk.wav", RATE)
    audio = 0.8 * speech[: int(4.3 * RATE)]
    origin = 37.25
    recorder = SegmentRecorder(RecordSettings(segment_seconds=1.0, video_wait_s=0.5), tmp_path / "segs",
                               origin=origin, fps=30, audio_rate=RATE)
    pos = 0
    while pos < audio.shape[0]:  # odd blocks, as capture delivers them
        pos = _feed_audio(recorder, audio, origin, pos, pos + 1999, 1999)
        fed_s = pos / RATE
        # A segment is closed as soon as the audio has passed its end (the last packet may still be pending).
        closed = {s.index for s in recorder.finished}
        assert set(range(int((fed_s - 1024 / RATE) // 1.0))) <= closed
        assert max(closed, default=-1) <= int(fed_s // 1.0) - 1

    segments = recorder.close()
    assert [s.index for s in segments] == [0, 1, 2, 3, 4]
    assert [s.path.name for s in segments] == [f"seg-{recorder.recording_id}-00000{i}.mkv" for i in range(5)]
    assert all(s.video_frames == 0 and _stream_types(s.path) == ["audio"] for s in segments)
    assert sum(s.audio_samples for s in segments) == audio.shape[0]
    decoded, rate = decode_audio(assemble([s.path for s in segments], tmp_path / "target.mkv"))
    assert rate == RATE and decoded.shape[0] == audio.shape[0]
    assert np.max(np.abs(decoded - audio)) < 2 / 32768  # from the very first sample: nothing lost, nothing shifted


def test_camera_stopping_mid_recording_keeps_segments_closing_on_the_audio(tmp_path: Path, shared_media: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    speech, _ = decode_audio(shared_media / "speech/librispeech_198-209-0000.ogg", RATE)
    audio = 0.5 * speech[: 6 * RATE]
    origin = 3.0
    recorder = SegmentRecorder(RecordSettings(segment_seconds=1.0, video_wait_s=0.5), tmp_path / "segs",
                               origin=origin, width=64, height=48, fps=30, audio_rate=RATE)
    pos = 0
    with caplog.at_level("INFO", logger="liverec_edge.record.segments"):
        for index in range(45):  # the camera delivers 1.5 s, then dies
            t = index / 30
            pos = _feed_audio(recorder, audio, origin, pos, int(t * RATE) + 1, 777)
            recorder.add_frame(Frame(origin + t, index, np.full((48, 64, 3), 4 * index, np.uint8)))
        while pos < audio.shape[0]:
            pos = _feed_audio(recorder, audio, origin, pos, pos + 777, 777)
            fed_s = pos / RATE
            if fed_s > 44 / 30 + 0.5 + 1024 / RATE:  # video counts as stopped: the audio alone closes segments
                closed = {s.index for s in recorder.finished}
                assert set(range(int((fed_s - 1024 / RATE) // 1.0))) <= closed, f"segments pile up at {fed_s:.2f} s"
        segments = recorder.close()

    stopped = [r for r in caplog.records if "video stopped" in r.getMessage()]
    assert len(stopped) == 1 and stopped[0].levelname == "WARNING"
    assert [s.index for s in segments] == list(range(6))
    assert sum(s.video_frames for s in segments) == 45
    assert sum(s.audio_samples for s in segments) == audio.shape[0]
    # Segments opened after the camera died carry only audio; the ones before keep their key-frame-first video.
    assert [_stream_types(s.path) for s in segments[2:]] == [["audio"]] * 4
    for segment in segments[:2]:
        assert _video_pts(segment.path)[0] == pytest.approx(segment.start - origin, abs=1e-6)
    decoded, _ = decode_audio(assemble([s.path for s in segments], tmp_path / "target.mkv"))
    assert decoded.shape[0] == audio.shape[0] and np.max(np.abs(decoded - audio)) < 2 / 32768


def test_camera_arriving_late_is_recorded_from_the_next_segment_boundary(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    audio = (0.2 * rng.standard_normal(4 * RATE)).astype(np.float32)
    recorder = SegmentRecorder(RecordSettings(segment_seconds=1.0, video_wait_s=0.5), tmp_path / "segs",
                               origin=0.0, fps=30, audio_rate=RATE)
    pos = _feed_audio(recorder, audio, 0.0, 0, int(1.3 * RATE), 1001)
    for index in range(39, 120):  # the camera comes up at 1.3 s
        t = index / 30
        pos = _feed_audio(recorder, audio, 0.0, pos, int(t * RATE) + 1, 1001)
        recorder.add_frame(Frame(t, index, np.full((48, 64, 3), index, np.uint8)))
    _feed_audio(recorder, audio, 0.0, pos, audio.shape[0], 1001)
    segments = recorder.close()

    assert [_stream_types(s.path) for s in segments] == [["audio"], ["audio"], ["video", "audio"], ["video", "audio"]]
    assert recorder.frames_before_boundary == 60 - 39  # 1.3 s … 1.97 s fell in the audio-only segment 1
    assert [s.video_frames for s in segments] == [0, 0, 30, 30]
    assert _video_pts(segments[2].path)[0] == pytest.approx(2.0, abs=1e-6)
    with av.open(str(segments[2].path)) as container:
        first = next(p for p in container.demux(container.streams.video[0]) if p.size)
        assert first.is_keyframe
    out = assemble([s.path for s in segments], tmp_path / "target.mkv")
    assert _video_pts(out)[0] == pytest.approx(2.0, abs=1e-3) and len(_video_pts(out)) == 60
    decoded, _ = decode_audio(out)
    assert decoded.shape[0] == audio.shape[0] and np.max(np.abs(decoded - audio)) < 2 / 32768


def test_camera_back_after_an_outage_and_audio_stopping_are_recorded_cleanly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(3)
    audio = (0.2 * rng.standard_normal(int(4.5 * RATE))).astype(np.float32)
    recorder = SegmentRecorder(RecordSettings(segment_seconds=1.0, video_wait_s=0.5), tmp_path / "segs",
                               origin=0.0, width=64, height=48, fps=30, audio_rate=RATE)
    # Video 0–1 s, an outage, video again from 2.5 s to the end (6 s); the audio stops at 4.5 s.
    shown = [i for i in range(180) if i < 30 or i >= 75]
    pos = 0
    with caplog.at_level(logging.INFO, logger="liverec_edge.record.segments"):
        for index in shown:
            t = index / 30
            pos = _feed_audio(recorder, audio, 0.0, pos, int(t * RATE) + 1, 960)
            recorder.add_frame(Frame(t, index, np.full((48, 64, 3), index, np.uint8)))
            if t > 4.5 + 0.5 + 1 / 30:  # the audio has stopped: the video alone closes segments
                assert {0, 1, 2, 3} <= {s.index for s in recorder.finished}
                assert int(t // 1.0) - 1 in {s.index for s in recorder.finished}
        segments = recorder.close()

    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("video stopped") for m in messages) == 1
    assert sum(m.startswith("video flows") for m in messages) == 1
    assert sum(m.startswith("audio stopped") for m in messages) == 1
    # Segment 1 opened while the camera still counted as flowing (empty video track), segment 2 without video;
    # the camera came back at 2.5 s, inside segment 2: video again from segment 3, on its key frame at 3.0 s.
    assert [_stream_types(s.path) for s in segments] == (
        [["video", "audio"]] * 2 + [["audio"]] + [["video", "audio"]] * 3)
    assert recorder.frames_before_boundary == 90 - 75
    assert _video_pts(segments[3].path)[0] == pytest.approx(3.0, abs=1e-6)
    assert [s.video_frames for s in segments] == [30, 0, 0, 30, 30, 30]
    assert sum(s.audio_samples for s in segments) == audio.shape[0]


def test_an_audio_only_recorder_skips_frames_it_cannot_encode(tmp_path: Path) -> None:
    recorder = SegmentRecorder(RecordSettings(segment_seconds=1.0), tmp_path, origin=0.0, fps=30, audio_rate=RATE)
    recorder.add_audio(AudioBlock(0.0, np.zeros((RATE, 1), np.float32), RATE))
    recorder.add_frame(Frame(1.2, 0, np.zeros((481, 641, 3), np.uint8)))  # odd size
    recorder.add_frame(Frame(1.3, 1, np.zeros((480, 640), np.uint8)))  # grey
    assert recorder.frames_skipped == 2 and recorder.size is None
    recorder.add_audio(AudioBlock(1.0, np.zeros((RATE, 1), np.float32), RATE))
    segments = recorder.close()
    assert [_stream_types(s.path) for s in segments] == [["audio"], ["audio"]]
    with pytest.raises(RecordError, match="closed"):
        recorder.add_audio(AudioBlock(2.0, np.zeros((10, 1), np.float32), RATE))


def _stage_context(directory: Path, **record) -> tuple[StageContext, EventBus]:
    config = config_from_dict({"record": {"enabled": True, "directory": str(directory), **record}})
    bus = EventBus()
    return StageContext(config, bus=bus, control=ControlState(armed=False)), bus


def _written(directory: Path) -> list[Path]:
    return sorted(directory.glob("seg-*.mkv"))


def test_stage_without_a_camera_records_the_audio_from_its_first_sample(tmp_path: Path, shared_media: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    speech, _ = decode_audio(shared_media / "speech/jfk.wav", RATE)
    audio = 0.8 * speech[: int(2.5 * RATE)]
    origin = 1000.0
    directory = tmp_path / "rec"

    async def scenario() -> None:
        ctx, bus = _stage_context(directory, segment_seconds=1.0, video_wait_s=0.5)
        stage = RecordStage()
        await stage.start(ctx)
        task = asyncio.create_task(stage.run(ctx))  # the stage as the daemon runs it: no frame ever comes
        pos = 0
        while pos < audio.shape[0]:
            block = audio[pos:pos + 11_999]
            bus.publish(TOPIC_AUDIO, AudioBlock(origin + pos / RATE, block[:, None], RATE))
            pos += block.shape[0]
            await asyncio.sleep(0.11)
        await asyncio.sleep(0.25)
        assert stage.segments_written >= 1, "segments are closed while the recording runs, not only at the end"
        assert stage.health()["audio_only"] is True
        await stage.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.INFO, logger="liverec_edge.record"):
        asyncio.run(scenario())
    segments = _written(directory)
    recording = segments[0].name.split("-")[1]
    assert [p.name for p in segments] == [f"seg-{recording}-00000{i}.mkv" for i in range(3)]
    assert all(_stream_types(p) == ["audio"] for p in segments)
    decoded, _ = decode_audio(assemble(segments, tmp_path / "target.mkv"))
    # The recording starts at the first audio although it waited 0.5 s for a camera: nothing lost at the start.
    assert decoded.shape[0] == audio.shape[0] and np.max(np.abs(decoded - audio)) < 2 / 32768
    assert sum("no video: recording audio-only" in r.getMessage() for r in caplog.records) == 1


def test_stage_stopped_while_waiting_for_the_camera_keeps_that_audio(tmp_path: Path) -> None:
    audio = np.sin(2 * np.pi * 440 * np.arange(int(0.3 * RATE)) / RATE).astype(np.float32) * 0.5
    directory = tmp_path / "rec"

    async def scenario() -> None:
        ctx, bus = _stage_context(directory)  # the default wait (longer than the run)
        stage = RecordStage()
        await stage.start(ctx)
        for pos in range(0, audio.shape[0], 4800):
            bus.publish(TOPIC_AUDIO, AudioBlock(7.0 + pos / RATE, audio[pos:pos + 4800, None], RATE))
            await stage.step(ctx)
        assert stage.recorder is None  # still waiting for a frame
        await stage.stop()
        await stage.stop()  # idempotent

    asyncio.run(scenario())
    segments = _written(directory)
    assert len(segments) == 1
    decoded, _ = decode_audio(segments[0])
    assert decoded.shape[0] == audio.shape[0] and np.max(np.abs(decoded - audio)) < 2 / 32768


def test_stage_starts_at_the_first_audio_and_closes_on_the_audio_after_the_camera_dies(
        tmp_path: Path, shared_media: Path) -> None:
    speech, _ = decode_audio(shared_media / "speech/librispeech_3436-172162-0000.ogg", RATE)
    audio = 0.5 * speech[: int(4.2 * RATE)]
    origin = 50.0
    directory = tmp_path / "rec"
    tick = 4800  # capture publishes audio about every 0.1 s
    camera = range(12, 48)  # frames 0.4 s … 1.57 s after the first audio (within the wait), then the camera dies

    async def scenario() -> None:
        ctx, bus = _stage_context(directory, segment_seconds=1.0, video_wait_s=0.5)
        stage = RecordStage()
        await stage.start(ctx)
        next_frame = camera.start
        for pos in range(0, audio.shape[0], tick):
            bus.publish(TOPIC_AUDIO, AudioBlock(origin + pos / RATE, audio[pos:pos + tick, None], RATE))
            fed_s = min(pos + tick, audio.shape[0]) / RATE
            while next_frame in camera and next_frame / 30 < fed_s:
                image = np.full((48, 64, 3), 5 * next_frame, np.uint8)
                bus.publish(TOPIC_FRAMES, Frame(origin + next_frame / 30, next_frame, image))
                next_frame += 1
            await stage.step(ctx)
            if fed_s > (camera.stop - 1) / 30 + 0.5 + 1024 / RATE:  # the camera counts as dead: audio closes
                assert stage.segments_written >= int((fed_s - 1024 / RATE) // 1.0)
        await stage.stop()

    asyncio.run(scenario())
    segments = _written(directory)
    assert len(segments) == 5
    # Segment 2 opened 0.43 s after the last frame, within the wait: it has a video track, but no frames in it.
    assert [_stream_types(p) for p in segments] == [["video", "audio"]] * 3 + [["audio"]] * 2
    assert _video_pts(segments[2]) == []
    # Segment 0 starts at the first audio; its video starts at the first frame, on a key frame.
    assert _video_pts(segments[0])[0] == pytest.approx(0.4, abs=1e-6)
    out = assemble(segments, tmp_path / "target.mkv")
    assert len(_video_pts(out)) == len(camera)
    decoded, _ = decode_audio(out)
    assert decoded.shape[0] == audio.shape[0] and np.max(np.abs(decoded - audio)) < 2 / 32768


def test_stage_started_again_writes_a_new_recording_dated_by_its_first_audio(tmp_path: Path) -> None:
    """Stop and start from the tablet (or a config reload): the second recording goes beside the first."""
    directory = tmp_path / "rec"
    tones = [0.4 * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE).astype(np.float32)
             for hz, seconds in ((440, 1.5), (660, 1.2))]
    wall_at_first_audio = time.time()

    async def scenario() -> None:
        ctx, bus = _stage_context(directory, segment_seconds=1.0, video_wait_s=0.5)
        stage = RecordStage()
        for tone in tones:
            await stage.start(ctx)
            t0 = ctx.clock()  # capture times on the context's clock, as capture stamps them
            for pos in range(0, tone.shape[0], 4800):
                bus.publish(TOPIC_AUDIO, AudioBlock(t0 + pos / RATE, tone[pos:pos + 4800, None], RATE))
                await stage.step(ctx)
            await stage.stop()
            bus.unsubscribe_owner(stage.name)  # as the supervisor does for a stopped stage

    asyncio.run(scenario())
    groups = recording_segments(directory)
    assert len(groups) == 2 and [len(paths) for paths in groups.values()] == [2, 2]
    first = datetime.strptime(next(iter(groups)), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    assert wall_at_first_audio - 1 <= first <= wall_at_first_audio + 1
    for n, (paths, tone) in enumerate(zip(groups.values(), tones, strict=True)):
        decoded, _ = decode_audio(assemble(paths, tmp_path / f"target{n}.mkv"))
        assert decoded.shape[0] == tone.shape[0] and np.max(np.abs(decoded - tone)) < 2 / 32768

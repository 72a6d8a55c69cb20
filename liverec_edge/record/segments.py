"""The target recording: video in GOP-aligned segment files, each carrying the audio of its own span.

Each segment is a Matroska file that starts on a key frame (a fresh encoder per segment, ``gop_size`` = one segment,
so a segment is exactly one GOP) and holds the processed audio packets (a fixed number of samples each) whose start
falls in the segment's span. Timestamps are capture times on the daemon's one clock, counted from the recording's
origin, so segments concatenate without re-timing and a lost segment never shifts the others. Matroska carries PCM
(MP4 cannot), and a segment that was being written when the box lost power is still readable up to its last cluster.

Audio is never held hostage by the camera. A recorder opened without a frame size records audio-only segments (same
timing, packets and names, only the audio stream); when frames arrive later, video is carried from the next segment
boundary (a segment either has video from its start, on a key frame, or none). When one stream stops for
``video_wait_s`` of capture time behind the other, segments are closed on the other stream alone, and new segments are
opened without the stopped video.

File names: ``{prefix}-{recording}-{index:06d}.mkv``, e.g. ``seg-20261126T161503Z-000000.mkv``. The recording id is
the UTC wall-clock time of the recording's origin (to the second), so a restarted daemon or record stage starts a new
recording next to the old ones instead of writing over them, and the names sort in time order: by recording, then by
segment. A recorder never writes over a file: its id is later than every recording already in the directory (two
starts in the same second, or a wall clock behind the newest recording — a box without a real-time clock before it
synchronises — give the newest id plus one second), and each segment file is created exclusively. Files named
``{prefix}-{index:06d}.mkv`` (before recording ids) sort before all others. Retention counts every recording in the
directory and deletes the oldest files first; :func:`recording_segments` lists the files of each recording, and
:func:`assemble` joins the segments of one.

Encoding is synchronous (PyAV/FFmpeg releases the GIL while it encodes): the daemon runs a recorder in its own thread
behind a bounded queue.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import numpy as np

from liverec_edge.logs import kv
from liverec_edge.record.settings import RecordSettings
from liverec_edge.types import AudioBlock, Frame

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90_000)  # the MPEG clock: exact for 25, 30, 50 and 60 fps and for 29.97
RECORDING_ID_FORMAT = "%Y%m%dT%H%M%SZ"  # ISO 8601 basic, UTC: fixed width, so name order is time order
#: How far the wall clock may be behind the newest recording in the directory before naming warns about it.
CLOCK_BEHIND_WARN_S = 60.0
_RECORDING_IN_NAME = re.compile(r"-(\d{8}T\d{6}Z)-\d+\.mkv$")


class RecordError(Exception):
    """The recording cannot be written (directory, codec, or frame size problems)."""


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A finished segment file and the span of capture time it covers."""

    index: int
    path: Path
    start: float
    end: float
    video_frames: int
    audio_samples: int
    recording: str = ""
    """The recording id in the file name (the UTC time of the recording's origin)."""


def _name_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(prefix)}-(?:(\d{{8}}T\d{{6}}Z)-)?(\d+)\.mkv")


def _segment_files(directory: Path, prefix: str) -> list[tuple[str, int, Path]]:
    """``(recording id, index, path)`` of the segment files in ``directory``, oldest first; files named before
    recording ids have the id ``""`` (they are older than every file with one)."""
    pattern = _name_pattern(prefix)
    found = []
    for path in directory.glob(f"{prefix}-*.mkv"):
        match = pattern.fullmatch(path.name)
        if match is not None:
            found.append((match.group(1) or "", int(match.group(2)), path))
    return sorted(found, key=lambda item: (item[0], item[1]))


def recording_segments(directory: Path, prefix: str = "seg") -> dict[str, list[Path]]:
    """The segment files in ``directory`` by recording id, oldest recording first, each recording's segments in
    order: what :func:`assemble` takes, one recording at a time. Files named before recording ids are under ``""``."""
    recordings: dict[str, list[Path]] = {}
    for recording, _, path in _segment_files(Path(directory), prefix):
        recordings.setdefault(recording, []).append(path)
    return recordings


def _format_recording_id(wall_time: float) -> str:
    return datetime.fromtimestamp(math.floor(wall_time), UTC).strftime(RECORDING_ID_FORMAT)


def _parse_recording_id(recording: str) -> float:
    return datetime.strptime(recording, RECORDING_ID_FORMAT).replace(tzinfo=UTC).timestamp()


def encodable_size(image: np.ndarray) -> tuple[int, int] | None:
    """``(width, height)`` of an H×W×3 uint8 image the encoders take (even, non-zero sides), else None."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        return None
    height, width = image.shape[:2]
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        return None
    return width, height


class _OpenSegment:
    """One Matroska file being written: its own H.264 encoder (so it starts on a key frame), when it carries video,
    and its audio stream."""

    def __init__(self, index: int, path: Path, settings: RecordSettings, size: tuple[int, int] | None,
                 fps: float, audio_rate: int, audio_channels: int):
        """Raises :class:`FileExistsError` when ``path`` exists: a segment never writes over a file."""
        import av

        self.index = index
        self.path = path
        self.recording = ""
        self.video_frames = 0
        self.audio_samples = 0
        self.last_video_pts = -1
        try:
            path.open("xb").close()  # claim the name; FFmpeg's own open would truncate an existing file
        except FileExistsError:
            raise
        except OSError as exc:
            raise RecordError(f"cannot create segment {path}: {exc}") from None
        try:
            self.container = av.open(str(path), mode="w", format="matroska")
        except (av.error.FFmpegError, OSError) as exc:
            path.unlink(missing_ok=True)
            raise RecordError(f"cannot create segment {path}: {exc}") from None
        self.video: av.VideoStream | None = None
        if size is not None:
            self._add_video(settings, *size, fps)
        layout = "mono" if audio_channels == 1 else "stereo"
        self.audio = self.container.add_stream(settings.audio_codec, rate=audio_rate, layout=layout)
        self.audio.time_base = Fraction(1, audio_rate)
        self.audio_rate = audio_rate
        self.audio_layout = layout

    def _add_video(self, settings: RecordSettings, width: int, height: int, fps: float) -> None:
        rate = Fraction(fps).limit_denominator(1001)
        self.video = self.container.add_stream(settings.video_codec, rate=rate)
        self.video.width = width
        self.video.height = height
        self.video.pix_fmt = "yuvj420p" if settings.video_codec == "mjpeg" else "yuv420p"
        self.video.time_base = VIDEO_TIME_BASE
        self.video.codec_context.time_base = VIDEO_TIME_BASE
        # A fresh encoder per segment gives the key frame; a GOP longer than the segment makes it the only one even
        # when a real camera delivers a frame or two more than fps × seconds.
        self.video.codec_context.gop_size = max(2, 2 * math.ceil(fps * settings.segment_seconds))
        if settings.video_codec == "libx264":
            # scenecut=0: a segment is exactly one GOP, so segments can be cut, dropped or joined on any boundary.
            self.video.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": str(settings.video_crf),
                                  "x264-params": "scenecut=0"}

    def add_frame(self, image: np.ndarray, pts: int) -> None:
        import av

        assert self.video is not None, "a frame for a segment without video"
        if pts <= self.last_video_pts:  # the muxer needs strictly increasing video timestamps
            return
        self.last_video_pts = pts
        video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        video_frame.pts = pts
        video_frame.time_base = VIDEO_TIME_BASE
        for packet in self.video.encode(video_frame):
            self.container.mux(packet)
        self.video_frames += 1

    def add_audio(self, samples: np.ndarray, pts: int) -> None:
        import av

        pcm = np.clip(np.nan_to_num(samples), -1.0, 1.0)
        pcm = np.round(pcm * 32767.0).astype(np.int16)
        audio_frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout=self.audio_layout)
        audio_frame.sample_rate = self.audio_rate
        audio_frame.pts = pts
        audio_frame.time_base = Fraction(1, self.audio_rate)
        for packet in self.audio.encode(audio_frame):
            self.container.mux(packet)
        self.audio_samples += samples.shape[0]

    def close(self) -> None:
        for stream in (self.video, self.audio):
            if stream is None:
                continue
            for packet in stream.encode(None):
                self.container.mux(packet)
        self.container.close()


class SegmentRecorder:
    """Writes frames and processed audio blocks, on one clock, into GOP-aligned segment files.

    ``origin`` is the capture time the recording starts at; frames and samples before it are skipped. Segment k
    covers ``[origin + k·S, origin + (k+1)·S)`` and is written to ``{prefix}-{recording_id}-{k:06d}.mkv``.
    ``origin_wall_time`` (UNIX seconds; default: now) is the wall-clock time of the origin: it names the recording,
    later than every recording already in the directory (see the module docstring).

    At most two segments are open at once (audio and video arrive a little out of step); a segment is closed when
    every stream still flowing has moved past its end (a stream ``video_wait_s`` behind the other counts as stopped),
    or when a third would open. Retention deletes the oldest segment files in the directory, of this recording and of
    earlier ones, beyond ``keep_segments`` or ``max_bytes``; never a segment still open.

    Without ``width`` and ``height`` the recorder starts audio-only; the first encodable frame sets the size, and
    video is carried from the next segment that opens (frames for a segment already open without video are
    counted in ``frames_before_boundary``). The size never changes afterwards: other frames are skipped.
    """

    def __init__(self, settings: RecordSettings, directory: Path, *, origin: float, width: int | None = None,
                 height: int | None = None, fps: float, audio_rate: int, audio_channels: int = 1,
                 prefix: str = "seg", origin_wall_time: float | None = None):
        if (width is None) != (height is None):
            raise RecordError("give both width and height, or neither for an audio-only start")
        if width is not None and height is not None and (width <= 0 or height <= 0 or width % 2 or height % 2):
            raise RecordError(f"frame size {width}x{height} cannot be encoded: width and height must be even")
        if audio_channels not in (1, 2):
            raise RecordError(f"{audio_channels} audio channels: the recording carries mono or stereo")
        self.settings = settings
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordError(f"cannot create recording directory {self.directory}: {exc}") from None
        self.origin = origin
        self.size: tuple[int, int] | None = (width, height) if width is not None and height is not None else None
        self.fps = fps
        self.audio_rate = audio_rate
        self.audio_channels = audio_channels
        self.prefix = prefix
        self.origin_wall_time = time.time() if origin_wall_time is None else origin_wall_time
        self.recording_id = self._new_recording_id()
        self._open: dict[int, _OpenSegment] = {}
        # Capture time (from the origin) each stream has reached. A stream that is expected starts at 0: it holds
        # nothing back (no segment ends at 0) but counts as flowing until it falls video_wait_s behind the other.
        self._video_watermark = 0.0 if self.size is not None else -math.inf
        self._audio_watermark = 0.0
        self._video_flowing = self.size is not None
        self._audio_flowing = True
        self._pending_audio = np.zeros((0, audio_channels), np.float32)
        self._next_audio_pts: int | None = None
        self.finished: list[SegmentInfo] = []
        self._closed_up_to = -1
        self.frames_skipped = 0
        self.frames_before_boundary = 0
        self.late_items = 0
        self.audio_gaps = 0
        self.closed = False

    # -- input ---------------------------------------------------------------------------------------------------
    def add_frame(self, frame: Frame) -> None:
        self._check_open()
        rel = frame.t - self.origin
        if rel < 0:
            return
        size = encodable_size(frame.image)
        if self.size is None and size is not None:
            self.size = size  # the first frame of an audio-only start: video joins at the next segment
        if size is None or size != self.size:
            self.frames_skipped += 1
            if self.frames_skipped & (self.frames_skipped - 1) == 0:  # 1, 2, 4, 8...: a bad camera cannot flood
                expected = f"{self.size[1]}x{self.size[0]}x3 uint8" if self.size else "even HxWx3 uint8"
                log.warning("frame not recorded: wrong size or type", extra=kv(
                    shape=frame.image.shape, dtype=frame.image.dtype, expected=expected, skipped=self.frames_skipped))
            return
        self._video_watermark = max(self._video_watermark, rel)
        segment = self._segment_for(self._index_of(rel))
        if segment is not None:
            if segment.video is None:
                self.frames_before_boundary += 1  # the segment opened without video: it joins at the next one
            else:
                segment.add_frame(np.ascontiguousarray(frame.image), round(rel / VIDEO_TIME_BASE))
        self._close_finished()

    def add_audio(self, block: AudioBlock) -> None:
        self._check_open()
        if block.rate != self.audio_rate:
            raise RecordError(f"audio block at {block.rate} Hz, the recording is {self.audio_rate} Hz")
        samples = block.samples.reshape(block.frames, -1).astype(np.float32, copy=False)
        if samples.shape[1] != self.audio_channels:
            samples = np.repeat(samples.mean(axis=1, keepdims=True), self.audio_channels, axis=1)
        start_pts = round((block.t0 - self.origin) * self.audio_rate)
        if self._next_audio_pts is None:
            if start_pts + samples.shape[0] <= 0:
                return
            if start_pts < 0:  # the block straddles the origin: keep only the part after it
                samples = samples[-start_pts:]
                start_pts = 0
            self._next_audio_pts = start_pts
        else:
            expected = self._next_audio_pts + self._pending_audio.shape[0]
            # Capture re-anchors its clock after an overrun; follow it only when it moved by more than a packet,
            # so that jitter in block timestamps never tears the sample-accurate audio timeline.
            if abs(start_pts - expected) > self.settings.audio_packet_frames:
                self.audio_gaps += 1
                self._flush_audio_packets(final=True)
                self._next_audio_pts = max(start_pts, expected)
        self._pending_audio = np.concatenate([self._pending_audio, samples])
        self._flush_audio_packets(final=False)
        self._close_finished()

    # -- segments ------------------------------------------------------------------------------------------------
    def _new_recording_id(self) -> str:
        """The origin's wall-clock time, or one second after the newest recording in the directory if that is not
        earlier: names never collide, and name order stays time order when the clock is behind."""
        wanted = math.floor(self.origin_wall_time)
        ids = {recording for recording, _, _ in _segment_files(self.directory, self.prefix) if recording}
        newest = max((_parse_recording_id(r) for r in ids), default=None)
        if newest is None or wanted > newest:
            return _format_recording_id(wanted)
        recording = _format_recording_id(newest + 1)
        wanted_id = _format_recording_id(wanted)
        if newest - wanted > CLOCK_BEHIND_WARN_S:
            log.warning("wall clock behind the newest recording in the directory (not synchronised?): recording "
                        "named after it", extra=kv(clock=wanted_id, newest=_format_recording_id(newest),
                                                   recording=recording))
        else:
            log.info("recording named after the newest in the directory",
                     extra=kv(clock=wanted_id, recording=recording))
        return recording

    def _segment_path(self, index: int) -> Path:
        return self.directory / f"{self.prefix}-{self.recording_id}-{index:06d}.mkv"

    def _index_of(self, rel_seconds: float) -> int:
        # Capture times are sums of float periods: snap to the microsecond so a frame due exactly on a boundary
        # (0.6 s at 30 fps) opens the next segment instead of becoming a second key frame in this one.
        return int(round(rel_seconds, 6) // self.settings.segment_seconds)

    def _segment_for(self, index: int) -> _OpenSegment | None:
        if index in self._open:
            return self._open[index]
        if index <= self._closed_up_to:
            self.late_items += 1  # data for a segment already closed: it cannot be written any more
            return None
        while len(self._open) >= 2:
            self._finish(min(self._open))
        size = self.size if self._video_present() else None
        path = self._segment_path(index)
        try:
            segment = _OpenSegment(index, path, self.settings, size, self.fps, self.audio_rate, self.audio_channels)
        except FileExistsError:
            # The name was taken after the id was chosen (another recorder in this directory): never write over it.
            # The rest of this recording goes on under a new id, later than the file found.
            self.recording_id = self._new_recording_id()
            log.warning("segment name taken: the recording goes on under a new id",
                        extra=kv(path=path.name, recording=self.recording_id))
            path = self._segment_path(index)
            try:
                segment = _OpenSegment(index, path, self.settings, size, self.fps, self.audio_rate,
                                       self.audio_channels)
            except FileExistsError:
                raise RecordError(f"cannot create segment {path}: the name is taken again") from None
        segment.recording = self.recording_id
        self._open[index] = segment
        return segment

    def _flush_audio_packets(self, final: bool) -> None:
        size = self.settings.audio_packet_frames
        assert self._next_audio_pts is not None
        while self._pending_audio.shape[0] >= size or (final and self._pending_audio.shape[0] > 0):
            packet = self._pending_audio[:size]
            self._pending_audio = self._pending_audio[size:]
            pts = self._next_audio_pts
            self._next_audio_pts += packet.shape[0]
            segment = self._segment_for(self._index_of(pts / self.audio_rate))
            if segment is not None:
                segment.add_audio(packet, pts)
            self._audio_watermark = max(self._audio_watermark, self._next_audio_pts / self.audio_rate)

    def _newest(self) -> float:
        return max(self._video_watermark, self._audio_watermark)

    def _video_present(self) -> bool:
        """Video has a size and is flowing: it has not fallen ``video_wait_s`` behind the audio."""
        return self.size is not None and self._video_watermark >= self._newest() - self.settings.video_wait_s

    def _audio_present(self) -> bool:
        return self._audio_watermark >= self._newest() - self.settings.video_wait_s

    def _close_finished(self) -> None:
        video, audio = self._video_present(), self._audio_present()
        if video != self._video_flowing:
            self._video_flowing = video
            if video:
                assert self.size is not None
                log.info("video flows: recorded from the next segment that opens",
                         extra=kv(at_s=round(self._video_watermark, 3), size=f"{self.size[0]}x{self.size[1]}"))
            else:
                log.warning("video stopped: segments close on the audio alone", extra=kv(
                    last_frame_s=round(self._video_watermark, 3), audio_s=round(self._audio_watermark, 3)))
        if audio != self._audio_flowing:
            self._audio_flowing = audio
            if audio:
                log.info("audio flows again", extra=kv(at_s=round(self._audio_watermark, 3)))
            else:
                log.warning("audio stopped: segments close on the video alone", extra=kv(
                    last_audio_s=round(self._audio_watermark, 3), video_s=round(self._video_watermark, 3)))
        # Close what every flowing stream has passed; at least one flows (the newest).
        edge = min(w for w, flowing in ((self._video_watermark, video), (self._audio_watermark, audio)) if flowing)
        for index in sorted(self._open):
            if (index + 1) * self.settings.segment_seconds <= edge:
                self._finish(index)

    def _finish(self, index: int) -> None:
        pending_at = self._next_audio_pts
        if (self._pending_audio.shape[0] and pending_at is not None
                and self._index_of(pending_at / self.audio_rate) <= index):
            # The audio stopped (or lags) inside this segment: its last samples go in as a short packet, not lost.
            self._flush_audio_packets(final=True)
        segment = self._open.pop(index)
        segment.close()
        self._closed_up_to = max(self._closed_up_to, index)
        span = self.settings.segment_seconds
        info = SegmentInfo(index, segment.path, self.origin + index * span, self.origin + (index + 1) * span,
                           segment.video_frames, segment.audio_samples, segment.recording)
        self.finished.append(info)
        log.info("segment written", extra=kv(path=segment.path.name, frames=segment.video_frames,
                                             samples=segment.audio_samples))
        self._apply_retention()

    def _apply_retention(self) -> None:
        # Every recording in the directory counts, oldest first (name order is time order); open files never go.
        open_paths = {s.path for s in self._open.values()}
        files = [path for _, _, path in _segment_files(self.directory, self.prefix) if path not in open_paths]
        sizes = {f: f.stat().st_size for f in files}
        total = sum(sizes.values())
        while files and (len(files) > self.settings.keep_segments or total > self.settings.max_bytes):
            oldest = files.pop(0)
            total -= sizes[oldest]
            oldest.unlink(missing_ok=True)
            log.info("segment deleted by retention", extra=kv(path=oldest.name))

    def _check_open(self) -> None:
        if self.closed:
            raise RecordError("the recorder is closed")

    def close(self) -> list[SegmentInfo]:
        """Flush the last audio, close every open segment, and return all segments written. Closing twice is
        harmless; adding after closing raises :class:`RecordError`."""
        if self.closed:
            return list(self.finished)
        self.closed = True
        if self._next_audio_pts is not None:
            self._flush_audio_packets(final=True)
        for index in sorted(self._open):
            self._finish(index)
        return list(self.finished)


def assemble(segment_paths: Iterable[Path], out_path: Path) -> Path:
    """Join segment files into one target recording by copying their packets (no re-encoding).

    The segments' timestamps are already on one timeline, so packets are copied as they are; a missing segment
    leaves a gap in time rather than shifting what follows. Segments without video (the camera was missing) are
    joined too: the recording has a video track when any segment has one, and audio-only stretches have no frames.
    The segments must be of one recording (each recording's timeline starts at 0): :func:`recording_segments`
    gives them by recording, in order.
    """
    import av

    paths = [Path(p) for p in segment_paths]
    if not paths:
        raise RecordError("no segments to assemble")
    recordings = sorted({m.group(1) for p in paths if (m := _RECORDING_IN_NAME.search(p.name)) is not None})
    if len(recordings) > 1:
        raise RecordError(f"segments of {len(recordings)} recordings ({', '.join(recordings)}): assemble one "
                          "recording at a time")
    out = av.open(str(out_path), mode="w", format="matroska")
    try:
        outputs: dict[str, av.stream.Stream] = {}
        for kind in ("video", "audio"):  # the first segment that has a stream of the kind defines the track
            for path in paths:
                with av.open(str(path)) as segment:
                    found = getattr(segment.streams, kind)
                    if found:
                        outputs[kind] = out.add_stream_from_template(found[0])
                        break
        for path in paths:
            with av.open(str(path)) as segment:
                streams = {s.index: outputs[s.type] for s in segment.streams if s.type in outputs}
                for packet in segment.demux():
                    if packet.dts is None or packet.stream_index not in streams:
                        continue
                    packet.stream = streams[packet.stream_index]
                    out.mux(packet)
    finally:
        out.close()
    return out_path

"""ALSA capture through a real ALSA PCM, with no sound card: a ``file`` PCM whose ``infile`` is a FIFO that a writer
feeds with real speech in real time (the ``null`` slave has no clock, so the writer is the clock).

It runs in a subprocess because ``ALSA_CONFIG_PATH`` has to be set before alsa-lib reads its configuration. The
child runs the real ``CaptureRunner`` with ``audio.kind: alsa`` and reports what reached the audio ring.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liverec_edge.media import decode_audio

pytestmark = pytest.mark.alsa

REPO = Path(__file__).resolve().parents[1]

CHILD = r'''
import json, os, sys, threading, time
import numpy as np
from liverec_edge.capture import CaptureClock, CaptureRunner, CaptureSettings

fifo, pcm_in, out, fmt, channels, period = sys.argv[1:7]
channels, period = int(channels), int(period)
rate = 48000
written = np.load(pcm_in)  # (n, bytes per frame) uint8: the interleaved PCM frames the "card" delivers
clock = CaptureClock.starting_now()
first_write = []
stop_writer = threading.Event()

def writer():
    # Opening a FIFO for writing blocks until ALSA opens it for reading.
    with open(fifo, "wb", buffering=0) as pipe:
        start = clock.now()
        k = 0
        while not stop_writer.is_set():
            chunk = written[k * period : (k + 1) * period]
            if chunk.shape[0] < period:  # after the speech, the card keeps delivering silence
                chunk = np.concatenate([chunk, np.zeros((period - chunk.shape[0], written.shape[1]), np.uint8)])
            # like a card: a period is delivered when its last sample has been captured
            due = start + (k + 1) * period / rate
            while (now := clock.now()) < due:
                time.sleep(min(due - now, 0.005))
            if k == 0:
                first_write.append(due - period / rate)
            pipe.write(chunk.tobytes())
            k += 1

threading.Thread(target=writer, daemon=True).start()
settings = CaptureSettings.model_validate({
    "camera": {"kind": "synthetic", "width": 64, "height": 48, "fps": 5},
    "audio": {"kind": "alsa", "device": "filecap", "rate": rate, "channels": channels,
              "period_frames": period, "format": fmt},
    "audio_ring_seconds": 20,
})
runner = CaptureRunner(settings, clock)
runner.start()
progress = []
duration = written.shape[0] / rate + 0.3
while clock.now() < duration + 0.5:
    time.sleep(0.05)
    span = runner.audio_ring.span()
    if span is not None:
        progress.append((clock.now(), span[1]))
status = runner.status()
joined = runner.stop(timeout=1.0)
stop_writer.set()
span = runner.audio_ring.span()
block = runner.audio_ring.slice(span[0], span[1])
np.save(out + ".npy", block.samples)
json.dump({
    "t0": block.t0, "first_write": first_write[0], "progress": progress, "joined": joined,
    "state": status.audio.state, "errors": status.audio.errors, "last_error": status.audio.last_error,
    "overruns": status.audio.dropped, "gaps": status.audio_ring.gaps, "reanchors": status.audio_reanchors,
    "anchors": status.audio_anchors,
}, open(out + ".json", "w"))
'''


@pytest.fixture(scope="module")
def alsa_ready() -> None:
    pytest.importorskip("alsaaudio", reason="pyalsaaudio is not installed")
    if not Path("/usr/share/alsa/alsa.conf").is_file():
        pytest.skip("alsa-lib configuration (/usr/share/alsa/alsa.conf) is missing")


def _encode(speech: np.ndarray, sample_format: str, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(PCM frames as bytes, shape (n, bytes per frame); the float samples ALSA capture must turn them into).
    A second channel carries the speech inverted, so channels cannot be swapped or mixed unnoticed."""
    bits = {"S16_LE": 16, "S24_3LE": 24, "S32_LE": 32}[sample_format]
    full_scale = 2.0 ** (bits - 1)
    ints = np.round(np.clip(speech, -1, 0.999) * full_scale).astype(np.int64)
    per_channel = np.stack([ints, -ints], axis=1)[:, :channels]
    width = bits // 8
    octets = ((per_channel[..., None] >> (8 * np.arange(width))) & 0xFF).astype(np.uint8)  # little-endian bytes
    return octets.reshape(len(speech), channels * width), (per_channel / full_scale).astype(np.float32)


@pytest.mark.parametrize(("sample_format", "channels"), [("S16_LE", 1), ("S24_3LE", 2), ("S32_LE", 2)])
def test_alsa_capture_delivers_the_samples_written_with_real_rate_timestamps(
    alsa_ready: None, shared_media: Path, tmp_path: Path, sample_format: str, channels: int
) -> None:
    rate, period, seconds = 48000, 1024, 2.5
    speech, _ = decode_audio(shared_media / "speech" / "librispeech_198-209-0000.ogg", rate=rate)
    written, expected = _encode(speech[: int(seconds * rate)], sample_format, channels)
    pcm_in = tmp_path / "written.npy"
    np.save(pcm_in, written)
    fifo = tmp_path / "in.raw"
    os.mkfifo(fifo)
    (tmp_path / "extra.conf").write_text(
        f'pcm.filecap {{ type file; slave.pcm "null"; file "/dev/null"; infile "{fifo}"; format "raw" }}\n'
    )
    (tmp_path / "child.py").write_text(CHILD)
    env = dict(os.environ)
    env["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{tmp_path / 'extra.conf'}"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    out = tmp_path / "captured"
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "child.py"), str(fifo), str(pcm_in), str(out), sample_format,
         str(channels), str(period)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "captured.json").read_text())
    captured = np.load(tmp_path / "captured.npy")

    assert report["state"] == "running" and report["errors"] == 0, report["last_error"]
    assert report["joined"]
    assert report["overruns"] == 0 and report["gaps"] == 0 and report["anchors"] == 1
    # every sample written came out of ALSA, in order, exactly (converted to float)
    n = written.shape[0]
    assert captured.shape[0] >= n and captured.shape[1] == channels
    np.testing.assert_array_equal(captured[:n], expected)
    # the first sample is stamped with the time it was delivered, within a period and some scheduling
    assert report["t0"] == pytest.approx(report["first_write"], abs=0.02)
    # timestamps advance at the real rate: the ring's end follows the clock with slope 1
    progress = np.array(report["progress"])
    now, end = progress[:, 0], progress[:, 1]
    slope = np.polyfit(now, end, 1)[0]
    assert slope == pytest.approx(1.0, abs=0.02)
    # Once the timestamper has had a window to take out the first block's delivery delay, the newest sample is never
    # stamped in the future (beyond the 2 ms anchor tolerance) and lags the clock by at most about a period.
    settled = now > now[0] + 1.5
    lag = (now - end)[settled]
    assert lag.min() >= -0.003 and np.percentile(lag, 90) < period / rate + 0.02

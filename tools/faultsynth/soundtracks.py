"""Produced music from Debian's game-soundtrack packages: many more real tracks for train and validation.

The shared media hold four music recordings, one per split for val and test. Two real tracks and the rendered
General-MIDI pieces were too little to learn what music bleeding into a microphone sounds like: the models learnt
the renders' steady partials, and a real string orchestra (the test recording) under a voice went unheard. Two Debian
packages (installed by ``bash tools/setup.sh train``, like the soundfonts) carry about seventy professionally
produced tracks under free licences — orchestral, choral, folk, ambient, electronic and rock:

* ``wesnoth-1.16-music`` (GPL-2+): the Battle for Wesnoth soundtrack, several composers, Ogg Vorbis.
* ``warzone2100-music`` (GPL-2+): the Warzone 2100 original, legacy and "Aftermath" soundtracks, Opus.

Split by album/track, never by window: validation gets the whole Aftermath album (with the two older tracks it
remakes) and every fifth Wesnoth track; training gets the rest. The test split never gets any of them: it is
graded on the shared recordings alone.

Each track is decoded once to 16 kHz mono, its leading/trailing silence trimmed, cut to at most ``EXCERPT_S``
seconds from its middle (the build runs in several processes: seventy whole tracks would be 1 GB each),
peak-normalised and cached as ``.npy`` under the faultsynth cache (``$LIVEREC_FAULTSYNTH_CACHE``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

RATE = 16_000
EXCERPT_S = 45.0
MIN_TRACK_S = 20.0  # jingles (victory/defeat stings) and the "silence" track are no background music
SOUNDTRACK_PREFIX = "soundtrack/"
PACKAGES: dict[str, tuple[Path, str]] = {
    "wesnoth": (Path("/usr/share/games/wesnoth/1.16/data/core/music"), "*.ogg"),
    "warzone2100": (Path("/usr/share/games/warzone2100/music"), "**/*.opus"),
}
DEBIAN_PACKAGES = ("wesnoth-1.16-music", "warzone2100-music")
CACHE_VERSION = 1


class SoundtracksMissing(RuntimeError):
    """The Debian soundtrack packages are not installed."""


def track_paths(package: str) -> list[Path]:
    root, pattern = PACKAGES[package]
    return sorted(root.glob(pattern))


def split_of(package: str, path: Path, index: int) -> str:
    """Which split a track belongs to: the Aftermath album (with the older tracks it has "_enhanced" remakes of)
    and every fifth Wesnoth track → val, the rest → train. A remake shares its composition with the original, so
    the two must not straddle train and val."""
    if package == "warzone2100":
        root, _ = PACKAGES[package]
        remade = {p.stem.removesuffix("_enhanced") for p in root.glob("**/aftermath*/*_enhanced.*")}
        aftermath = "aftermath" in path.parent.name
        return "val" if aftermath or path.stem in remade else "train"
    return "val" if index % 5 == 2 else "train"


def track_name(package: str, path: Path) -> str:
    root, _ = PACKAGES[package]
    return f"{SOUNDTRACK_PREFIX}{package}/{path.relative_to(root).with_suffix('').as_posix()}"


def soundtracks(split: str, cache_dir: Path | None = None) -> list[tuple[str, np.ndarray]]:
    """The soundtrack excerpts of ``split`` (train, val; nothing for test) as ``(name, samples)``, peak 1.0."""
    if split not in ("train", "val"):
        return []
    missing = [pkg for pkg in PACKAGES if not track_paths(pkg)]
    if missing:
        raise SoundtracksMissing(
            f"no tracks of {missing} under {[str(PACKAGES[p][0]) for p in missing]}: install the Debian packages "
            f"{' '.join(DEBIAN_PACKAGES)} (bash tools/setup.sh train), or build with --no-rendered")
    cache = cache_dir or Path(os.environ.get("LIVEREC_FAULTSYNTH_CACHE",
                                             Path.home() / ".cache" / "liverec-edge" / "faultsynth"))
    out: list[tuple[str, np.ndarray]] = []
    for package in PACKAGES:
        for index, path in enumerate(track_paths(package)):
            if split_of(package, path, index) != split:
                continue
            samples = _excerpt(path, cache)
            if samples is not None:
                out.append((track_name(package, path), samples))
    return out


def _excerpt(path: Path, cache: Path) -> np.ndarray | None:
    key = hashlib.sha256(f"{CACHE_VERSION}|{path}|{path.stat().st_size}|{EXCERPT_S}".encode()).hexdigest()[:16]
    cached = cache / "soundtracks" / f"{path.stem}-{key}.npy"
    if cached.exists():
        data = np.load(cached)
        return data if data.size else None
    from liverec_edge.media import decode_audio

    audio, _ = decode_audio(path, RATE)
    audio = _trim(audio)
    if audio.size < MIN_TRACK_S * RATE:
        audio = np.zeros(0, np.float32)
    else:
        keep = int(EXCERPT_S * RATE)
        start = max(0, (audio.size - keep) // 2)
        audio = audio[start : start + keep]
        audio = (audio / max(1e-6, float(np.max(np.abs(audio))))).astype(np.float32)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, audio)
    tmp.replace(cached)  # atomic: two build processes may decode the same track
    return audio if audio.size else None


def _trim(audio: np.ndarray, below_peak_db: float = 50.0) -> np.ndarray:
    """Drop leading/trailing 50 ms blocks quieter than ``below_peak_db`` under the track's peak."""
    block = RATE // 20
    n = audio.size // block
    if n == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n * block].reshape(n, block).astype(np.float64) ** 2, axis=1)) + 1e-12
    loud = np.flatnonzero(20 * np.log10(rms / max(float(np.max(np.abs(audio))), 1e-9)) > -below_peak_db)
    if loud.size == 0:
        return audio[:0]
    return audio[loud[0] * block : (loud[-1] + 1) * block]

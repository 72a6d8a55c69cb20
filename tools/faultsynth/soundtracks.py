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
from functools import lru_cache
from pathlib import Path

import numpy as np

from .rendered import cache_dir, cached_array

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
        aftermath = "aftermath" in path.parent.name
        return "val" if aftermath or path.stem in _remade(PACKAGES[package][0]) else "train"
    return "val" if index % 5 == 2 else "train"


@lru_cache(maxsize=4)
def _remade(root: Path) -> frozenset[str]:
    """Stems of the older tracks the Aftermath album has "_enhanced" remakes of."""
    return frozenset(p.stem.removesuffix("_enhanced") for p in root.glob("**/aftermath*/*_enhanced.*"))


def track_name(package: str, path: Path) -> str:
    root, _ = PACKAGES[package]
    return f"{SOUNDTRACK_PREFIX}{package}/{path.relative_to(root).with_suffix('').as_posix()}"


def soundtracks(split: str, cache: Path | None = None) -> list[tuple[str, np.ndarray]]:
    """The soundtrack excerpts of ``split`` (train, val; nothing for test) as ``(name, samples)``, peak 1.0."""
    if split not in ("train", "val"):
        return []
    missing = [pkg for pkg in PACKAGES if not track_paths(pkg)]
    if missing:
        raise SoundtracksMissing(
            f"no tracks of {missing} under {[str(PACKAGES[p][0]) for p in missing]}: install the Debian packages "
            f"{' '.join(DEBIAN_PACKAGES)} (bash tools/setup.sh train), or build with --no-soundtracks")
    folder = (cache or cache_dir()) / "soundtracks"
    out: list[tuple[str, np.ndarray]] = []
    for package in PACKAGES:
        for index, path in enumerate(track_paths(package)):
            if split_of(package, path, index) != split:
                continue
            key = hashlib.sha256(f"{CACHE_VERSION}|{path}|{path.stat().st_size}|{EXCERPT_S}".encode()).hexdigest()
            samples = cached_array(folder / f"{path.stem}-{key[:16]}.npy", lambda path=path: _excerpt(path))
            if samples.size:  # too short tracks are cached as empty, so they are not decoded again
                out.append((track_name(package, path), samples))
    return out


def _excerpt(path: Path) -> np.ndarray:
    """The middle EXCERPT_S of the trimmed track, peak 1.0; empty for a track shorter than MIN_TRACK_S."""
    from liverec_edge.media import decode_audio

    audio = _trim(decode_audio(path, RATE)[0])
    if audio.size < MIN_TRACK_S * RATE:
        return np.zeros(0, np.float32)
    keep = int(EXCERPT_S * RATE)
    start = max(0, (audio.size - keep) // 2)
    audio = audio[start : start + keep]
    return (audio / max(1e-6, float(np.max(np.abs(audio))))).astype(np.float32)


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

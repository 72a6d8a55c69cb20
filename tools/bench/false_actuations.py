"""False actuations per hour: the daemon's audio-only decision logic over fault-free material, looped.

Runs what the daemon runs when no behaviour tag is open: capture blocks (20 ms) → :class:`StreamingFaultAnalyser`
(level gate, model on the newest ``window_s`` every ``hop_s``, location, measurement, per-type confirmation over
consecutive windows) → strategy table. An *actuation* is a decision that produces console actions; as in the fault
stage, the same type heard again within ``AUDIO_ONLY_REFRESH_S`` is the fault going on and counts once.

Material is the fault-free speech and music of ``../shared/media``, each file looped to the simulated duration with
a fresh level (-6…+6 dB) and start offset per pass, so the analysis never sees the exact same windows twice. Music
is judged as what a presenter mic hears when music plays in the room: a ``background_music`` decision on it is
listed but not counted as false (it is what the strategy is for); every other type is.

Two of the speech recordings are not fault-free: LibriSpeech 198-209 carries a real 60 Hz line 25 dB under the voice
and JFK real 120–240 Hz lines ~30 dB under. Hum calls on them are right, not false; by default (``--dehum``) the speech
files that carry lines go through the dataset tool's 1 Hz mains notches first
(``tools/faultsynth/sources.remove_mains_lines_where_present``: it removes 2 % of the energy of 198-209, almost all
of it the lines, and leaves the recordings without lines alone, in whose pauses the notches' ringing would measure as
a comb), as the dataset tool does; ``--no-dehum`` shows the calls on the raw files.
Music is left alone, as in the dataset: it carries no lines, and notching the partials of
its bass notes was seen to leave something the analysis called 60 Hz hum (Sugar Plum, 2 seeds: 12.5 false calls an
hour, most of them hum at 60.2–60.3 Hz, against 3.5 an hour, all feedback, without the notches).

Each file runs ``--seeds`` times with independent loop offsets and levels: one draw of offsets decides whether a
rare confusable passage (a repeated celesta note) lands in a window boundary the way that fools the analysis, so a
figure from one draw is not robust.

``--voices`` loops the ten held-out talkers of ``tools/faultsynth/voices.py`` instead (word recordings of native
speakers in their own rooms and microphones, in no split): other people than the shared recordings, so a figure that
does not rest on the test split's two voices.

    .venv/bin/python tools/bench/false_actuations.py --minutes 60 [--seeds 3] [--files speech/jfk.wav ...]
    .venv/bin/python tools/bench/false_actuations.py --voices --minutes 30
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from liverec_edge.audio.analysis import FaultAnalyser, StreamingFaultAnalyser  # noqa: E402
from liverec_edge.audio.settings import AudioSettings  # noqa: E402
from liverec_edge.audio.stage import AUDIO_ONLY_REFRESH_S  # noqa: E402
from liverec_edge.audio.strategy import StrategyTable  # noqa: E402
from liverec_edge.media import decode_audio  # noqa: E402
from liverec_edge.types import AudioBlock  # noqa: E402

MEDIA = REPO.parent / "shared" / "media"
RATE = 48_000
BLOCK = 960  # 20 ms capture blocks
CHANNELS = {"ch": "ch01", "music": "ch02"}


def material(path: Path, dehum: bool = True) -> np.ndarray:
    """A shared media file at the capture rate; speech with its own mains lines notched out when ``dehum``."""
    audio, _ = decode_audio(path, rate=RATE)
    audio = audio.astype(np.float32)
    if dehum and path.parent.name == "speech":
        from tools.faultsynth.sources import remove_mains_lines_where_present

        audio = remove_mains_lines_where_present(audio, RATE)
    return audio


def held_out_voices() -> list[tuple[str, np.ndarray]]:
    """The ten held-out talkers of ``tools/faultsynth/voices.py`` (other people, rooms and microphones than any
    split holds; words that carry mains lines left out, nothing notched) at the capture rate."""
    from scipy.signal import resample_poly

    from tools.faultsynth.voices import word_voices

    return [(name, resample_poly(samples, RATE // 16_000, 1).astype(np.float32)) for name, samples in word_voices()]


def looped(audio: np.ndarray, seconds: float, rng: np.random.Generator) -> np.ndarray:
    peak = float(np.max(np.abs(audio))) or 1.0
    passes = []
    total = 0
    while total < seconds * RATE:
        offset = int(rng.integers(0, audio.size))
        gain = 10 ** (rng.uniform(-6.0, 6.0) / 20.0)
        # Keep peaks under -1 dBFS: clipping introduced by the bench's own gain would be a real fault.
        gain = min(gain, 10 ** (-1.0 / 20.0) / peak)
        one = np.concatenate([audio[offset:], audio[:offset]]) * gain
        passes.append(one)
        total += one.size
    return np.concatenate(passes)[: int(seconds * RATE)]


def run(name: str, source: np.ndarray, seconds: float, analyser: FaultAnalyser, table: StrategyTable,
        seed: int) -> dict:
    """``source`` (at ``RATE``) looped to ``seconds`` through the audio-only decision; ``name`` starting with
    ``music/`` makes background-music calls right, not false."""
    rng = np.random.default_rng(seed)
    audio = looped(source, seconds, rng)
    stream = StreamingFaultAnalyser(analyser, RATE)
    actuations: Counter[str] = Counter()
    detections: Counter[str] = Counter()
    examples: list[dict] = []
    last_seen: dict[str, float] = {}
    started = time.perf_counter()
    for a in range(0, audio.size - BLOCK + 1, BLOCK):
        stream.feed(AudioBlock(a / RATE, audio[a: a + BLOCK, None], RATE))
        events = stream.poll()  # analyses the newest window once per hop, returns the confirmed events
        for event in events:
            detections[event.type] += 1
            # The fault stage's rule: the same type heard again within AUDIO_ONLY_REFRESH_S is the same fault
            # going on, its strategy already held; only a new one changes the console.
            previous = last_seen.get(event.type, -1e9)
            last_seen[event.type] = stream.now
            if stream.now - previous < AUDIO_ONLY_REFRESH_S:
                continue
            if table.actions_for(event, CHANNELS, "audio", measurements={}):
                actuations[event.type] += 1
                if len(examples) < 8:
                    examples.append({"type": event.type, "t": round(event.start, 2), "score": event.score,
                                     "freq": event.freq})
    elapsed = time.perf_counter() - started
    hours = seconds / 3600.0
    false = {k: v for k, v in actuations.items() if not (k == "background_music" and name.startswith("music/"))}
    return {
        "file": name,
        "seed": seed,
        "hours": round(hours, 3),
        "actuations": dict(actuations),
        "false_actuations": sum(false.values()),
        "false_per_hour": round(sum(false.values()) / hours, 2),
        "confirmed_detections": dict(detections),
        "examples": examples,
        "real_time_factor": round(seconds / elapsed, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated duration per file")
    parser.add_argument("--files", nargs="*", default=None, help="media files relative to ../shared/media")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--seeds", type=int, default=1,
                        help="runs per file, each with its own loop offsets and levels "
                             "(seed i + 1000 k for file i, run k)")
    parser.add_argument("--dehum", action=argparse.BooleanOptionalAction, default=True,
                        help="notch the real mains lines out of the speech recordings that carry them "
                             "(see above; default on)")
    parser.add_argument("--voices", action="store_true",
                        help="loop the ten held-out talkers of tools/faultsynth/voices.py instead of the shared "
                             "media (needs the Debian ktuberling-data package: bash tools/setup.sh train)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.voices:
        if args.files:
            parser.error("--voices and --files exclude each other")
        from tools.faultsynth.voices import VoicesMissing

        try:
            sources = held_out_voices()
        except VoicesMissing as exc:
            parser.error(str(exc))
    else:
        files = [MEDIA / f for f in args.files] if args.files else (
            sorted((MEDIA / "speech").glob("*.ogg")) + sorted((MEDIA / "speech").glob("*.wav"))
            + sorted((MEDIA / "music").glob("*.ogg"))
        )
        missing = [str(f) for f in files if not f.is_file()]
        if missing or not files:
            parser.error(f"no such media file: {', '.join(missing)}" if missing
                         else f"no speech or music under {MEDIA}")
        sources = [(str(f.relative_to(MEDIA)), material(f, args.dehum)) for f in files]
    settings = AudioSettings()
    analyser = FaultAnalyser(settings, args.model_dir)
    table = StrategyTable.load(settings.resolved_strategies())
    results = [run(name, audio, args.minutes * 60.0, analyser, table, seed=i + 1000 * k)
               for i, (name, audio) in enumerate(sources) for k in range(args.seeds)]
    total_hours = sum(r["hours"] for r in results)
    total_false = sum(r["false_actuations"] for r in results)
    summary = {"files": results, "seeds": args.seeds, "dehum": args.dehum, "voices": args.voices,
               "total_hours": round(total_hours, 2),
               "false_per_hour": round(total_false / total_hours, 2), "target_per_hour": 0.5}
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{'file':56s} {'seed':>5s} {'hours':>5s} {'false/h':>8s}  actuations (type: count)   RTF")
    for r in results:
        acts = ", ".join(f"{k}: {v}" for k, v in sorted(r["actuations"].items())) or "-"
        print(f"{r['file'][:56]:56s} {r['seed']:5d} {r['hours']:5.2f} {r['false_per_hour']:8.2f}  {acts}   "
              f"{r['real_time_factor']}x")
    print(f"total {total_hours:.2f} h: {summary['false_per_hour']:.2f} false actuations per hour (target <= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Print the fault model's card tables for a model directory, scored the way the daemon scores (int8 runtime).

    .venv/bin/python tools/fault_model_report.py --data /tmp/faults.npz                # the dataset's test split
    .venv/bin/python tools/fault_model_report.py --held-out 480 --seed 20261126        # fresh test-split windows
    .venv/bin/python tools/fault_model_report.py --voice-check 2400                    # ten held-out voices

Tables (markdown): per type threshold / precision / recall / F1 / support, macro-F1 and the share of fault-free
windows on which some fault fires; the confusion of the arg-max score on single-label windows; recall by where the
fault sits in the window (whole window, from mid-window, only the last 100–300 ms) and by whether other faults share
the window; recall of the stationary
types by how far they sit under the talker, feedback recall by howl frequency, music recall by real vs rendered
music. ``--held-out N`` builds N new
windows from the TEST-split recordings with the dataset tool's own functions and ``--seed`` (as
``tests/test_fault_model.py`` does), so a model can be graded on windows no run ever selected anything with.
``--voice-check N`` builds N windows from the VALIDATION split's music, keyboard and mains with ten held-out
real talkers (``tools/faultsynth/voices.py``, Debian ``ktuberling-data``) instead of its one voice: how a model
does on other people, without touching the test recordings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from liverec_edge.audio.model import FaultModel  # noqa: E402
from liverec_edge.types import FAULT_TYPES  # noqa: E402
from tools.train_fault_model import DEFAULT_MEDIA, evaluate, false_alarm_rate, load_data  # noqa: E402

PLACEMENT_NAMES = {"full": "whole window", "mid": "from mid-window", "tail": "only the last 100–300 ms"}
SHORT = {"clean": "clean", "mic_handling": "handl", "keyboard": "keyb", "hum": "hum", "plosive": "plos",
         "clipping": "clip", "cough": "cough", "feedback": "fdbk", "background_music": "music", "hiss": "hiss"}


def score_windows(model: FaultModel, windows: dict[str, np.ndarray]) -> np.ndarray:
    """The model's scores for every window; extra channels from the stored features or else the stored samples."""
    stored = all(name in windows for name in model.extra_features)
    if model.needs_samples and not stored and "samples" not in windows:
        raise SystemExit(f"the model takes {list(model.extra_features)}: the data holds neither them nor samples")
    out = np.zeros((len(windows["logmel"]), len(FAULT_TYPES)), np.float32)
    for i, window in enumerate(windows["logmel"]):
        if not model.needs_samples:
            out[i] = model.scores(window)
        elif stored:
            extra = np.concatenate([windows[name][i] for name in model.extra_features], axis=-1)
            out[i] = model.scores(window, extra=extra)
        else:
            out[i] = model.scores(window, samples=windows["samples"][i])
    return out


def recall_by_placement(labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray,
                        placement: np.ndarray) -> dict[str, dict[str, tuple[float, int]]]:
    """Per fault type and placement mode: (recall, windows)."""
    out: dict[str, dict[str, tuple[float, int]]] = {}
    modes = [dict(item.split(":") for item in str(p).split(",") if item) for p in placement]
    for k, name in enumerate(FAULT_TYPES):
        if name == "clean":
            continue
        out[name] = {}
        for mode in PLACEMENT_NAMES:
            rows = np.array([labels[i, k] == 1 and modes[i].get(name) == mode for i in range(len(labels))])
            if rows.any():
                out[name][mode] = (float(np.mean(scores[rows, k] >= thresholds[k])), int(rows.sum()))
    return out


def recall_by_concurrency(labels: np.ndarray, scores: np.ndarray,
                          thresholds: np.ndarray) -> dict[str, dict[str, tuple[float, int]]]:
    """Per fault type: (recall, windows) where it is the window's only fault (``alone``) and where other faults
    share the window (``with others``): concurrent faults must each be named (the issue's "report a score per
    type, not just an arg-max"), and a model that learnt one fault per window shows it here."""
    faults = labels.copy()
    faults[:, FAULT_TYPES.index("clean")] = 0
    count = faults.sum(axis=1)
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for k, name in enumerate(FAULT_TYPES):
        if name == "clean":
            continue
        out[name] = {}
        for key, rows in (("alone", (faults[:, k] == 1) & (count == 1)),
                          ("with others", (faults[:, k] == 1) & (count >= 2))):
            if rows.any():
                out[name][key] = (round(float(np.mean(scores[rows, k] >= thresholds[k])), 4), int(rows.sum()))
    return out


def music_recall_by_source(labels: np.ndarray, scores: np.ndarray, threshold: float,
                           music_source: np.ndarray) -> dict[str, tuple[float, int]]:
    """background_music recall on windows whose music is a real recording vs a rendered one: (recall, windows)."""
    from tools.faultsynth.sources import is_rendered

    k = FAULT_TYPES.index("background_music")
    out = {}
    for kind, rendered in (("real", False), ("rendered", True)):
        rows = np.array([labels[i, k] == 1 and bool(name) and is_rendered(str(name)) == rendered
                         for i, name in enumerate(music_source)], bool)
        if rows.any():
            out[kind] = (float(np.mean(scores[rows, k] >= threshold)), int(rows.sum()))
    return out


#: Background-to-talker level bins (dB, whole window) of :func:`recall_by_level`.
LEVEL_BINS_DB: tuple[tuple[float, float], ...] = ((-99, -20), (-20, -15), (-15, -10), (-10, -5), (-5, 0), (0, 99))
#: Howl frequency bins (Hz) of :func:`feedback_recall_by_freq`.
HOWL_BINS_HZ: tuple[tuple[float, float], ...] = ((0, 300), (300, 700), (700, 1500), (1500, 3000), (3000, 8000))
#: Stationary types whose detection depends on how far they sit under the talker.
LEVEL_TYPES = ("hum", "hiss", "background_music", "feedback")


def recall_by_level(windows: dict[str, np.ndarray], scores: np.ndarray,
                    thresholds: np.ndarray) -> dict[str, dict[str, tuple[float, int]]]:
    """Recall of each of :data:`LEVEL_TYPES` on its single-label windows, by the level of the background (the fault)
    over the talker across the window (from the stored mel power of the two parts), and with no talker at all."""
    labels = windows["labels"].astype(bool)
    background = np.exp(windows["background_logmel"].astype(np.float64)).sum(axis=(1, 2))
    talker = np.exp(windows["talker_logmel"].astype(np.float64)).sum(axis=(1, 2))
    ratio_db = 10 * np.log10(background / np.maximum(talker, 1e-30))
    speech = windows["has_speech"].astype(bool)
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for name in LEVEL_TYPES:
        k = FAULT_TYPES.index(name)
        alone = labels[:, k] & (labels.sum(axis=1) == 1)
        bins = {f"{lo:g}..{hi:g} dB": alone & speech & (ratio_db >= lo) & (ratio_db < hi) for lo, hi in LEVEL_BINS_DB}
        bins["no talker"] = alone & ~speech
        out[name] = {key: (float(np.mean(scores[rows, k] >= thresholds[k])), int(rows.sum()))
                     for key, rows in bins.items() if rows.any()}
    return out


def feedback_recall_by_freq(windows: dict[str, np.ndarray], scores: np.ndarray,
                            thresholds: np.ndarray) -> dict[str, tuple[float, int]]:
    """Feedback recall by the howl's frequency (every feedback window, concurrent faults included)."""
    k = FAULT_TYPES.index("feedback")
    rows = windows["labels"][:, k] == 1
    freq = windows["freq_hz"][:, k]
    out = {}
    for lo, hi in HOWL_BINS_HZ:
        sel = rows & (freq >= lo) & (freq < hi)
        if sel.any():
            out[f"{lo:g}..{hi:g} Hz"] = (float(np.mean(scores[sel, k] >= thresholds[k])), int(sel.sum()))
    return out


def firing_by_talker(labels: np.ndarray, scores: np.ndarray, thresholds: np.ndarray,
                     source: np.ndarray) -> dict[str, dict[str, float]]:
    """Per talker (the windows' ``source``): its fault-free windows, the share on which some fault fires, and the
    share per type that fires at all (the voice check's ten talkers differ in room, microphone and noise floor)."""
    clean = labels[:, FAULT_TYPES.index("clean")] == 1
    fires = scores >= thresholds[None, :]
    out: dict[str, dict[str, float]] = {}
    for name in sorted({str(v) for v in source[clean]}):
        rows = clean & (source == name)
        entry: dict[str, float] = {"windows": int(rows.sum()),
                                   "any": round(float(np.mean(fires[rows][:, 1:].any(axis=1))), 4)}
        for k, fault in enumerate(FAULT_TYPES[1:], start=1):
            share = float(np.mean(fires[rows, k]))
            if share:
                entry[fault] = round(share, 4)
        out[name] = entry
    return out


def markdown(report: dict, thresholds: np.ndarray) -> str:
    firing = ", ".join(f"{name} {100 * v:.1f} %" for name, v in report["clean_window_firing_by_type"].items() if v)
    lines = [f"windows: {report['windows']}; macro-F1 **{report['macro_f1']:.3f}**; fault-free windows on which some "
             f"fault fires: {100 * report['clean_window_false_alarm_rate']:.1f} %" + (f" ({firing})" if firing else ""),
             "",
             "| type | threshold | precision | recall | F1 | support |", "|---|---|---|---|---|---|"]
    for k, name in enumerate(FAULT_TYPES):
        c = report["per_class"][name]
        lines.append(f"| {name} | {thresholds[k]:.2f} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} "
                     f"| {c['support']} |")
    lines += ["", "| truth \\ predicted | " + " | ".join(SHORT[n] for n in FAULT_TYPES) + " |",
              "|---" * (len(FAULT_TYPES) + 1) + "|"]
    for name, row in zip(FAULT_TYPES, report["confusion_single_label"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "| type | " + " | ".join(PLACEMENT_NAMES.values()) + " |", "|---" * (len(PLACEMENT_NAMES) + 1) + "|"]
    for name, by_mode in report["recall_by_placement"].items():
        cells = [f"{by_mode[m][0]:.2f} ({by_mode[m][1]})" if m in by_mode else "–" for m in PLACEMENT_NAMES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if report.get("recall_by_concurrency"):
        lines += ["", "| type | recall, the only fault | recall, with other faults |", "|---|---|---|"]
        for name, by_key in report["recall_by_concurrency"].items():
            cells = [f"{by_key[m][0]:.2f} ({by_key[m][1]})" if m in by_key else "–" for m in ("alone", "with others")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, by_level in report.get("recall_by_level", {}).items():
        lines += ["", f"{name} recall on single-label windows by background over talker: " + ", ".join(
            f"{key} {recall:.2f} ({n})" for key, (recall, n) in by_level.items())]
    if report.get("feedback_recall_by_freq"):
        lines += ["", "feedback recall by howl frequency: " + ", ".join(
            f"{key} {recall:.2f} ({n})" for key, (recall, n) in report["feedback_recall_by_freq"].items())]
    if report.get("music_recall_by_source"):
        lines += ["", "background_music recall by music source: " + ", ".join(
            f"{kind} {recall:.2f} ({n})" for kind, (recall, n) in report["music_recall_by_source"].items())]
    by_talker = report.get("clean_window_firing_by_talker", {})
    if len(by_talker) > 1:
        floors = report.get("talker_floor_db", {})
        lines += ["", "| talker | own noise floor re its speech | fault-free windows | some fault fires | by type |",
                  "|---|---|---|---|---|"]
        for name, entry in by_talker.items():
            types = ", ".join(f"{SHORT[k]} {100 * v:.1f} %" for k, v in entry.items() if k in SHORT)
            floor = f"{floors[name]:.1f} dB" if name in floors else "–"
            lines.append(f"| {name} | {floor} | {entry['windows']} | {100 * entry['any']:.1f} % | {types} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "models" / "faults")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help=".npz from tools/build_fault_dataset.py")
    source.add_argument("--held-out", type=int, metavar="N", help="build N new windows from the test recordings")
    source.add_argument("--voice-check", type=int, metavar="N",
                        help="build N windows from the validation split's sources with the held-out word voices "
                             "(tools/faultsynth/voices.py) as talkers: a model choice that does not rest on one voice")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="with --data")
    parser.add_argument("--seed", type=int, default=None,
                        help="with --held-out (default 20261126) or --voice-check (default 7); not the training seed 0")
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    model = FaultModel.load(args.model_dir, num_threads=1)
    from tools.faultsynth.windows import build_split

    if args.data is not None:
        windows = load_data(args.data)[args.split]
    elif args.held_out is not None:
        windows = build_split(args.media, "test", args.held_out, 20_261_126 if args.seed is None else args.seed)
    else:
        windows = build_split(args.media.resolve(), "val", args.voice_check, 7 if args.seed is None else args.seed,
                              rendered=True, soundtracks=True, voices=True, jobs=2)
    scores = score_windows(model, windows)
    thresholds = np.array([model.thresholds[name] for name in FAULT_TYPES])
    labels = windows["labels"]
    report = evaluate(labels, scores, thresholds)
    report["clean_window_false_alarm_rate"] = round(false_alarm_rate(labels, scores, thresholds), 4)
    clean = labels[:, FAULT_TYPES.index("clean")] == 1
    report["clean_window_firing_by_type"] = {
        name: round(float(np.mean(scores[clean, k] >= thresholds[k])), 4) if clean.any() else 0.0
        for k, name in enumerate(FAULT_TYPES) if name != "clean"}
    report["recall_by_placement"] = recall_by_placement(labels, scores, thresholds, windows["placement"])
    report["recall_by_concurrency"] = recall_by_concurrency(labels, scores, thresholds)
    if all(key in windows for key in ("background_logmel", "talker_logmel", "has_speech")):
        report["recall_by_level"] = recall_by_level(windows, scores, thresholds)
    report["feedback_recall_by_freq"] = feedback_recall_by_freq(windows, scores, thresholds)
    if "music_source" in windows:  # datasets built since session 3
        report["music_recall_by_source"] = music_recall_by_source(
            labels, scores, float(thresholds[FAULT_TYPES.index("background_music")]), windows["music_source"])
    if "source" in windows:
        report["clean_window_firing_by_talker"] = firing_by_talker(labels, scores, thresholds, windows["source"])
    if args.voice_check is not None:
        from tools.faultsynth.voices import word_floors_db

        report["talker_floor_db"] = word_floors_db()
    print(json.dumps(report, indent=1) if args.json else markdown(report, thresholds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

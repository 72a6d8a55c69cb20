"""The change journal: what the daemon changed on the desk, so a crash never leaves the desk in a state the engineer
did not choose.

One JSON object per line, appended and fsync'd before the change is sent:

- ``claim``: an owner holds ``param`` at ``target``; ``baseline`` is the engineer's value from before the daemon's
  first change to it (only the first claim's baseline counts while the parameter is held), ``expiry`` is wall-clock
  (informational) or null, ``restore`` false for sticky changes;
- ``release``: an owner let go (the parameter stays in the journal until it is back at its baseline);
- ``rebase``: the value to restore to changed (a sticky change made it the new baseline);
- ``done``: the parameter is back at its baseline, or the engineer took it over: nothing to restore.

At start-up :meth:`Journal.pending` folds the lines into "parameter -> baseline to restore"; the engine restores
those before anything else, then :meth:`Journal.compact` rewrites the file (atomically: temporary file, fsync,
rename, fsync of the directory). A torn last line (a crash mid-write) is ignored, as are lines that do not parse.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liverec_edge.logs import kv
from liverec_edge.mixer.laws import EngValue

JOURNAL_NAME = "mixer-journal.jsonl"
#: rewrite the file once it holds this many lines and nothing is outstanding
COMPACT_AFTER_LINES = 2000


class JournalError(OSError):
    """The journal cannot be written (the daemon must not change the desk without it)."""


def _encode_value(value: EngValue) -> float | str:
    if isinstance(value, float) and math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return value


def _decode_value(value: Any) -> EngValue:
    if value in ("-inf", "inf"):
        return float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return str(value)


@dataclass
class PendingRestore:
    """A parameter the daemon changed and had not restored: put it back to ``baseline``."""

    param: str
    baseline: EngValue
    owners: set[str]


class Journal:
    def __init__(self, state_dir: str | Path, logger: logging.Logger | None = None):
        self.dir = Path(state_dir)
        self.path = self.dir / JOURNAL_NAME
        self._log = logger or logging.getLogger("liverec_edge.mixer.journal")
        self._lines = 0
        self._open: dict[str, PendingRestore] = {}
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot create the mixer state directory {self.dir}: {exc.strerror or exc}") from None

    # ---- reading -------------------------------------------------------------------------------------------------

    def pending(self) -> list[PendingRestore]:
        """Parameters a previous run changed and did not restore (read from the file, not from memory)."""
        state: dict[str, PendingRestore] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise JournalError(f"cannot read the mixer journal {self.path}: {exc.strerror or exc}") from None
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                op, param = record["op"], str(record["param"])
            except (ValueError, KeyError, TypeError):
                self._log.warning("skipped a damaged journal line", extra=kv(path=str(self.path), line=number))
                continue
            if op == "claim":
                entry = state.get(param)
                if entry is None:
                    entry = state[param] = PendingRestore(param, _decode_value(record.get("baseline")), set())
                if record.get("restore", True):
                    entry.owners.add(str(record.get("owner", "")))
            elif op == "release" and param in state:
                state[param].owners.discard(str(record.get("owner", "")))
            elif op == "rebase" and param in state:
                state[param].baseline = _decode_value(record.get("baseline"))
            elif op == "done":
                state.pop(param, None)
        return list(state.values())

    # ---- writing -------------------------------------------------------------------------------------------------

    def _append(self, record: dict[str, Any]) -> None:
        record = {"t": round(time.time(), 3), **record}
        line = json.dumps(record, separators=(",", ":")) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise JournalError(f"cannot write the mixer journal {self.path}: {exc.strerror or exc}") from None
        self._lines += 1

    def claim(
        self, param: str, baseline: EngValue, target: EngValue, owner: str, expiry_s: float | None, restore: bool,
        reason: str = "",
    ) -> None:
        expiry = None if expiry_s is None else round(time.time() + expiry_s, 3)
        self._append({
            "op": "claim", "param": param, "baseline": _encode_value(baseline), "target": _encode_value(target),
            "owner": owner, "expiry": expiry, "restore": restore, "reason": reason,
        })
        self._open[param] = PendingRestore(param, baseline, {owner})

    def release(self, param: str, owner: str) -> None:
        self._append({"op": "release", "param": param, "owner": owner})

    def rebase(self, param: str, baseline: EngValue) -> None:
        self._append({"op": "rebase", "param": param, "baseline": _encode_value(baseline)})

    def done(self, param: str, why: str = "restored") -> None:
        self._append({"op": "done", "param": param, "why": why})
        self._open.pop(param, None)
        if not self._open and self._lines >= COMPACT_AFTER_LINES:
            self.compact()

    def compact(self, keep: list[PendingRestore] | None = None) -> None:
        """Rewrite the file with only ``keep`` (default: nothing outstanding), atomically."""
        tmp = self.path.with_suffix(".tmp")
        lines = [
            json.dumps({"t": round(time.time(), 3), "op": "claim", "param": p.param,
                        "baseline": _encode_value(p.baseline), "target": _encode_value(p.baseline),
                        "owner": owner, "expiry": None, "restore": True}, separators=(",", ":")) + "\n"
            for p in keep or [] for owner in (p.owners or {""})
        ]
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                handle.writelines(lines)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            directory = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            raise JournalError(f"cannot rewrite the mixer journal {self.path}: {exc.strerror or exc}") from None
        self._lines = len(lines)

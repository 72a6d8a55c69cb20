"""The action engine: turns :class:`~liverec_edge.types.Action` into console changes, safely.

Rules, per parameter:

- **Baseline**: before the daemon's first change to a parameter it reads the console's value (the engineer's
  choice). That baseline is journaled before anything is sent, and is what the parameter returns to when the last
  owner lets go — whatever happened in between.
- **Claims**: each owner (a tag id, ``audio:hum`` ...) holds at most one claim per parameter; a new action from the
  same owner replaces its claim. With several claims the **most protective** wins (see ``strip.Protect``: lower
  fader/gain/trim/EQ gain, mute over unmute, higher HPF frequency, processing on); parameters with no safe direction
  go to the earliest claim still held. Ties go to the earliest claim. So the result never depends on timing.
- **Modes**: ``set`` jumps; ``relative`` adds ``value`` to the baseline (the engineer's value), so an owner
  re-sending its action does not compound and other owners' claims do not shift it (composition then picks the
  most protective); ``ramp_ms`` > 0 slews there (any mode) at no more than
  ``ramp_rate_hz`` updates per second (≤ 50), interpolating in dB for levels and in log for frequencies and times.
  ``at_least`` / ``at_most`` go to ``value`` only if the baseline is below / above it, else keep the baseline: a
  plosive's 100 Hz high-pass leaves the engineer's 150 Hz one alone.
- **Hold and restore**: ``hold_s`` (counted from the action, after its ramp) ends the claim; ``hold_s=None`` holds
  until :meth:`MixerEngine.release` of the owner. ``restore=False`` makes a change sticky: it becomes the new
  baseline. When no claim is left the parameter ramps back (with the ending claim's ramp time) to the baseline and
  its journal entry is closed.
- **Manual override**: when the console reports a change to a held parameter that the daemon did not send, the
  engineer wins: every claim on it is dropped, nothing is restored, and actions on it are refused for
  ``override_hold_s``.
- **Bounds** from settings clamp or refuse targets (absolute min/max, max raise/cut relative to the baseline); the
  log line says why. An action's own ``min_value``/``max_value`` (a strategy's bounds of a relative move's result)
  clamp it first.
- **Dry run** logs what would be sent and sends nothing (baselines are still read).
- **Crash safety**: :meth:`MixerEngine.start` restores whatever the journal of a crashed run left changed, before
  accepting any action. Changes the console did not take (desk away) are retried every ``reconcile_s``; held
  parameters are read back every ``verify_s`` and before they are restored, so an engineer's move whose push was
  lost (UDP) is still never overwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from liverec_edge.logs import kv
from liverec_edge.mixer.backend import ConsoleBackend, MixerError
from liverec_edge.mixer.journal import Journal, JournalError, PendingRestore
from liverec_edge.mixer.laws import EngValue
from liverec_edge.mixer.settings import MixerSettings, OnViolation
from liverec_edge.mixer.strip import ParamKind, ParamNameError, Protect, Ramp, parse_name
from liverec_edge.types import Action

#: below this a dB ramp treats the level as silence (-inf on the desk)
FLOOR_DB = -90.0


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What became of an action: ``accepted`` with the snapped ``target`` it asked for (after bounds) and the
    ``effective`` value the console is heading to after composition, or refused with ``reason``."""

    param: str
    accepted: bool
    target: EngValue | None = None
    effective: EngValue | None = None
    reason: str = ""


@dataclass
class _Claim:
    owner: str
    target: EngValue
    ramp_ms: float
    expires_at: float | None
    seq: int
    reason: str
    timer: asyncio.TimerHandle | None = None


@dataclass
class _Held:
    """A parameter the daemon has changed and not yet given back."""

    param: str
    kind: ParamKind
    baseline: EngValue
    claims: dict[str, _Claim] = field(default_factory=dict)
    #: what the console holds as far as we know (None: unknown, e.g. replayed from the journal)
    sent: EngValue | None = None
    slew: asyncio.Task[None] | None = None
    journaled: bool = False
    #: when the last update for this parameter left (per-parameter debounce: at most ramp_rate_hz updates/s)
    last_sent_at: float = -math.inf
    #: ramp time for going back to the baseline when the last claim ends
    restore_ramp_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Override:
    """An engineer took a parameter over: the daemon let go at ``t`` and leaves it alone until ``until``."""

    param: str
    value: EngValue
    t: float
    until: float


def _is_number(value: EngValue | None) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


def interpolate(kind: ParamKind, start: EngValue, end: EngValue, x: float) -> EngValue:
    """The value ``x`` (0..1) of the way from ``start`` to ``end`` along the parameter's ramp curve."""
    if x >= 1.0 or not (_is_number(start) and _is_number(end)) or kind.ramp is Ramp.STEP:
        return end
    a, b = float(start), float(end)
    if kind.ramp is Ramp.DB:
        a, b = max(a, FLOOR_DB), max(b, FLOOR_DB)
        value = a + (b - a) * x
        return float("-inf") if value <= FLOOR_DB else value
    if kind.ramp is Ramp.LOG and a > 0 and b > 0:
        return a * (b / a) ** x
    return a + (b - a) * x


class MixerEngine:
    """Drives a :class:`~liverec_edge.mixer.backend.ConsoleBackend` from actions. Use from the event loop only."""

    def __init__(
        self,
        backend: ConsoleBackend,
        settings: MixerSettings,
        *,
        journal: Journal | None = None,
        reconcile_s: float = 1.0,
        verify_s: float = 5.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.backend = backend
        self.settings = settings
        self.journal = None if settings.dry_run else journal
        self.reconcile_s = reconcile_s
        #: how often held parameters are read back from the console to catch engineer moves whose push was lost
        self.verify_s = verify_s
        self._log = logger or logging.getLogger("liverec_edge.mixer.actions")
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._locked_until: dict[str, float] = {}
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._unwatch: Callable[[], None] | None = None
        self._was_away = False
        self._reconciler: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        #: engineer takeovers seen, newest last (for status displays and tests)
        self.overrides: list[Override] = []
        #: every value sent (or, in dry run, that would have been sent): (monotonic time, param, value)
        self.sent_log: list[tuple[float, str, EngValue]] = []
        self._sent_log_max = 10000

    # ---- lifecycle -----------------------------------------------------------------------------------------------

    async def start(self) -> list[str]:
        """Restore what a crashed run left changed (from the journal), then accept actions.

        Returns the parameters found in the journal. Those the console did not take yet stay held (with their true
        baselines) and are retried in the background.
        """
        if self._started:
            return []
        self._started = True
        subscribe = getattr(self.backend, "on_external_change", None)
        if callable(subscribe):
            self._unsubscribe = subscribe(self._on_external_change)
        else:
            # A backend that exposes the hook as a plain callback attribute (None until set) gets ours assigned.
            setattr(self.backend, "on_external_change", self._on_external_change)  # noqa: B010
        watch = getattr(self.backend, "on_state_change", None)
        if callable(watch):
            self._unwatch = watch(self._on_backend_state)
        replayed: list[str] = []
        if self.journal is not None:
            for pending in self.journal.pending():
                try:
                    kind = parse_name(pending.param).kind
                except ParamNameError:
                    self._log.error("journal names an unknown parameter; skipped", extra=kv(param=pending.param))
                    continue
                try:
                    baseline = self.backend.snap(pending.param, pending.baseline)
                except ValueError as exc:
                    self._log.error("journal baseline is not valid here; skipped", extra=kv(param=pending.param,
                                                                                            error=str(exc)))
                    continue
                held = _Held(pending.param, kind, baseline, journaled=True)
                self._held[pending.param] = held
                replayed.append(pending.param)
                self._log.warning(
                    "restoring a change left by a previous run",
                    extra=kv(param=pending.param, baseline=pending.baseline, owners=",".join(sorted(pending.owners))),
                )
            await asyncio.gather(*(self._drive(self._held[p], 0.0) for p in replayed))
            # Whatever is still outstanding stays in the file (rewritten compactly) until the reconciler restores it.
            self.journal.compact(
                [PendingRestore(h.param, h.baseline, set()) for h in self._held.values() if h.param in replayed]
            )
        self._reconciler = asyncio.create_task(self._reconcile_forever(), name="mixer-reconcile")
        return replayed

    async def close(self, restore: bool = True) -> None:
        """Stop; with ``restore`` put every held parameter back to its baseline first (at once, no ramps)."""
        if self._closed:
            return
        if restore:
            await self.release_all(ramp=False)
        self._closed = True
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
        for held in self._held.values():
            self._cancel(held)
        for task in list(self._tasks):
            task.cancel()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._unwatch is not None:
            self._unwatch()

    # ---- public API ----------------------------------------------------------------------------------------------

    def canonical(self, param: str) -> str:
        """``presenter.hpf.freq`` -> ``ch01.hpf.freq`` with the configured channel roles."""
        return parse_name(param, self.settings.channels).name

    async def apply(self, action: Action) -> ActionResult:
        """Apply one action. Returns once the first datagram is sent (ramps continue in the background)."""
        try:
            parsed = parse_name(action.param, self.settings.channels)
        except ParamNameError as exc:
            return self._refuse(action.param, action, str(exc))
        param = parsed.name
        if self._closed:
            return self._refuse(param, action, "the mixer engine is stopped")
        if not self._started:
            return self._refuse(param, action, "the mixer engine has not restored its journal yet (start() first)")
        locked = self._locked_until.get(param, 0.0) - self._clock()
        if locked > 0:
            return self._refuse(param, action, f"the engineer took {param} over; leaving it alone for {locked:.0f} s")
        lock = self._locks.setdefault(param, asyncio.Lock())
        async with lock:
            held = self._held.get(param)
            if held is None:
                try:
                    baseline = self.backend.snap(param, await self.backend.get(param))
                except (MixerError, ValueError) as exc:
                    return self._refuse(param, action, f"cannot read the baseline: {exc}")
                held = _Held(param, parsed.kind, baseline, sent=baseline)
            try:
                target, note = self._target(held, action)
            except ValueError as exc:
                return self._refuse(param, action, str(exc))
            if target is None:
                return self._refuse(param, action, note)
            sticky = not action.restore
            try:
                self._record(held, action, target, sticky)
            except JournalError as exc:
                return self._refuse(param, action, f"not changed: {exc}")
            self._held[param] = held
            effective = self._effective(held)
            self._log.info(
                "mixer action",
                extra=kv(param=param, target=target, effective=effective, owner=action.owner, mode=action.mode,
                         ramp_ms=action.ramp_ms, hold_s=action.hold_s, sticky=sticky, reason=action.reason,
                         **({"bounds": note} if note else {})),
            )
            await self._drive(held, max(0.0, action.ramp_ms))
            return ActionResult(param, True, target, effective, note)

    async def apply_all(self, actions: Iterable[Action]) -> list[ActionResult]:
        return [await self.apply(a) for a in actions]

    async def release(self, owner: str, ramp: bool = True) -> list[str]:
        """End every claim of ``owner`` (tag end); parameters with no claim left go back to their baselines."""
        released: list[str] = []
        for param, held in list(self._held.items()):
            claim = held.claims.get(owner)
            if claim is not None:
                await self._end_claim(param, owner, claim.seq, ramp)
                released.append(param)
        return released

    async def release_all(self, ramp: bool = True) -> list[str]:
        """Give everything back (the operator's release request, or shutdown)."""
        params = list(self._held)
        for param in params:
            held = self._held.get(param)
            if held is None:
                continue
            for owner, claim in list(held.claims.items()):
                await self._end_claim(param, owner, claim.seq, ramp)
            async with self._locks.setdefault(param, asyncio.Lock()):
                held = self._held.get(param)
                if held is not None and not held.claims:
                    await self._drive(held, held.restore_ramp_ms if ramp else 0.0)
        return params

    async def snapshot(self, params: Iterable[str]) -> dict[str, EngValue]:
        """Current console values (read now) for ``params``; unreadable ones are left out, with a log line."""
        values: dict[str, EngValue] = {}
        for position, name in enumerate(params):
            if position:
                await asyncio.sleep(self.settings.batch_interval_ms / 1000.0)  # pace bursts of queries
            try:
                param = self.canonical(name)
                values[param] = await self.backend.get(param)
            except (MixerError, ValueError) as exc:
                self._log.warning("cannot read a parameter", extra=kv(param=name, error=str(exc)))
        return values

    def current(self, param: str) -> EngValue | None:
        """What the daemon is holding ``param`` at (its effective target), or None when it does not hold it."""
        held = self._held.get(self.canonical(param))
        return None if held is None else self._effective(held)

    def baseline(self, param: str) -> EngValue | None:
        held = self._held.get(self.canonical(param))
        return None if held is None else held.baseline

    def holdings(self) -> list[dict[str, object]]:
        """One line per held parameter, for status displays."""
        now = self._clock()
        return [
            {
                "param": h.param, "baseline": h.baseline, "console": h.sent, "target": self._effective(h),
                "owners": sorted(h.claims),
                "expires_in_s": min((c.expires_at - now for c in h.claims.values() if c.expires_at), default=None),
            }
            for h in self._held.values()
        ]

    def locked_for(self, param: str) -> float:
        """Seconds the daemon still leaves ``param`` alone after an engineer override (0 if not locked)."""
        return max(0.0, self._locked_until.get(self.canonical(param), 0.0) - self._clock())

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no ramp is running (tests, orderly shutdown)."""
        deadline = time.monotonic() + timeout
        while any(h.slew is not None and not h.slew.done() for h in self._held.values()):
            if time.monotonic() > deadline:
                raise TimeoutError("mixer ramps still running")
            await asyncio.sleep(0.005)

    # ---- targets, bounds, composition ----------------------------------------------------------------------------

    def _target(self, held: _Held, action: Action) -> tuple[EngValue | None, str]:
        """The snapped target of ``action`` after bounds; (None, reason) when bounds refuse it."""
        param = held.param
        value: EngValue = action.value
        if action.mode == "relative":
            base = held.baseline
            if not (_is_number(base) and _is_number(value)):
                raise ValueError(f"a relative change needs numbers; {param} is {base!r}, change {value!r}")
            value = float(base) + float(value)
        elif action.mode in ("at_least", "at_most"):
            base = held.baseline
            if not (_is_number(base) and _is_number(value)):
                raise ValueError(f"{action.mode} needs numbers; {param} is {base!r}, value {value!r}")
            value = max(float(base), float(value)) if action.mode == "at_least" else min(float(base), float(value))
        elif isinstance(value, str):
            value = value.strip()
        if _is_number(value):  # the action's own bounds (a strategy cannot know the baseline a relative move adds to)
            if action.min_value is not None:
                value = max(float(value), action.min_value)
            if action.max_value is not None:
                value = min(float(value), action.max_value)
        value = self.backend.snap(param, value)  # validates the value against the console (raises ValueError)
        note = ""
        if _is_number(value):
            for pattern, bound in self.settings.bounds_for(param):
                lo, hi = -math.inf, math.inf
                if bound.min is not None:
                    lo = max(lo, bound.min)
                if bound.max is not None:
                    hi = min(hi, bound.max)
                if _is_number(held.baseline):
                    base = float(held.baseline)
                    if bound.max_raise is not None:
                        hi = min(hi, base + bound.max_raise)
                    if bound.max_cut is not None:
                        lo = max(lo, base - bound.max_cut)
                v = float(value)
                if lo <= v <= hi:
                    continue
                limit = hi if v > hi else lo
                why = f"{v:g} is beyond {limit:g} allowed by bounds {pattern}"
                if bound.on_violation is OnViolation.refuse:
                    self._log.warning("mixer action refused by bounds", extra=kv(param=param, why=why))
                    return None, f"refused: {why}"
                value = self._snap_inside(param, limit, lo, hi)
                note = f"clamped: {why}"
        return value, note

    def _snap_inside(self, param: str, limit: float, lo: float, hi: float) -> EngValue:
        """The grid point nearest ``limit`` that is still inside [lo, hi] (the grid may not hit the limit)."""
        snapped = self.backend.snap(param, limit)
        if _is_number(snapped) and lo - 1e-9 <= float(snapped) <= hi + 1e-9:
            return snapped
        # Step towards the inside in small moves until the grid point is inside.
        direction = -1.0 if float(snapped) > hi else 1.0
        probe = limit
        for _ in range(50):
            probe += direction * max(abs(limit) * 0.002, 0.01)
            candidate = self.backend.snap(param, probe)
            if _is_number(candidate) and lo - 1e-9 <= float(candidate) <= hi + 1e-9:
                return candidate
        return snapped

    def _effective(self, held: _Held, exclude: str | None = None) -> EngValue:
        claims = [c for owner, c in held.claims.items() if owner != exclude]
        if not claims:
            return held.baseline
        protect = held.kind.protect
        numeric = all(_is_number(c.target) for c in claims)
        if protect is Protect.NONE or not numeric:
            return min(claims, key=lambda c: c.seq).target
        if protect is Protect.LOWER:
            return min(claims, key=lambda c: (float(c.target), c.seq)).target
        return min(claims, key=lambda c: (-float(c.target), c.seq)).target

    def _record(self, held: _Held, action: Action, target: EngValue, sticky: bool) -> None:
        """Journal first, then update the claims (journal failures leave the engine untouched)."""
        param = held.param
        owner = action.owner
        if sticky:
            if held.journaled and self.journal is not None:
                self.journal.rebase(param, target)
            previous = held.claims.pop(owner, None)
            if previous is not None and previous.timer is not None:
                previous.timer.cancel()
            held.baseline = target
            held.restore_ramp_ms = max(0.0, action.ramp_ms)
            return
        expiry = None if action.hold_s is None else max(0.0, action.ramp_ms) / 1000.0 + max(0.0, action.hold_s)
        # The journal needs the baseline and who holds the parameter; an owner updating its own claim adds nothing
        # a crash recovery would use, so it costs no fsync (ramps and refreshes stay fast on slow SD cards).
        if self.journal is not None and not (held.journaled and owner in held.claims):
            self.journal.claim(param, held.baseline, target, owner, expiry, True, action.reason)
            held.journaled = True
        previous = held.claims.pop(owner, None)
        if previous is not None and previous.timer is not None:
            previous.timer.cancel()
        self._seq += 1
        claim = _Claim(owner, target, max(0.0, action.ramp_ms), None, self._seq, action.reason)
        if expiry is not None:
            claim.expires_at = self._clock() + expiry
            seq = claim.seq
            claim.timer = asyncio.get_running_loop().call_later(
                expiry, lambda: self._spawn(self._end_claim(param, owner, seq, True))
            )
        held.claims[owner] = claim

    async def _end_claim(self, param: str, owner: str, seq: int, ramp: bool) -> None:
        lock = self._locks.setdefault(param, asyncio.Lock())
        async with lock:
            held = self._held.get(param)
            claim = held.claims.get(owner) if held is not None else None
            if held is None or claim is None or claim.seq != seq:
                return  # replaced, released already, or taken over by the engineer
            if claim.timer is not None:
                claim.timer.cancel()
            del held.claims[owner]
            if self.journal is not None:
                try:
                    self.journal.release(param, owner)
                except JournalError as exc:
                    self._log.error("journal write failed", extra=kv(error=str(exc)))
            held.restore_ramp_ms = claim.ramp_ms
            self._log.info("mixer claim ended", extra=kv(param=param, owner=owner, left=len(held.claims)))
            if not held.claims and not await self._still_ours(held):
                return  # the engineer moved it and the push was lost: never restore over their move
            await self._drive(held, claim.ramp_ms if ramp else 0.0)

    async def _still_ours(self, held: _Held) -> bool:
        """Read the console before giving a parameter back: pushes are UDP and can be lost, so a silent engineer
        move is caught here at the latest. False (and the override handled) when the console holds something else."""
        if self.settings.dry_run or held.sent is None or (held.slew is not None and not held.slew.done()):
            return True
        try:
            value = await self.backend.get(held.param)
        except (MixerError, ValueError):
            return True  # cannot tell; the restore will be retried by the reconciler if the desk is away
        if self._held.get(held.param) is not held:
            return False
        if self.backend.snap(held.param, value) == held.sent:
            return True
        self._on_external_change(held.param, value)
        return False

    # ---- sending -------------------------------------------------------------------------------------------------

    async def _drive(self, held: _Held, ramp_ms: float) -> None:
        """Move the console towards the held parameter's effective target; the first step is sent before return."""
        if held.slew is not None and not held.slew.done():
            held.slew.cancel()
        held.slew = None
        target = self._effective(held)
        start = held.sent
        if ramp_ms <= 0 or start is None or held.kind.ramp is Ramp.STEP or start == target:
            await self._step(held, target)
            self._maybe_done(held)
            return
        steps = max(1, math.ceil(ramp_ms / 1000.0 * self.settings.ramp_rate_hz))
        dt = ramp_ms / 1000.0 / steps
        t0 = time.monotonic()
        await self._step(held, interpolate(held.kind, start, target, 1 / steps))
        if steps == 1:
            self._maybe_done(held)
            return

        min_gap = 1.0 / self.settings.ramp_rate_hz

        async def rest() -> None:
            last = time.monotonic()  # when the previous update left
            for i in range(2, steps + 1):
                # On schedule, but never two updates closer than 1/ramp_rate_hz (a late step does not catch up).
                due = max(t0 + (i - 1) * dt, last + min_gap)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if self._held.get(held.param) is not held:
                    return  # taken over by the engineer
                await self._step(held, interpolate(held.kind, start, target, i / steps))
                last = time.monotonic()
            held.slew = None
            self._maybe_done(held)

        held.slew = asyncio.create_task(rest(), name=f"ramp-{held.param}")

    async def _step(self, held: _Held, value: EngValue) -> None:
        snapped = self.backend.snap(held.param, value)
        if snapped == held.sent:
            return
        if self._held.get(held.param) not in (held, None):
            return
        wait = held.last_sent_at + 1.0 / self.settings.ramp_rate_hz - time.monotonic()
        if wait > 0:
            # Bursts of actions on one parameter are debounced to ramp_rate_hz (the notes: 20-50 Hz per parameter).
            await asyncio.sleep(wait)
        try:
            if self.settings.dry_run:
                self._log.info("dry run: would set", extra=kv(param=held.param, value=snapped))
                result = snapped
            else:
                result = await self.backend.set(held.param, snapped)
        except (MixerError, ValueError) as exc:
            # Left for the reconciler: the console did not take it (desk away); `sent` stays what it was.
            self._log.warning("console did not take a change; will retry", extra=kv(param=held.param, error=str(exc)))
            return
        held.sent = result
        held.last_sent_at = time.monotonic()
        self.sent_log.append((time.monotonic(), held.param, result))
        if len(self.sent_log) > self._sent_log_max:
            del self.sent_log[: len(self.sent_log) // 2]

    def _maybe_done(self, held: _Held) -> None:
        if held.claims or held.sent is None or held.sent != held.baseline:
            return
        if self._held.get(held.param) is not held:
            return
        del self._held[held.param]
        if held.journaled and self.journal is not None:
            try:
                self.journal.done(held.param)
            except JournalError as exc:
                self._log.error("journal write failed", extra=kv(error=str(exc)))
        self._log.info("mixer parameter restored", extra=kv(param=held.param, value=held.baseline))

    async def _reconcile_forever(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self.reconcile_s)
            rounds += 1
            if self.verify_s > 0 and rounds * self.reconcile_s >= self.verify_s:
                rounds = 0
                # A lost push would hide an engineer's move: look at every held parameter now and then.
                for held in list(self._held.values()):
                    lock = self._locks.setdefault(held.param, asyncio.Lock())
                    if self._held.get(held.param) is held and not lock.locked():
                        async with lock:
                            await self._still_ours(held)
            for held in list(self._held.values()):
                busy = held.slew is not None and not held.slew.done()
                if busy or (held.sent is not None and held.sent == self._effective(held)):
                    continue
                lock = self._locks.setdefault(held.param, asyncio.Lock())
                if lock.locked():
                    continue
                async with lock:
                    if self._held.get(held.param) is held:
                        await self._drive(held, 0.0)

    # ---- the engineer wins ---------------------------------------------------------------------------------------

    def _on_external_change(self, param: str, value: EngValue) -> None:
        held = self._held.get(param)
        if held is None:
            return
        try:
            if self.backend.snap(param, value) == held.sent:
                return  # our own value coming back
        except ValueError:
            return
        now = self._clock()
        until = now + self.settings.override_hold_s
        self._cancel(held)
        del self._held[param]
        self._locked_until[param] = until
        self.overrides.append(Override(param, value, now, until))
        if held.journaled and self.journal is not None:
            try:
                self.journal.done(param, "engineer override")
            except JournalError as exc:
                self._log.error("journal write failed", extra=kv(error=str(exc)))
        self._log.warning(
            "engineer override: letting go",
            extra=kv(param=param, value=value, owners=",".join(sorted(held.claims)),
                     hands_off_s=self.settings.override_hold_s),
        )

    def _on_backend_state(self, state: object) -> None:
        value = getattr(state, "value", state)
        if value == "unreachable":
            self._was_away = True
        elif value == "connected" and self._was_away:
            self._was_away = False
            self._spawn(self._verify_held())

    async def _verify_held(self) -> None:
        """After the desk was away: what changed there meanwhile (surface, scene recall, reboot) was not us."""
        for param, held in list(self._held.items()):
            if held.sent is None:
                continue  # never reached the desk (journal replay); the reconciler handles it
            try:
                value = await self.backend.get(param)
            except (MixerError, ValueError):
                continue
            if self._held.get(param) is held and self.backend.snap(param, value) != held.sent:
                self._log.warning("desk changed while it was away", extra=kv(param=param, value=value))
                self._on_external_change(param, value)

    def _cancel(self, held: _Held) -> None:
        if held.slew is not None and not held.slew.done():
            held.slew.cancel()
        for claim in held.claims.values():
            if claim.timer is not None:
                claim.timer.cancel()

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _refuse(self, param: str, action: Action, reason: str) -> ActionResult:
        self._log.warning("mixer action refused", extra=kv(param=param, owner=action.owner, why=reason))
        return ActionResult(param, False, None, None, reason)

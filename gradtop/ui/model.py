"""What the viewer knows about a file: runs, findings and pace, shared by two threads.

The reader worker is the only writer: it feeds records in, runs the diagnosis and bumps
``generation``; the UI thread only reads, under ``lock``, when it redraws. A backfill
builds a fresh model privately and hands it over whole, so the UI never sees a half-read
history. No Textual here: the model is tested like any other pure code.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from gradtop.diagnosis.diagnoser import REPLAY_EVERY
from gradtop.diagnosis.findings import Finding
from gradtop.history import History, RunHistory
from gradtop.records import Record, Step

# A run counts as stalled when nothing arrived for this long, or for this many of its
# usual gaps between records, whichever is longer (slow loggers must not look stalled).
STALL_MIN_SECONDS = 15.0
STALL_INTERVALS = 5.0


class DiagnoserLike(Protocol):
    """The part of ``gradtop.diagnosis.Diagnoser`` the viewer relies on."""

    def update(self, run: RunHistory) -> list[Finding]: ...


class RunClock:
    """Recent (record time, step) pairs of one run: the pace and the usual gap."""

    def __init__(self, keep: int = 64) -> None:
        self._times: deque[float] = deque(maxlen=keep)
        self._steps: deque[int] = deque(maxlen=keep)

    def add(self, time: float, step: int) -> None:
        self._times.append(time)
        self._steps.append(step)

    def steps_per_second(self) -> float | None:
        if len(self._times) < 2:
            return None
        dt = self._times[-1] - self._times[0]
        ds = self._steps[-1] - self._steps[0]
        if dt <= 0 or ds <= 0:
            return None
        return ds / dt

    def typical_interval(self) -> float | None:
        """Median gap between records (robust to one pause for evaluation)."""
        if len(self._times) < 2:
            return None
        times = list(self._times)
        gaps = [b - a for a, b in itertools.pairwise(times) if b >= a]
        return statistics.median(gaps) if gaps else None


@dataclass(frozen=True, slots=True)
class Liveness:
    """Whether a run is still writing, judged against the viewer's own clock."""

    state: str  # "live", "stalled", "finished", "starting"
    age: float | None  # seconds since the run's newest record (None: unknown)
    detail: str = ""  # e.g. the end reason


def liveness(run: RunHistory, clock: RunClock | None, now: float) -> Liveness:
    if run.end is not None:
        return Liveness("finished", max(0.0, now - run.end.time), run.end.reason)
    last = run.last_time if run.last_time is not None else run.header.time
    age = now - last
    if not math.isfinite(age):
        return Liveness("live", None)
    age = max(0.0, age)  # a writer whose clock runs ahead must not look "from the future"
    typical = clock.typical_interval() if clock is not None else None
    limit = max(STALL_MIN_SECONDS, STALL_INTERVALS * (typical or 0.0))
    if age > limit:
        return Liveness("stalled", age)
    return Liveness("starting" if run.steps == 0 else "live", age)


class WatchModel:
    """History of one file plus the findings and pace of each run in it.

    ``add`` only records; ``diagnose`` runs the diagnosis for the runs that grew since
    its last call. They are separate because a diagnosis of hundreds of layers costs
    tens of milliseconds: the reader worker calls it about once a second, not per record.
    """

    def __init__(self, make_diagnoser: Callable[[], DiagnoserLike] | None = None) -> None:
        self.history = History()
        self.findings: dict[str, list[Finding]] = {}
        self.clocks: dict[str, RunClock] = {}
        self.diagnosis_error = ""
        self.generation = 0
        self.lock = threading.RLock()
        self._make_diagnoser = make_diagnoser
        self._diagnosers: dict[str, DiagnoserLike] = {}
        self._diagnosed_steps: dict[str, int] = {}  # run id -> its steps at the last diagnosis
        self._undiagnosed: set[str] = set()

    def add(self, records: Iterable[Record]) -> set[str]:
        """Feed records in file order; returns the run ids that changed."""
        touched: set[str] = set()
        runs = self.history.runs
        for record in records:
            rid = record.run_id
            before = runs.get(rid)
            self.history.add(record)
            run = runs.get(rid)
            if run is not before and run is not None:
                # A new run: a header, the same id with another parameter list, or steps
                # that started over after a repeated header (History decides at that
                # step). A repeated header of the same run going on (the Logger reopening
                # a rotated file) keeps its clock, findings and diagnoser.
                self.clocks[rid] = RunClock()
                self.findings.pop(rid, None)
                self._diagnosers.pop(rid, None)
                self._diagnosed_steps.pop(rid, None)
            if isinstance(record, Step) and run is not None:
                self.clocks.setdefault(rid, RunClock()).add(record.time, record.step)
                if run.steps - self._diagnosed_steps.get(rid, 0) >= REPLAY_EVERY:
                    self._diagnose(run)  # while reading, as gradtop check does
            if run is not None:
                touched.add(rid)
        # Runs evicted from the bounded history take their side tables with them.
        for table in (self.findings, self.clocks, self._diagnosers, self._diagnosed_steps):
            for rid in [r for r in table if r not in self.history.runs]:
                del table[rid]
        self._undiagnosed |= touched
        if touched:
            self.generation += 1
        return touched

    @property
    def diagnosis_due(self) -> bool:
        return bool(self._undiagnosed)

    def diagnose(self) -> None:
        """Bring the findings of every run that grew since the last call up to date."""
        pending, self._undiagnosed = self._undiagnosed, set()
        for rid in pending:
            run = self.history.runs.get(rid)
            if run is not None:
                self._diagnose(run)
        if pending:
            self.generation += 1

    def _diagnose(self, run: RunHistory) -> None:
        if self._make_diagnoser is None:
            return
        self._diagnosed_steps[run.run_id] = run.steps
        diagnoser = self._diagnosers.get(run.run_id)
        if diagnoser is None:
            diagnoser = self._diagnosers[run.run_id] = self._make_diagnoser()
        try:
            self.findings[run.run_id] = list(diagnoser.update(run))
            self.diagnosis_error = ""
        except Exception as exc:  # a diagnosis bug must not take the live view down with it
            self.diagnosis_error = f"diagnosis failed: {type(exc).__name__}: {exc}"

    def run(self, run_id: str | None) -> RunHistory | None:
        """The run with this id, or the newest run when ``run_id`` is None or gone."""
        if run_id is not None and run_id in self.history.runs:
            return self.history.runs[run_id]
        return self.history.current

"""One reading session: the runs read from each source, their findings and their pace.

``gradtop check``, ``gradtop watch``, the scenario scorecard and the headless demo all
read a log the same way: records into a History, one Diagnoser per run, the findings
kept up to date at one cadence, a new run told from the same run going on. This is that
logic, written once. No I/O and no clock of its own: callers feed records (from a
FileReader or anything else) and say what time it is, so it is tested like any pure code.

Sources: records are fed under a source id (a path today). Each source has its own
History, so several files, or several runs of one file, can be held and compared at once.

Cadence, in one unit (logged steps): while records are fed, a run is re-diagnosed every
``diagnose_every`` new logged steps (``REPLAY_EVERY``, or the run's Diagnoser's shorter
``replay_every`` for a small window), so its replay sees every row and the step a finding
is reported at does not depend on batch sizes. A consumer about to report or draw asks
for up-to-date findings (``findings`` or ``refresh``), which diagnoses whatever grew
since. How often it draws (the viewer: about once a second) is the consumer's business,
not a diagnosis cadence.

Run events (``Fed.events``), decided by History and read off it here:
``started`` a run id not held before; ``continued`` its header again with the same
parameter list (a Logger reopening a rotated path, a reader reading a file again): the
run's history, findings and pace stay; ``restarted`` the same id with another parameter
list, or steps that went back after a repeated header (so a ``continued`` can be followed
by a ``restarted`` at the next step): the old history is gone and the run starts afresh;
``ended`` its end record; ``forgotten`` evicted from the bounded History.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gradtop.diagnosis import Diagnoser
from gradtop.diagnosis.diagnoser import REPLAY_EVERY
from gradtop.diagnosis.findings import Finding
from gradtop.history import MAX_RUNS, History, RunHistory
from gradtop.records import End, Header, Record, Step

DIAGNOSE_EVERY = REPLAY_EVERY  # logged steps of a run between diagnoses while feeding

# Run events (``RunEvent.kind``).
STARTED = "started"
CONTINUED = "continued"
RESTARTED = "restarted"
ENDED = "ended"
FORGOTTEN = "forgotten"

# A run counts as stalled when nothing arrived for this long, or for this many of its
# usual gaps between records, whichever is longer (slow loggers must not look stalled).
STALL_MIN_SECONDS = 15.0
STALL_INTERVALS = 5.0


class DiagnoserLike(Protocol):
    """The part of ``gradtop.diagnosis.Diagnoser`` a session relies on."""

    def update(self, run: RunHistory, *, force: bool = False) -> list[Finding]: ...


# ---------------------------------------------------------------------------- pace


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
    """Whether a run is still writing, judged against the reader's own clock."""

    state: str  # "live", "stalled", "finished", "starting", "dead"
    age: float | None  # seconds since the run's newest record (None: unknown)
    detail: str = ""  # the end reason; for "dead", the writer's pid


# ``(host, pid, header time) -> alive``: True, False (the writer process is gone) or None
# (cannot tell: another host, no pid). ``gradtop.reader.writer_probe.WriterProbe`` asks
# the system; injected so that this stays pure and tests can say what a probe answers.
WriterAlive = Callable[[str, int, float], bool | None]


def liveness(
    run: RunHistory,
    clock: RunClock | None,
    now: float,
    last_seen: float | None = None,
    writer_alive: WriterAlive | None = None,
) -> Liveness:
    """``last_seen``: a later sign of life than the newest record read, on ``now``'s clock
    (the viewer saw the file grow while paused and not reading it). ``writer_alive``: a
    probe of the header's process; a writer known gone is "dead" at once, whatever the
    records' age (an end record still says "finished": the run closed, then exited)."""
    if run.end is not None:
        return Liveness("finished", max(0.0, now - run.end.time), run.end.reason)
    last = run.last_time if run.last_time is not None else run.header.time
    if last_seen is not None and math.isfinite(last_seen):
        last = max(last, last_seen) if math.isfinite(last) else last_seen
    age = now - last
    header = run.header
    if writer_alive is not None and writer_alive(header.host, header.pid, header.time) is False:
        return Liveness("dead", max(0.0, age) if math.isfinite(age) else None, str(header.pid))
    if not math.isfinite(age):
        return Liveness("live", None)
    age = max(0.0, age)  # a writer whose clock runs ahead must not look "from the future"
    typical = clock.typical_interval() if clock is not None else None
    limit = max(STALL_MIN_SECONDS, STALL_INTERVALS * (typical or 0.0))
    if age > limit:
        return Liveness("stalled", age)
    return Liveness("starting" if run.steps == 0 else "live", age)


# ---------------------------------------------------------------------------- session


@dataclass(frozen=True, slots=True)
class RunEvent:
    source: str
    run_id: str
    kind: str  # STARTED, CONTINUED, RESTARTED, ENDED or FORGOTTEN


@dataclass(frozen=True, slots=True)
class Fed:
    """What one ``Session.feed`` call changed."""

    source: str
    runs: frozenset[str]  # ids of the runs that took a record
    events: tuple[RunEvent, ...]


@dataclass
class _Run:
    """What a session keeps next to one run's history."""

    clock: RunClock = field(default_factory=RunClock)
    diagnoser: DiagnoserLike | None = None
    every: int = DIAGNOSE_EVERY  # logged steps between diagnoses while feeding
    findings: list[Finding] | None = None  # as of the last diagnosis (None: none yet)
    diagnosed_steps: int = 0  # the run's logged steps at its last diagnosis
    due: bool = False  # took records since its last diagnosis


@dataclass
class _Source:
    history: History
    runs: dict[str, _Run] = field(default_factory=dict)


class Session:
    """Histories per source, one Diagnoser per run, findings at one cadence, run events.

    ``make_diagnoser`` makes each run's Diagnoser (None: no diagnosis, findings stay
    empty). A diagnosis that raises propagates, unless ``contain_errors``: then the
    run keeps its previous findings and ``diagnosis_error`` says what failed (a live view
    must not die of a rule's bug; a CI check must not pass because of one).

    Not thread-safe: a consumer sharing it between threads holds its own lock (the
    viewer's ``WatchModel``).
    """

    def __init__(
        self,
        make_diagnoser: Callable[[], DiagnoserLike] | None = Diagnoser,
        *,
        diagnose_every: int = DIAGNOSE_EVERY,
        contain_errors: bool = False,
        max_runs: int = MAX_RUNS,
    ) -> None:
        if diagnose_every < 1:
            raise ValueError("diagnose_every must be at least one logged step")
        self.diagnose_every = diagnose_every
        self.diagnosis_error = ""
        self._make_diagnoser = make_diagnoser
        self._contain_errors = contain_errors
        self._max_runs = max_runs
        self._sources: dict[str, _Source] = {}

    # ------------------------------------------------------------------ sources

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def history(self, source: str) -> History:
        """The History of ``source`` (an empty one when nothing was fed from it yet)."""
        return self._source(source).history

    def forget(self, source: str) -> None:
        """Drop everything read from ``source`` (a file that went away from a directory)."""
        self._sources.pop(source, None)

    def _source(self, source: str) -> _Source:
        held = self._sources.get(source)
        if held is None:
            held = self._sources[source] = _Source(History(self._max_runs))
        return held

    # ------------------------------------------------------------------ feeding

    def feed(self, source: str, records: Iterable[Record]) -> Fed:
        """Records of ``source`` in file order: into its History, diagnosed at the cadence."""
        held = self._source(source)
        history, states = held.history, held.runs
        runs = history.runs
        touched: set[str] = set()
        events: list[RunEvent] = []
        for record in records:
            rid = record.run_id
            before = runs.get(rid)
            if isinstance(record, Step) and before is not None and before.roles_change(record):
                # Parameters unfrozen or added to the optimizer: the steps before this one
                # are diagnosed with the roles they were logged under.
                state = states.get(rid)
                if state is not None and before.steps > state.diagnosed_steps:
                    self._diagnose(before, state)
            history.add(record)
            run = runs.get(rid)
            if run is None:  # a step or end of a run never seen (History counts orphans)
                continue
            if run is not before:
                # A new run, or a new run under an old id: its pace, findings and
                # Diagnoser start afresh.
                states[rid] = self._new_run()
                events.append(RunEvent(source, rid, STARTED if before is None else RESTARTED))
                for gone in [r for r in states if r not in runs]:  # evicted by the new run
                    del states[gone]
                    events.append(RunEvent(source, gone, FORGOTTEN))
            elif isinstance(record, Header):
                events.append(RunEvent(source, rid, CONTINUED))
            state = states.get(rid)
            if state is None:  # a run fed into this History behind the session's back
                state = states[rid] = self._new_run()
            state.due = True
            touched.add(rid)
            if isinstance(record, Step):
                state.clock.add(record.time, record.step)
                if run.steps - state.diagnosed_steps >= state.every:
                    self._diagnose(run, state)
            elif isinstance(record, End):
                events.append(RunEvent(source, rid, ENDED))
        return Fed(source, frozenset(touched), tuple(events))

    # ------------------------------------------------------------------ findings

    def due(self, source: str | None = None) -> bool:
        """Whether a run (of ``source``, or of any source) took records since its diagnosis."""
        return any(state.due for _, _, state in self._states(source))

    def refresh(self, source: str | None = None) -> list[tuple[str, str]]:
        """Diagnose every run that took records since its last diagnosis (of ``source``,
        or of every source); the (source, run id) of each run that was due."""
        done: list[tuple[str, str]] = []
        for src, rid, state in self._states(source):
            if state.due:
                run = self._sources[src].history.runs.get(rid)
                if run is not None:
                    self._diagnose(run, state)
                done.append((src, rid))
        return done

    def findings(self, source: str, run_id: str) -> list[Finding]:
        """The run's findings, up to date (diagnosed now if it took records since)."""
        held = self._sources.get(source)
        run = held.history.runs.get(run_id) if held is not None else None
        if held is None or run is None:
            return []
        state = held.runs.get(run_id)
        if state is None:
            state = held.runs[run_id] = self._new_run(due=True)
        if state.due:
            self._diagnose(run, state)
        return list(state.findings or [])

    def diagnosed(self, source: str) -> dict[str, list[Finding]]:
        """Findings as of each run's last diagnosis, without diagnosing (cheap: for drawing);
        runs not diagnosed yet are absent."""
        held = self._sources.get(source)
        if held is None:
            return {}
        return {rid: s.findings for rid, s in held.runs.items() if s.findings is not None}

    def _states(self, source: str | None) -> Iterable[tuple[str, str, _Run]]:
        sources = self._sources if source is None else {source: self._sources.get(source)}
        for src, held in list(sources.items()):
            if held is not None:
                for rid, state in list(held.runs.items()):
                    yield src, rid, state

    def _new_run(self, due: bool = False) -> _Run:
        """A run's state, with its Diagnoser: a Diagnoser whose thresholds need a shorter
        replay than ``diagnose_every`` (a smaller ``window``) says so (``replay_every``)."""
        diagnoser = self._make_diagnoser() if self._make_diagnoser is not None else None
        every = self.diagnose_every
        most = getattr(diagnoser, "replay_every", None)
        if isinstance(most, int):
            every = max(1, min(every, most))
        return _Run(diagnoser=diagnoser, every=every, due=due)

    def _diagnose(self, run: RunHistory, state: _Run) -> None:
        state.diagnosed_steps = run.steps
        state.due = False
        if state.diagnoser is None:
            return
        try:
            state.findings = list(state.diagnoser.update(run, force=True))
            self.diagnosis_error = ""
        except Exception as exc:
            if not self._contain_errors:
                raise
            self.diagnosis_error = f"diagnosis failed: {type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ runs and pace

    def run(self, source: str, run_id: str | None = None) -> RunHistory | None:
        """The run with this id (None when it is not held), or the newest when no id."""
        held = self._sources.get(source)
        if held is None:
            return None
        runs = held.history.runs
        return held.history.current if run_id is None else runs.get(run_id)

    def runs_matching(self, source: str, ref: str) -> list[str]:
        """Ids of the held runs that ``ref`` names, the first rule that matches winning:
        the id itself; the runs of that exact name (``Logger(name=)``); every id that
        starts or ends with it (the header shows a shortened id; a person types a part);
        every run whose name starts with it. More than one id back is ambiguous: the
        caller says so."""
        held = self._sources.get(source)
        if held is None or not ref:
            return []
        runs = held.history.runs
        if ref in runs:
            return [ref]
        named = [rid for rid, run in runs.items() if run.header.name == ref]
        if named:
            return named
        parts = [rid for rid in runs if rid.startswith(ref) or rid.endswith(ref)]
        if parts:
            return parts
        return [rid for rid, run in runs.items() if run.header.name.startswith(ref)]

    def clocks(self, source: str) -> Mapping[str, RunClock]:
        held = self._sources.get(source)
        return {} if held is None else {rid: s.clock for rid, s in held.runs.items()}

    def liveness(
        self, source: str, run_id: str, now: float, writer_alive: WriterAlive | None = None
    ) -> Liveness | None:
        """Whether the run is still writing, as of ``now`` (None when it is not held)."""
        run = self.run(source, run_id)
        if run is None:
            return None
        state = self._sources[source].runs.get(run_id)
        clock = state.clock if state is not None else None
        return liveness(run, clock, now, writer_alive=writer_alive)

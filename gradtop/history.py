"""Bounded history of a run: what the diagnosis reasons over and the UI draws.

Memory must not grow with the length of the log. Each statistic is a ``Table`` of rows
(one row per logged step, one column per parameter tensor or a single column for a
scalar): the newest rows are kept at full resolution in a ring, older rows are folded
into a decimated archive whose buckets keep min, max and last, so a spike from a
100k-step-old record still shows on a 40-character sparkline.

Missing values (a parameter with no gradient) are stored as NaN in the value arrays and
flagged in a separate mask, because NaN in a gradient is itself a finding and must never
be confused with "no data".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from gradtop.records import End, Header, ParamInfo, Record, Step

RECENT_ROWS = 1024
ARCHIVE_BUCKETS = 512
MAX_RUNS = 16
HIST_ROWS = 256

FloatArray = np.ndarray


def _to_array(row: Sequence[float | None], n_cols: int) -> tuple[FloatArray, FloatArray]:
    """A row with None as NaN, plus the mask of which entries were missing."""
    values = np.array([np.nan if v is None else v for v in row], dtype=np.float64)
    if values.shape != (n_cols,):
        raise ValueError(f"row of {values.shape[0]} values for a table of {n_cols} columns")
    missing = np.fromiter((v is None for v in row), dtype=bool, count=n_cols)
    return values, missing


@dataclass(frozen=True, slots=True)
class Column:
    """One column resampled for drawing: per point, the step span and min/max/last."""

    first_step: np.ndarray
    last_step: np.ndarray
    low: np.ndarray
    high: np.ndarray
    last: np.ndarray
    any_nan: np.ndarray

    def __len__(self) -> int:
        return int(self.last.shape[0])


class Table:
    """Rows of one statistic over steps, bounded to ``recent + archive`` rows of memory."""

    def __init__(self, n_cols: int, recent: int = RECENT_ROWS, archive: int = ARCHIVE_BUCKETS):
        if recent < 2 or archive < 2:
            raise ValueError("recent and archive sizes must be at least 2")
        self.n_cols = n_cols
        self._cap = recent
        self._steps = np.zeros(recent, dtype=np.int64)
        self._values = np.full((recent, n_cols), np.nan)
        self._missing = np.zeros((recent, n_cols), dtype=bool)
        self._start = 0  # ring index of the oldest recent row
        self._size = 0
        self.total_rows = 0
        # Archive: buckets of `_bucket_rows` rows each, oldest first; merged pairwise when full.
        self._arch_cap = archive
        self._arch_size = 0
        self._bucket_rows = 1
        self._pending = 0  # rows folded into the (unfinished) newest archive bucket
        self._a_first = np.zeros(archive, dtype=np.int64)
        self._a_last_step = np.zeros(archive, dtype=np.int64)
        self._a_low = np.full((archive, n_cols), np.nan)
        self._a_high = np.full((archive, n_cols), np.nan)
        self._a_last = np.full((archive, n_cols), np.nan)
        self._a_nan = np.zeros((archive, n_cols), dtype=bool)

    def __len__(self) -> int:
        return self.total_rows

    # ------------------------------------------------------------------ writing

    def append(self, step: int, row: Sequence[float | None] | FloatArray) -> None:
        """Add one row; ``row`` may hold None for missing values."""
        if isinstance(row, np.ndarray):
            values, missing = row.astype(np.float64, copy=False), np.zeros(self.n_cols, bool)
        else:
            values, missing = _to_array(row, self.n_cols)
        if self._size == self._cap:
            self._archive_oldest()
        idx = (self._start + self._size) % self._cap
        self._steps[idx] = step
        self._values[idx] = values
        self._missing[idx] = missing
        self._size += 1
        self.total_rows += 1

    def _archive_oldest(self) -> None:
        i = self._start
        step, values = int(self._steps[i]), self._values[i]
        self._start = (self._start + 1) % self._cap
        self._size -= 1
        nan = np.isnan(values) & ~self._missing[i]
        if self._pending == 0:
            if self._arch_size == self._arch_cap:
                self._halve_archive()
            b = self._arch_size
            self._arch_size += 1
            self._a_first[b] = step
            self._a_low[b] = values
            self._a_high[b] = values
            self._a_nan[b] = nan
        else:
            b = self._arch_size - 1
            # fmin/fmax ignore NaN, so a NaN never hides a finite extreme; Inf survives as max.
            np.fmin(self._a_low[b], values, out=self._a_low[b])
            np.fmax(self._a_high[b], values, out=self._a_high[b])
            self._a_nan[b] |= nan
        self._a_last_step[b] = step
        self._a_last[b] = values
        self._pending = (self._pending + 1) % self._bucket_rows

    def _halve_archive(self) -> None:
        """Merge neighbouring buckets pairwise: resolution halves, range is kept."""
        n = self._arch_size // 2
        lo, hi = slice(0, 2 * n, 2), slice(1, 2 * n, 2)
        self._a_first[:n] = self._a_first[lo]
        self._a_last_step[:n] = self._a_last_step[hi]
        self._a_low[:n] = np.fmin(self._a_low[lo], self._a_low[hi])
        self._a_high[:n] = np.fmax(self._a_high[lo], self._a_high[hi])
        self._a_last[:n] = self._a_last[hi]
        self._a_nan[:n] = self._a_nan[lo] | self._a_nan[hi]
        if self._arch_size % 2:  # an odd bucket out stays as the newest
            self._a_first[n] = self._a_first[self._arch_size - 1]
            self._a_last_step[n] = self._a_last_step[self._arch_size - 1]
            for arr in (self._a_low, self._a_high, self._a_last, self._a_nan):
                arr[n] = arr[self._arch_size - 1]
            n += 1
        self._arch_size = n
        self._bucket_rows *= 2
        self._pending = 0

    # ------------------------------------------------------------------ reading

    def _order(self) -> np.ndarray:
        return (self._start + np.arange(self._size)) % self._cap

    def recent(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The newest ``n`` full-resolution rows, oldest first: (steps, values[n, cols])."""
        order = self._order()
        if n is not None:
            order = order[max(0, len(order) - n) :]
        return self._steps[order], self._values[order]

    def recent_missing(self, n: int | None = None) -> np.ndarray:
        order = self._order()
        if n is not None:
            order = order[max(0, len(order) - n) :]
        return self._missing[order]

    def last(self) -> np.ndarray | None:
        """The newest row (NaN where missing), or None before the first row."""
        if self._size == 0:
            return None
        return self._values[(self._start + self._size - 1) % self._cap]

    def last_step(self) -> int | None:
        if self._size == 0:
            return None
        return int(self._steps[(self._start + self._size - 1) % self._cap])

    def column(self, col: int, width: int | None = None) -> Column:
        """Column ``col`` over the whole history, resampled to at most ``width`` points.

        Resampling keeps min and max of each span, so spikes and non-finite values survive.
        """
        n_arch = self._arch_size
        order = self._order()
        steps = self._steps[order]
        v = self._values[order, col]  # one column only: copying every column costs ~100x
        nan = np.isnan(v) & ~self._missing[order, col]
        first = np.concatenate([self._a_first[:n_arch], steps])
        last_step = np.concatenate([self._a_last_step[:n_arch], steps])
        low = np.concatenate([self._a_low[:n_arch, col], v])
        high = np.concatenate([self._a_high[:n_arch, col], v])
        last = np.concatenate([self._a_last[:n_arch, col], v])
        any_nan = np.concatenate([self._a_nan[:n_arch, col], nan])
        if width is None or len(last) <= width:
            return Column(first, last_step, low, high, last, any_nan)
        return _resample(Column(first, last_step, low, high, last, any_nan), width)


def _resample(col: Column, width: int) -> Column:
    """Fold points into ``width`` contiguous groups (min of lows, max of highs, last last)."""
    edges = np.linspace(0, len(col), width + 1).astype(np.int64)
    starts, ends = edges[:-1], edges[1:] - 1
    with np.errstate(invalid="ignore"):
        low = np.fmin.reduceat(col.low, starts)
        high = np.fmax.reduceat(col.high, starts)
    any_nan = np.logical_or.reduceat(col.any_nan, starts)
    return Column(col.first_step[starts], col.last_step[ends], low, high, col.last[ends], any_nan)


# ---------------------------------------------------------------------------- runs

LOSS = "loss"
LR = "lr"
TOTAL_GRAD_NORM = "total_grad_norm"
LOSS_SCALE = "loss_scale"
STEP_TIME = "step_time"


@dataclass(slots=True)
class NonFinite:
    """Where non-finite gradients first appeared: the step and the parameters, depth order."""

    step: int
    params: tuple[int, ...]


@dataclass
class RunHistory:
    """Everything kept about one run (one header and the steps that follow it)."""

    header: Header
    stats: dict[str, Table] = field(default_factory=dict)
    scalars: dict[str, Table] = field(default_factory=dict)
    hist: list[tuple[int, list[list[int] | None]]] = field(default_factory=list)
    steps: int = 0
    first_step: int | None = None
    last_step: int | None = None
    last_time: float | None = None
    last_seq: int = 0
    seq_gaps: int = 0
    end: End | None = None
    first_nonfinite: NonFinite | None = None
    first_nonfinite_loss: int | None = None

    @property
    def run_id(self) -> str:
        return self.header.run_id

    @property
    def params(self) -> tuple[ParamInfo, ...]:
        return self.header.params

    def add_step(self, step: Step) -> None:
        n = len(self.header.params)
        for name, values in step.stats.items():
            table = self.stats.get(name)
            if table is None:
                table = self.stats[name] = Table(n)
            table.append(step.step, values)
        self._add_scalar(LOSS, step.step, step.loss)
        if step.lr:
            self._add_scalar(LR, step.step, step.lr[0])
        self._add_scalar(TOTAL_GRAD_NORM, step.step, step.total_grad_norm)
        self._add_scalar(LOSS_SCALE, step.step, step.loss_scale)
        self._add_scalar(STEP_TIME, step.step, step.step_time)
        for name, value in step.scalars.items():
            self._add_scalar(name, step.step, value)
        if step.hist is not None:
            self.hist.append((step.step, step.hist))
            if len(self.hist) > HIST_ROWS:
                del self.hist[: len(self.hist) - HIST_ROWS]
        self._note_nonfinite(step)
        if self.last_seq and step.seq > self.last_seq + 1:
            self.seq_gaps += 1
        self.last_seq = max(self.last_seq, step.seq)
        self.steps += 1
        if self.first_step is None:
            self.first_step = step.step
        self.last_step = step.step
        self.last_time = step.time

    def _add_scalar(self, name: str, step: int, value: float | None) -> None:
        table = self.scalars.get(name)
        if value is None and table is None:
            return  # never create a series that has only ever been missing
        if table is None:
            table = self.scalars[name] = Table(1)
        table.append(step, [value])

    def _note_nonfinite(self, step: Step) -> None:
        loss = step.loss
        if self.first_nonfinite_loss is None and loss is not None and not np.isfinite(loss):
            self.first_nonfinite_loss = step.step
        if self.first_nonfinite is not None:
            return
        counts = step.stats.get("nonfinite")
        bad: Iterable[int] = ()
        if counts is not None:
            bad = [i for i, c in enumerate(counts) if c is not None and c != 0]
        else:
            norms = step.stats.get("grad_norm", [])
            bad = [i for i, g in enumerate(norms) if g is not None and not np.isfinite(g)]
        bad = tuple(bad)
        if bad:
            self.first_nonfinite = NonFinite(step.step, bad)

    def modules(self) -> OrderedDict[str, list[int]]:
        """Parameter indices grouped by owning module, in depth order (per-layer views)."""
        groups: OrderedDict[str, list[int]] = OrderedDict()
        for i, p in enumerate(self.header.params):
            groups.setdefault(p.module, []).append(i)
        return groups


class History:
    """All runs read from one file, newest last; at most ``max_runs`` are kept."""

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        self.runs: OrderedDict[str, RunHistory] = OrderedDict()
        self.max_runs = max_runs
        self.orphans = 0  # step/end records whose run's header was never seen
        self.continued = 0  # repeated headers that continued their run (a Logger reopening)
        self.restarted = 0  # same run id, other parameter list: the old history was dropped

    @property
    def current(self) -> RunHistory | None:
        return next(reversed(self.runs.values())) if self.runs else None

    def n_params_for(self, run_id: str) -> int | None:
        """The parameter count a step of ``run_id`` must match (None if unknown)."""
        run = self.runs.get(run_id)
        return None if run is None else len(run.header.params)

    def add(self, record: Record) -> None:
        """Route one decoded record to its run. Never raises on well-typed records."""
        if isinstance(record, Header):
            self._add_header(record)
            return
        run = self.runs.get(record.run_id)
        if run is None:
            self.orphans += 1
            return
        if isinstance(record, Step):
            run.add_step(record)
        else:
            run.end = record

    def _add_header(self, header: Header) -> None:
        """A header for a run already read continues it when its parameter list is the same.

        The Logger writes its header again, unchanged, whenever it reopens the path after
        a rotation or deletion, so the steps that follow are the same run going on: its
        history must stay. A header with the same run id but another parameter list
        cannot belong to the same run (its steps would not fit the tables): it starts
        the run afresh, and ``restarted`` counts that so a report can say so.
        """
        run = self.runs.get(header.run_id)
        if run is not None and run.header.params == header.params:
            run.header = header
            run.end = None  # the writer is writing again: whatever "end" said is over
            self.runs.move_to_end(header.run_id)  # the newest header's run is current
            self.continued += 1
            return
        if run is not None:
            del self.runs[header.run_id]
            self.restarted += 1
        self.runs[header.run_id] = RunHistory(header)
        while len(self.runs) > self.max_runs:
            self.runs.popitem(last=False)

    def extend(self, records: Iterable[Record]) -> None:
        for record in records:
            self.add(record)

"""Bounded history of a run: what the diagnosis reasons over and the UI draws.

Memory must not grow with the length of the log. Each statistic is a ``Table`` of rows
(one row per logged step, one column per parameter tensor or a single column for a
scalar): the newest rows are kept at full resolution in a ring, older rows are folded
into a decimated archive whose buckets keep min, max and last, so a spike from a
100k-step-old record still shows on a 40-character sparkline.

Missing values (a parameter with no gradient) are stored as NaN in the value arrays and
flagged in a separate mask, because NaN in a gradient is itself a finding and must never
be confused with "no data".

Memory follows the data actually read, never what a line claims: tables start small and
grow as rows arrive; only the format's statistics get tables; a run keeps at most
``MAX_SCALARS`` user scalar series and a bounded number of histogram counts; runs older
than the newest ``FULL_RUNS`` are compacted to a coarse summary. Whatever a run's steps
carried that was not kept is counted in ``ignored`` (``gradtop check`` shows it).
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from gradtop.records import PARAM_STATS, End, Header, ParamInfo, Record, Step

RECENT_ROWS = 1024
ARCHIVE_BUCKETS = 512
MAX_RUNS = 16
HIST_ROWS = 256
# Tables start with room for this many rows and double as rows arrive: a run of three
# steps over 500 tensors must not cost what a run of a million steps does.
INITIAL_ROWS = 16
# Statistic names that get a table: the format's. A reader ignores others (docs/format.md),
# and a table per name would let one line of 20,000 invented names take gigabytes.
KNOWN_STATS = frozenset(PARAM_STATS)
# User scalar series per run (log(**scalars)); names past this are counted, not kept.
MAX_SCALARS = 64
# Histogram counts kept per run (all rows together): the oldest rows go first past it.
HIST_MAX_VALUES = 1 << 18
MAX_HIST_BINS = 1025
# Runs beyond the newest FULL_RUNS keep only COMPACT_ROWS recent rows and COMPACT_BUCKETS
# archive buckets per table (their sparklines stay; their fine detail goes), no histogram.
FULL_RUNS = 4
COMPACT_ROWS = 64
COMPACT_BUCKETS = 32
# Rows that leave the ring wait in a small buffer (at most this many, and an eighth of the
# ring) and fold into the archive together: folding them one by one cost a dozen numpy
# calls per row per table, the largest part of reading a long log.
STAGE_ROWS = 64
# Rows appended as lists wait, unconverted, until a table holds this many or is read, and
# then convert and go into the ring together: converting and storing them one by one
# (a dozen tables per step) was most of ``gradtop check``'s time on a big log.
PENDING_ROWS = 64

# Keys of ``RunHistory.ignored``: values a step carried that the history did not keep.
IGNORED_STAT = "unknown_stat"  # a statistic name the format does not define
IGNORED_SCALAR = "scalar_limit"  # a user scalar past MAX_SCALARS names in its run
IGNORED_SCALAR_NAME = "scalar_name"  # a user scalar named like a built-in series (loss...)
IGNORED_HIST = "hist"  # a histogram not shaped like the header's parameters and bins

FloatArray = np.ndarray


def _to_array(
    row: Sequence[float | None], n_cols: int
) -> tuple[FloatArray | float, FloatArray | bool]:
    """A row with None as NaN, plus which entries were missing (one bool when all agree).

    Runs in C, with no Python per value: ``gradtop check`` of a big log converts a row
    per statistic per step, and the Logger writes the slow statistics as all-null rows
    on 9 of 10 steps. numpy reads None as NaN; where nulls and numbers mix, comparing
    an object array with None tells the missing entries from a NaN that was logged.
    """
    if not isinstance(row, list | tuple):
        row = list(row)
    if n_cols == 1 and len(row) == 1 and (row[0] is None or type(row[0]) is float):
        return (np.nan, True) if row[0] is None else (row[0], False)  # a scalar series
    nulls = row.count(None)
    if nulls and nulls == len(row) == n_cols:
        return np.nan, True  # broadcast into the row: nothing to convert
    values = np.array(row, dtype=np.float64)
    if values.shape != (n_cols,):
        raise ValueError(f"row of {values.shape[0]} values for a table of {n_cols} columns")
    if not nulls:
        return values, False
    return values, np.equal(np.array(row, dtype=object), None)


def _regrown(old: np.ndarray, rows: int, keep: int, fill: object) -> np.ndarray:
    """``old`` with ``rows`` rows (same dtype and columns), its first ``keep`` rows copied."""
    out = np.full((rows, *old.shape[1:]), fill, dtype=old.dtype)
    out[:keep] = old[:keep]
    return out


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
    """Rows of one statistic over steps, bounded to ``recent + archive`` rows of memory
    (plus at most ``STAGE_ROWS``, about an eighth of ``recent``, on their way between).

    Storage grows (doubling) up to those bounds as rows arrive, so a table costs what it
    holds; ``compact`` shrinks an old run's table to a coarse summary.
    """

    def __init__(self, n_cols: int, recent: int = RECENT_ROWS, archive: int = ARCHIVE_BUCKETS):
        if recent < 2 or archive < 2:
            raise ValueError("recent and archive sizes must be at least 2")
        self.n_cols = n_cols
        self._cap = recent  # most recent rows kept; storage (``_alloc``) grows up to it
        self._full = (recent, archive)  # the bounds ``expand`` restores after ``compact``
        self._alloc = min(recent, INITIAL_ROWS)
        self._steps = np.zeros(self._alloc, dtype=np.int64)
        self._values = np.full((self._alloc, n_cols), np.nan)
        self._missing = np.zeros((self._alloc, n_cols), dtype=bool)
        self._start = 0  # ring index of the oldest recent row
        self._size = 0
        self.total_rows = 0
        # Archive: buckets of `_bucket_rows` rows each, oldest first; merged pairwise when full.
        self._arch_cap = archive
        self._arch_size = 0
        self._bucket_rows = 1
        self._pending = 0  # rows folded into the (unfinished) newest archive bucket
        self._a_first = np.zeros(0, dtype=np.int64)
        self._a_last_step = np.zeros(0, dtype=np.int64)
        self._a_low = np.full((0, n_cols), np.nan)
        self._a_high = np.full((0, n_cols), np.nan)
        self._a_last = np.full((0, n_cols), np.nan)
        self._a_nan = np.zeros((0, n_cols), dtype=bool)  # allocated when rows first fold in
        # Rows out of the ring, oldest first, not yet folded into the archive (``_settle``).
        self._staged = 0
        self._s_steps = np.zeros(0, dtype=np.int64)
        self._s_values = np.full((0, n_cols), np.nan)
        self._s_missing = np.zeros((0, n_cols), dtype=bool)
        # Rows appended as lists, not converted yet (``_flush``): steps and rows, oldest first.
        self._p_steps: list[int] = []
        self._p_rows: list[list[float | None]] = []

    def __len__(self) -> int:
        return self.total_rows

    @property
    def nbytes(self) -> int:
        """Bytes of array storage held (what memory bounds are measured in)."""
        self._flush()
        arrays = (self._steps, self._values, self._missing, self._a_first, self._a_last_step)
        extra = (self._a_low, self._a_high, self._a_last, self._a_nan)
        staged = (self._s_steps, self._s_values, self._s_missing)
        return sum(a.nbytes for a in arrays + extra + staged)

    # ------------------------------------------------------------------ writing

    def append(self, step: int, row: Sequence[float | None] | FloatArray) -> None:
        """Add one row; ``row`` may hold None for missing values.

        A list of ``n_cols`` values (what decoded records hold) is kept as it is and
        converted later, with the rows after it (``_flush``): it must not change after
        this call. Anything else is converted now.
        """
        if type(row) is list and len(row) == self.n_cols:
            self._p_steps.append(step)
            self._p_rows.append(row)
            self.total_rows += 1
            if len(self._p_rows) >= PENDING_ROWS:
                self._flush()
            return
        self._flush()  # rows stay in order
        values: FloatArray | float
        missing: FloatArray | bool
        if isinstance(row, np.ndarray):
            values, missing = row.astype(np.float64, copy=False), False
        else:
            values, missing = _to_array(row, self.n_cols)
        if self._size == self._alloc:
            if self._alloc < self._cap:
                self._resize_ring(min(self._cap, 2 * self._alloc))
            else:
                self._stage_oldest(1)
        idx = (self._start + self._size) % self._alloc
        self._steps[idx] = step
        self._values[idx] = values
        self._missing[idx] = missing
        self._size += 1
        self.total_rows += 1

    def _flush(self) -> None:
        """Convert the pending rows together and store them, as appending each would.

        numpy reads None as NaN. A row that is all None is filled, not converted; only
        a converted row that came out with a NaN is compared with None for its mask, so
        a logged NaN (a finding) stays apart from a missing value (no data).
        """
        rows = self._p_rows
        if not rows:
            return
        steps = np.array(self._p_steps, dtype=np.int64)
        self._p_steps, self._p_rows = [], []
        n, c = len(rows), self.n_cols
        missing = np.zeros((n, c), dtype=bool)
        if c == 0:
            values = np.zeros((n, 0))
        elif c == 1:
            flat = [r[0] for r in rows]
            values = np.array(flat, dtype=np.float64).reshape(n, 1)
            for i in np.flatnonzero(np.isnan(values[:, 0])).tolist():
                missing[i, 0] = flat[i] is None
        else:
            empty = [r[0] is None and r.count(None) == c for r in rows]
            if not any(empty):
                values = np.array(rows, dtype=np.float64)
            else:
                values = np.full((n, c), np.nan)
                missing[empty] = True
                dense = [i for i, e in enumerate(empty) if not e]
                if dense:
                    values[dense] = np.array([rows[i] for i in dense], dtype=np.float64)
            for i in np.flatnonzero(np.isnan(values).any(axis=1)).tolist():
                if not empty[i]:
                    missing[i] = np.equal(np.array(rows[i], dtype=object), None)
        self._write(steps, values, missing)

    def _write(self, steps: np.ndarray, values: np.ndarray, missing: np.ndarray) -> None:
        """Store rows, oldest first, in slices: the ring and the staging buffer end up as
        appending the rows one at a time leaves them."""
        i, m = 0, len(steps)
        while i < m:
            if self._size == self._alloc:
                if self._alloc < self._cap:
                    self._resize_ring(min(self._cap, 2 * self._alloc))
                    continue
                k = self._stage_oldest(m - i)  # each row written pushes one out
            else:
                k = min(m - i, self._alloc - self._size)
            pos = (self._start + self._size) % self._alloc
            head = min(k, self._alloc - pos)
            pairs = ((self._steps, steps), (self._values, values), (self._missing, missing))
            for dst, src in pairs:
                dst[pos : pos + head] = src[i : i + head]
                if head < k:
                    dst[: k - head] = src[i + head : i + k]
            self._size += k
            i += k

    def compact(self, recent: int = COMPACT_ROWS, archive: int = COMPACT_BUCKETS) -> None:
        """Keep at most ``recent`` full rows and ``archive`` buckets, and free the rest.

        Older rows fold into the archive first, so min/max/last over the whole run (and a
        spike anywhere in it) survive; only resolution is lost.
        """
        recent, archive = max(2, recent), max(2, archive)
        self._flush()  # rows appended before fold under the bounds they came under
        self._settle()  # rows out of the ring fold under the bounds they left it under
        self._arch_cap = min(self._arch_cap, archive)
        while self._arch_size > self._arch_cap:
            self._halve_archive()
        while self._size > recent:
            self._stage_oldest(1)
        self._cap = min(self._cap, recent)
        self._settle()
        self._resize_ring(max(2, min(self._alloc, self._cap)))
        self._resize_archive(min(len(self._a_first), self._arch_cap))
        self._resize_stage(0)  # sized again for the smaller ring when rows next leave it

    def expand(self) -> None:
        """Allow full size again (a compacted run became current); storage grows as needed."""
        self._flush()
        self._settle()
        self._resize_stage(0)
        self._cap, self._arch_cap = self._full

    def _resize_ring(self, alloc: int) -> None:
        """New ring storage of ``alloc`` rows, the kept rows laid out oldest first from 0."""
        order = self._order()
        steps = np.zeros(alloc, dtype=np.int64)
        values = np.full((alloc, self.n_cols), np.nan)
        missing = np.zeros((alloc, self.n_cols), dtype=bool)
        steps[: self._size] = self._steps[order]
        values[: self._size] = self._values[order]
        missing[: self._size] = self._missing[order]
        self._steps, self._values, self._missing = steps, values, missing
        self._alloc, self._start = alloc, 0

    def _resize_archive(self, alloc: int) -> None:
        """Archive storage of ``alloc`` buckets, the ``_arch_size`` buckets in use kept."""
        n = self._arch_size
        self._a_first = _regrown(self._a_first, alloc, n, 0)
        self._a_last_step = _regrown(self._a_last_step, alloc, n, 0)
        self._a_low = _regrown(self._a_low, alloc, n, np.nan)
        self._a_high = _regrown(self._a_high, alloc, n, np.nan)
        self._a_last = _regrown(self._a_last, alloc, n, np.nan)
        self._a_nan = _regrown(self._a_nan, alloc, n, False)

    def _resize_stage(self, rows: int) -> None:
        """Staging storage of ``rows`` rows (only ever resized when nothing is staged)."""
        self._s_steps = np.zeros(rows, dtype=np.int64)
        self._s_values = np.full((rows, self.n_cols), np.nan)
        self._s_missing = np.zeros((rows, self.n_cols), dtype=bool)

    def _stage_oldest(self, want: int) -> int:
        """Move up to ``want`` of the oldest recent rows out of the ring, into the staging
        buffer (folding it first when it is full); how many moved."""
        if self._staged == len(self._s_steps):
            self._settle()
            if not len(self._s_steps):
                self._resize_stage(max(1, min(STAGE_ROWS, self._cap // 8)))
        i, k = self._start, self._staged
        n = min(want, len(self._s_steps) - k, self._size, self._alloc - i)  # one slice
        for dst, src in (
            (self._s_steps, self._steps),
            (self._s_values, self._values),
            (self._s_missing, self._missing),
        ):
            dst[k : k + n] = src[i : i + n]
        self._staged += n
        self._start = (i + n) % self._alloc
        self._size -= n
        return n

    def _settle(self) -> None:
        """Fold the staged rows into the archive (before anything reads or reshapes it)."""
        if self._staged:
            n, self._staged = self._staged, 0
            self._fold(self._s_steps[:n], self._s_values[:n], self._s_missing[:n])

    def _fold(self, steps: np.ndarray, values: np.ndarray, missing: np.ndarray) -> None:
        """Fold rows, oldest first, into the archive exactly as folding them one at a time.

        Rows go into the unfinished newest bucket until it holds ``_bucket_rows``, then
        into new buckets, as many at once as there is room for; a full archive is halved
        first. Each bucket's min and max are reduced in row order, from the bucket's own
        values on, so the result does not depend on how rows were batched.
        """
        nan = np.isnan(values) & ~missing
        i, m = 0, len(steps)
        while i < m:
            per = self._bucket_rows
            if self._pending:
                b, t = self._arch_size - 1, min(m - i, per - self._pending)
                rows = slice(i, i + t)
                # fmin/fmax ignore NaN, so a NaN never hides a finite extreme; Inf survives.
                self._a_low[b] = np.fmin.reduce(np.vstack((self._a_low[b], values[rows])))
                self._a_high[b] = np.fmax.reduce(np.vstack((self._a_high[b], values[rows])))
                self._a_nan[b] |= nan[rows].any(axis=0)
                self._a_last_step[b] = steps[i + t - 1]
                self._a_last[b] = values[i + t - 1]
                self._pending = (self._pending + t) % per
                i += t
                continue
            if self._arch_size == self._arch_cap:
                self._halve_archive()
                continue
            if self._arch_size == len(self._a_first):
                grown = max(INITIAL_ROWS, 2 * len(self._a_first))
                self._resize_archive(min(self._arch_cap, grown))
            room = min(len(self._a_first), self._arch_cap) - self._arch_size
            k = min(room, -(-(m - i) // per))  # new buckets: ceil(rows left / per), if room
            t = min(m - i, k * per)
            starts = np.arange(0, t, per)
            ends = np.minimum(starts + per, t) - 1 + i
            new, rows = slice(self._arch_size, self._arch_size + k), slice(i, i + t)
            self._a_first[new] = steps[starts + i]
            self._a_last_step[new] = steps[ends]
            self._a_last[new] = values[ends]
            if per == 1:
                self._a_low[new] = self._a_high[new] = values[rows]
                self._a_nan[new] = nan[rows]
            else:
                self._a_low[new] = np.fmin.reduceat(values[rows], starts, axis=0)
                self._a_high[new] = np.fmax.reduceat(values[rows], starts, axis=0)
                self._a_nan[new] = np.logical_or.reduceat(nan[rows], starts, axis=0)
            self._arch_size += k
            self._pending = t % per
            i += t

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
        return (self._start + np.arange(self._size)) % self._alloc

    def _newest(self, arr: np.ndarray, n: int | None) -> np.ndarray:
        """A copy of the newest ``n`` ring rows of ``arr``, oldest first.

        At most two slices of the ring (where it wraps): the Diagnoser reads a window of
        every statistic per update, and gathering it through an index array cost several
        times a plain copy.
        """
        k = self._size if n is None else max(0, min(self._size, n))
        if k == 0:
            return arr[:0].copy()
        first = (self._start + self._size - k) % self._alloc
        end = first + k
        if end <= self._alloc:
            return arr[first:end].copy()
        return np.concatenate((arr[first:], arr[: end - self._alloc]))

    def recent(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The newest ``n`` full-resolution rows, oldest first: (steps, values[n, cols])."""
        self._flush()  # first: storing rows may replace the arrays read below
        return self._newest(self._steps, n), self._newest(self._values, n)

    def recent_steps(self, n: int | None = None) -> np.ndarray:
        """The steps of ``recent(n)``, without copying its values."""
        self._flush()
        return self._newest(self._steps, n)

    def recent_missing(self, n: int | None = None) -> np.ndarray:
        self._flush()
        return self._newest(self._missing, n)

    def last(self) -> np.ndarray | None:
        """The newest row (NaN where missing), or None before the first row."""
        self._flush()
        if self._size == 0:
            return None
        return self._values[(self._start + self._size - 1) % self._alloc]

    def newest(self) -> tuple[np.ndarray, np.ndarray]:
        """The newest row and its missing mask (views; the table must hold a row)."""
        self._flush()
        i = (self._start + self._size - 1) % self._alloc
        return self._values[i], self._missing[i]

    def last_step(self) -> int | None:
        self._flush()
        if self._size == 0:
            return None
        return int(self._steps[(self._start + self._size - 1) % self._alloc])

    def column(self, col: int, width: int | None = None) -> Column:
        """Column ``col`` over the whole history, resampled to at most ``width`` points.

        Resampling keeps min and max of each span, so spikes and non-finite values survive.
        """
        self._flush()
        self._settle()
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
STEP_GRAD_NORM = "step_grad_norm"  # the total norm that reached optimizer.step()
GRADS_STALE = "grads_stale"  # 1.0: the step's gradients were never cleared; 0.0: they were
LOGGER_TIME = "logger_time"  # seconds the Logger itself took of the step (format 1.3)
BUILTIN_SCALARS = frozenset(
    {LOSS, LR, TOTAL_GRAD_NORM, LOSS_SCALE, STEP_TIME, STEP_GRAD_NORM, GRADS_STALE, LOGGER_TIME}
)


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
    # Values steps carried that were not kept, by reason (IGNORED_* above).
    ignored: Counter[str] = field(default_factory=Counter)
    compacted: bool = False  # an old run, shrunk to a coarse summary (``compact``)
    # The parameters as the newest step says they are (format 1.5: a layer unfrozen or
    # added to the optimizer mid-run); the header's list until a step changes it.
    params: tuple[ParamInfo, ...] = ()
    # The step of the latest such change (None: the header's roles still hold).
    roles_changed_at: int | None = None
    _roles: tuple[tuple[bool, ...] | None, tuple[bool, ...] | None] = field(
        default=(None, None), repr=False
    )  # (requires_grad, in_optimizer) as the latest step stated them
    _hist_values: int = field(default=0, repr=False)  # counts in ``hist`` (bounded)
    _user_scalars: int = field(default=0, repr=False)  # user series in ``scalars``

    @property
    def run_id(self) -> str:
        return self.header.run_id

    def __post_init__(self) -> None:
        if not self.params:
            self.params = self.header.params

    def add_step(self, step: Step) -> None:
        n = len(self.header.params)
        if self.roles_change(step):
            self._change_roles(step)
        for name, values in step.stats.items():
            table = self.stats.get(name)
            if table is None:
                if name not in KNOWN_STATS:
                    self.ignored[IGNORED_STAT] += 1
                    continue
                table = self.stats[name] = Table(n)
                if self.compacted:
                    table.compact()
            table.append(step.step, values)
        self._add_scalar(LOSS, step.step, step.loss)
        if step.lr:
            self._add_scalar(LR, step.step, step.lr[0])
        self._add_scalar(TOTAL_GRAD_NORM, step.step, step.total_grad_norm)
        self._add_scalar(LOSS_SCALE, step.step, step.loss_scale)
        self._add_scalar(STEP_TIME, step.step, step.step_time)
        self._add_scalar(STEP_GRAD_NORM, step.step, step.step_grad_norm)
        stale = step.grads_stale
        self._add_scalar(GRADS_STALE, step.step, None if stale is None else float(stale))
        self._add_scalar(LOGGER_TIME, step.step, step.logger_time)
        for name, value in step.scalars.items():
            self._add_user_scalar(name, step.step, value)
        if step.hist is not None:
            self._add_hist(step.step, step.hist)
        self._note_nonfinite(step)
        if self.last_seq and step.seq > self.last_seq + 1:
            self.seq_gaps += 1
        self.last_seq = max(self.last_seq, step.seq)
        self.steps += 1
        if self.first_step is None:
            self.first_step = step.step
        self.last_step = step.step
        self.last_time = step.time

    def roles_change(self, step: Step) -> bool:
        """Whether ``step`` states other parameter roles than the steps before it."""
        return (step.requires_grad, step.in_optimizer) != self._roles

    def _change_roles(self, step: Step) -> None:
        """Take the roles a step states (absent: the header's), for the diagnosis and
        the viewer; the Logger writes them on every step once they differ."""
        self._roles = grads, owned = step.requires_grad, step.in_optimizer
        self.params = tuple(
            replace(
                p,
                requires_grad=p.requires_grad if grads is None else grads[i],
                in_optimizer=p.in_optimizer if owned is None else owned[i],
            )
            for i, p in enumerate(self.header.params)
        )
        self.roles_changed_at = step.step

    def _add_scalar(self, name: str, step: int, value: float | None) -> None:
        table = self.scalars.get(name)
        if value is None and table is None:
            return  # never create a series that has only ever been missing
        if table is None:
            table = self.scalars[name] = Table(1)
            if self.compacted:
                table.compact()
        table.append(step, [value])

    def _add_user_scalar(self, name: str, step: int, value: float | None) -> None:
        """A ``log(**scalars)`` value: at most MAX_SCALARS names per run, none built-in.

        A user scalar called "loss" would add a second row per step to the loss series
        and misalign it with every other table, so such names are counted, not kept.
        """
        if name in BUILTIN_SCALARS:
            self.ignored[IGNORED_SCALAR_NAME] += 1
            return
        if name not in self.scalars and value is not None:
            if self._user_scalars >= MAX_SCALARS:
                self.ignored[IGNORED_SCALAR] += 1
                return
            self._user_scalars += 1
        self._add_scalar(name, step, value)

    def _add_hist(self, step: int, hist: list[list[int] | None]) -> None:
        """Keep a histogram row shaped like the header says, within HIST_MAX_VALUES counts.

        The record format leaves ``hist`` loosely typed, so it is checked here: one entry
        per parameter, each null or the same number of non-negative integer counts.
        """
        if self.compacted:
            return  # an old run keeps no histograms (see FULL_RUNS)
        width = _hist_width(hist, len(self.header.params))
        values = 0 if width is None else width * sum(1 for c in hist if c is not None)
        if width is None or values > HIST_MAX_VALUES:
            self.ignored[IGNORED_HIST] += 1
            return
        self.hist.append((step, hist))
        self._hist_values += values
        while len(self.hist) > HIST_ROWS or self._hist_values > HIST_MAX_VALUES:
            _, old = self.hist.pop(0)
            self._hist_values -= _hist_values(old)

    def compact(self) -> None:
        """Shrink to a coarse summary (an old run): sparklines stay, fine detail goes."""
        self.compacted = True
        for table in (*self.stats.values(), *self.scalars.values()):
            table.compact()
        self.hist.clear()
        self._hist_values = 0

    def expand(self) -> None:
        """Grow back to full size from here on (the run is among the newest again)."""
        self.compacted = False
        for table in (*self.stats.values(), *self.scalars.values()):
            table.expand()

    def user_scalars(self) -> dict[str, float]:
        """Each ``log(**scalars)`` series' newest value (NaN where it was logged as
        non-finite), in the order the run first logged them."""
        out: dict[str, float] = {}
        for name, table in self.scalars.items():
            if name in BUILTIN_SCALARS:
                continue
            row = table.last()
            if row is not None:
                out[name] = float(row[0])
        return out

    def logger_share(self, recent: int = 256) -> float | None:
        """The Logger's own share of the training time over the newest logged steps.

        ``logger_time`` is the Logger's seconds on a logged step; ``step_time`` times the
        steps since the previous logged step is the wall time that step closed, so the
        ratio of their sums is gradtop's share of that time (the first logged step of the
        window spans no known interval and is left out). None when the writer did not
        record both (a format before 1.3, or fewer than two logged steps).
        """
        spent, wall = self.scalars.get(LOGGER_TIME), self.scalars.get(STEP_TIME)
        if spent is None or wall is None:
            return None
        steps, spent_rows = spent.recent(recent + 1)  # a row per logged step since 1.3
        wall_steps, wall_rows = wall.recent(recent + 1)
        per_step = dict(zip(wall_steps.tolist(), wall_rows[:, 0].tolist(), strict=True))
        pairs = []
        for i in range(1, len(steps)):  # the first has no previous logged step to span
            step, gap = int(steps[i]), int(steps[i] - steps[i - 1])
            t, w = float(spent_rows[i, 0]), per_step.get(step, math.nan) * gap
            if math.isfinite(t) and math.isfinite(w) and w > 0:
                pairs.append((t, w))
        if not pairs:
            return None
        return sum(t for t, _ in pairs) / sum(w for _, w in pairs)

    @property
    def nbytes(self) -> int:
        """Bytes of table storage held by this run (histograms not included)."""
        return sum(t.nbytes for t in (*self.stats.values(), *self.scalars.values()))

    def _note_nonfinite(self, step: Step) -> None:
        loss = step.loss
        if self.first_nonfinite_loss is None and loss is not None and not math.isfinite(loss):
            self.first_nonfinite_loss = step.step
        if self.first_nonfinite is not None:
            return
        # The step's rows were just appended: the tables' newest rows are its values, in
        # numpy, so a healthy step costs no Python per parameter here either. Reading
        # them converts the tables' pending rows, so a healthy step is first proved
        # healthy on its lists, in C: every count 0 or missing, or a finite sum of norms
        # (a non-finite value makes the sum non-finite; an overflow only costs the read).
        if "nonfinite" in step.stats:
            row = step.stats["nonfinite"]
            if type(row) is list and row.count(0) + row.count(None) == len(row):
                return
            values, missing = self.stats["nonfinite"].newest()
            bad = (values != 0) & ~missing  # a NaN count is not 0: it counts as bad
        elif "grad_norm" in step.stats:
            if _finite_sum(step.stats["grad_norm"]):
                return
            values, missing = self.stats["grad_norm"].newest()
            bad = ~np.isfinite(values) & ~missing
        else:
            return
        if bad.any():
            self.first_nonfinite = NonFinite(step.step, tuple(np.flatnonzero(bad).tolist()))

    def modules(self) -> OrderedDict[str, list[int]]:
        """Parameter indices grouped by owning module, in depth order (per-layer views)."""
        groups: OrderedDict[str, list[int]] = OrderedDict()
        for i, p in enumerate(self.header.params):
            groups.setdefault(p.module, []).append(i)
        return groups


def _finite_sum(row: object) -> bool:
    """True when ``row`` is a list of numbers whose sum is finite, which proves each is.

    False says nothing (a None, a non-finite value, or an overflow of finite ones).
    """
    if type(row) is not list:
        return False
    try:
        return math.isfinite(sum(row))
    except (TypeError, OverflowError):
        return False


def _hist_width(hist: object, n_params: int) -> int | None:
    """Bins per parameter of a well-formed histogram row, or None if it is not one."""
    if not isinstance(hist, list) or len(hist) != n_params:
        return None
    width: int | None = None
    for counts in hist:
        if counts is None:
            continue
        if not isinstance(counts, list) or not 0 < len(counts) <= MAX_HIST_BINS:
            return None
        if width is None:
            width = len(counts)
        elif len(counts) != width:
            return None
        if not all(type(c) is int and c >= 0 for c in counts):
            return None
    return width or 0


def _hist_values(hist: list[list[int] | None]) -> int:
    return sum(len(counts) for counts in hist if counts is not None)


class History:
    """All runs read from one file, newest last; at most ``max_runs`` are kept."""

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        self.runs: OrderedDict[str, RunHistory] = OrderedDict()
        self.max_runs = max_runs
        self.orphans = 0  # step/end records whose run's header was never seen
        self.continued = 0  # repeated headers that continued their run (a Logger reopening)
        self.restarted = 0  # same run id, other parameter list: the old history was dropped
        self._ignored_gone: Counter[str] = Counter()  # ``ignored`` of runs no longer kept
        # Runs whose header just repeated: their next step tells rotation from restart.
        self._repeated: dict[str, Header] = {}

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
            repeated = self._repeated.pop(record.run_id, None)
            if repeated is not None and run.last_step is not None and record.step <= run.last_step:
                # The steps after a repeated header started over: not a rotation but a
                # new run under an old id (the diagnosis needs steps that go forward).
                self.continued -= 1
                run = self._start_run(repeated)
            run.add_step(record)
        else:
            run.end = record

    def _add_header(self, header: Header) -> None:
        """A header for a run already read continues it when its parameter list is the same.

        The Logger writes its header again, unchanged, whenever it reopens the path after
        a rotation or deletion, so the steps that follow are the same run going on: its
        history must stay. The next step decides for good: if its step number is not past
        the run's last one, the steps started over, so the header started a new run under
        an old id after all. A header with the same run id but another parameter list
        cannot belong to the same run (its steps would not fit the tables): it starts
        the run afresh. ``continued`` and ``restarted`` count both outcomes for reports.
        """
        run = self.runs.get(header.run_id)
        if run is not None and run.header.params == header.params:
            # The first header object stays: consumers (the Diagnoser, the viewer's
            # model) tell "the same run going on" from "a new run" by its identity.
            run.end = None  # the writer is writing again: whatever "end" said is over
            self.runs.move_to_end(header.run_id)  # the newest header's run is current
            self.continued += 1
            self._repeated[header.run_id] = header
            if run.compacted:
                run.expand()
            self._compact_old_runs()
            return
        self._start_run(header)

    def _start_run(self, header: Header) -> RunHistory:
        """A fresh run for ``header``, replacing (and counting) one of the same id."""
        self._repeated.pop(header.run_id, None)
        old = self.runs.pop(header.run_id, None)
        if old is not None:
            self._forget(old)
            self.restarted += 1
        run = self.runs[header.run_id] = RunHistory(header)
        while len(self.runs) > self.max_runs:
            self._forget(self.runs.popitem(last=False)[1])
        self._compact_old_runs()
        return run

    def _compact_old_runs(self) -> None:
        """Only the newest FULL_RUNS runs keep full tables: memory is bounded by a few runs,
        not by ``max_runs`` runs of a wide model."""
        for run in list(self.runs.values())[: max(0, len(self.runs) - FULL_RUNS)]:
            if not run.compacted:
                run.compact()

    def _forget(self, run: RunHistory) -> None:
        self._ignored_gone.update(run.ignored)
        self._repeated.pop(run.run_id, None)

    @property
    def ignored(self) -> Counter[str]:
        """Values steps carried that no run kept, by reason, over every run read."""
        total = Counter(self._ignored_gone)
        for run in self.runs.values():
            total.update(run.ignored)
        return Counter({k: v for k, v in total.items() if v})

    @property
    def nbytes(self) -> int:
        return sum(run.nbytes for run in self.runs.values())

    def extend(self, records: Iterable[Record]) -> None:
        for record in records:
            self.add(record)

"""Series for the plots, pulled out of History and cleaned for a plotting library.

Pure numpy: resampled to the plot's width (min/max-preserving via ``Table.column``),
non-finite points separated out (plotted as markers, never silently joined), and an EMA
so a noisy loss still shows its trend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradtop.history import LOSS, LR, RunHistory, Table


@dataclass(frozen=True, slots=True)
class Series:
    """x (steps) and y, finite points only, plus where y was NaN/Inf."""

    steps: np.ndarray
    values: np.ndarray
    bad_steps: np.ndarray

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    def positive(self) -> Series:
        """Only y > 0: what a log axis can draw."""
        keep = self.values > 0
        return Series(self.steps[keep], self.values[keep], self.bad_steps)


EMPTY = Series(np.zeros(0), np.zeros(0), np.zeros(0))


def table_series(
    table: Table | None, col: int, points: int | None = None, *, use: str = "last"
) -> Series:
    """Column ``col``; ``use`` picks last, high or low per point.

    ``points=None`` returns every stored point (bounded by History: the full-resolution
    ring plus the decimated archive). Live plots use that: resampling to a width would
    shift every point whenever one arrives, and repaint the whole plot.
    """
    if table is None or len(table) == 0:
        return EMPTY
    column = table.column(col, None if points is None else max(2, points))
    values = {"last": column.last, "high": column.high, "low": column.low}[use]
    steps = column.last_step.astype(np.float64)
    finite = np.isfinite(values)
    bad = (~finite & ~np.isnan(values)) | column.any_nan
    return Series(steps[finite], values[finite], steps[bad])


def ema(values: np.ndarray, span: float) -> np.ndarray:
    """Exponential moving average with the usual ``alpha = 2 / (span + 1)``."""
    if values.size == 0:
        return values
    alpha = 2.0 / (max(1.0, span) + 1.0)
    out = np.empty_like(values, dtype=np.float64)
    acc = float(values[0])
    for i, v in enumerate(values.tolist()):
        acc = alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def scalar_series(
    run: RunHistory, name: str, points: int | None = None
) -> tuple[Series, np.ndarray]:
    """A scalar (the loss, or one passed to ``log(**scalars)``) and its EMA. The span (a
    twentieth of the points, rounded up to a power of two) changes rarely, so the smoothed
    curve of old steps stays put between frames."""
    s = table_series(run.scalars.get(name), 0, points)
    span = 2 ** math.ceil(math.log2(max(5.0, len(s) / 20)))
    return s, ema(s.values, span)


def loss_series(run: RunHistory, points: int | None = None) -> tuple[Series, np.ndarray]:
    return scalar_series(run, LOSS, points)


def lr_series(run: RunHistory, points: int | None = None) -> Series:
    return table_series(run.scalars.get(LR), 0, points)


def param_series(
    run: RunHistory, stat: str, index: int, points: int | None = None, use: str = "last"
) -> Series:
    table = run.stats.get(stat)
    if table is None or not 0 <= index < table.n_cols:
        return EMPTY
    return table_series(table, index, points, use=use)


def decimate(s: Series, max_points: int, use: str = "last") -> Series:
    """At most ``max_points`` points, in bins of a power-of-two number of steps.

    Bins are aligned to multiples of their size, so the points of old steps stay the same
    from one frame to the next (a live plot only repaints where new data landed); only
    when the run doubles in length does the bin size, and the picture, change. Each bin
    keeps its last, highest or lowest value (``use``), so spikes survive in ``high``.
    """
    n = len(s)
    if n <= max_points or max_points < 2:
        return s
    steps = s.steps.astype(np.int64)
    size = 1
    while (steps[-1] // size) - (steps[0] // size) + 1 > max_points:
        size *= 2
    bins = steps // size
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    ends = np.r_[starts[1:], n] - 1
    if use == "high":
        values = np.maximum.reduceat(s.values, starts)
    elif use == "low":
        values = np.minimum.reduceat(s.values, starts)
    else:
        values = s.values[ends]
    return Series(s.steps[ends], values, s.bad_steps)

"""Series for the plots, pulled out of History and cleaned for a plotting library.

Pure numpy: resampled to the plot's width (min/max-preserving via ``Table.column``),
non-finite points separated out (plotted as markers, never silently joined), and an EMA
so a noisy loss still shows its trend.
"""

from __future__ import annotations

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


def table_series(table: Table | None, col: int, points: int, *, use: str = "last") -> Series:
    """Column ``col`` resampled to at most ``points``; ``use`` picks last, high or low."""
    if table is None or len(table) == 0:
        return EMPTY
    column = table.column(col, max(2, points))
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


def loss_series(run: RunHistory, points: int) -> tuple[Series, np.ndarray]:
    """The loss and its EMA (span a twentieth of the points shown, at least 5)."""
    s = table_series(run.scalars.get(LOSS), 0, points)
    return s, ema(s.values, max(5.0, len(s) / 20))


def lr_series(run: RunHistory, points: int) -> Series:
    return table_series(run.scalars.get(LR), 0, points)


def param_series(run: RunHistory, stat: str, index: int, points: int, use: str = "last") -> Series:
    table = run.stats.get(stat)
    if table is None or not 0 <= index < table.n_cols:
        return EMPTY
    return table_series(table, index, points, use=use)

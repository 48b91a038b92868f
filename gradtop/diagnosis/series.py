"""Causal, vectorised helpers over a window of rows (oldest first).

Every value at row ``t`` depends only on rows ``<= t``. That is what lets the Diagnoser
replay the rows it has not seen yet and report the step at which a live viewer would
have raised a finding, however rarely it is called.

The expensive helpers take ``start``: rows before it are left NaN, because the
Diagnoser only consumes the newest rows (plus the persistence they need), and a live
viewer calls it every few steps.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def run_length(cond: np.ndarray) -> np.ndarray:
    """How many consecutive rows up to and including ``t`` satisfy ``cond`` (any shape,
    along axis 0)."""
    cond = np.asarray(cond, dtype=bool)
    n = cond.shape[0]
    if n == 0 or not cond.any():  # the usual case for most rules: nothing to count
        return np.zeros(cond.shape, dtype=np.int64)
    idx = np.arange(1, n + 1).reshape((n,) + (1,) * (cond.ndim - 1))
    last_false = np.maximum.accumulate(np.where(cond, 0, idx), axis=0)
    return idx - last_false


def persisted(cond: np.ndarray, k: int) -> np.ndarray:
    """True where ``cond`` has held for at least ``k`` consecutive rows ending there."""
    return run_length(cond) >= max(1, k)


def nanmedian_rows(w: np.ndarray) -> np.ndarray:
    """Median of each row's finite values (NaN for a row with none).

    A sort puts NaN last, so the median sits at the middle of the finite prefix; much
    faster than ``np.nanmedian``, which goes through masked arrays.
    """
    if w.shape[0] == 0:
        return np.zeros(0)
    w = np.where(np.isfinite(w), w, np.nan)
    s = np.sort(w, axis=1)
    count = np.sum(~np.isnan(s), axis=1)
    lo = np.maximum((count - 1) // 2, 0)
    hi = np.maximum(count // 2, 0)
    rows = np.arange(w.shape[0])
    med = 0.5 * (s[rows, np.minimum(lo, w.shape[1] - 1)] + s[rows, np.minimum(hi, w.shape[1] - 1)])
    med[count == 0] = np.nan
    return med


def _windows(x: np.ndarray, k: int, start: int = 0, lag: int = 0) -> np.ndarray:
    """Trailing windows of width ``k`` ending at ``t - lag`` for rows ``t >= start``,
    NaN-padded before the first row: shape (n - start, k)."""
    k = max(1, k)
    x = np.asarray(x, dtype=np.float64)
    padded = np.concatenate([np.full((k - 1 + lag, *x.shape[1:]), np.nan), x])
    view = sliding_window_view(padded, k, axis=0)
    return view[start : len(x)]


def rolling_median(x: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Median of the last ``k`` finite values up to ``t`` (NaN if none)."""
    out = np.full(len(x), np.nan)
    if start < len(x):
        out[start:] = nanmedian_rows(_windows(x, k, start))
    return out


def rolling_min(x: np.ndarray, k: int, start: int = 0) -> np.ndarray:
    """Minimum of the last ``k`` values up to ``t``, ignoring NaN; works on (n,) or (n, m)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if start < len(x):
        w = _windows(x, k, start)  # (rows, [m,] k)
        with np.errstate(invalid="ignore"):
            out[start:] = np.fmin.reduce(w, axis=-1)
    return out


def rolling_count(cond: np.ndarray, k: int) -> np.ndarray:
    """How many of the last ``k`` rows up to ``t`` satisfy ``cond``."""
    c = np.concatenate([[0], np.cumsum(np.asarray(cond, dtype=np.int64))])
    n = len(cond)
    idx = np.arange(1, n + 1)
    return c[idx] - c[np.maximum(0, idx - max(1, k))]


def lagged(x: np.ndarray, k: int) -> np.ndarray:
    """``x[t - k]``, NaN where that row is outside the window."""
    out = np.full(len(x), np.nan)
    if k < len(x):
        out[k:] = x[: len(x) - k]
    return out


def robust_z(
    x: np.ndarray, k: int, min_count: int, start: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-score of ``x[t]`` against the ``k`` finite rows before ``t``.

    Returns (z, median): median/MAD are the robust stand-ins for mean/std, so a single
    earlier spike does not hide the next one (as an EMA std would).
    """
    n = len(x)
    z = np.full(n, np.nan)
    med = np.full(n, np.nan)
    start = max(start, 1)
    if n <= start:
        return z, med
    clean = np.where(np.isfinite(x), x, np.nan)
    prev = _windows(clean, k, start, lag=1)  # the k rows before each t >= start
    count = np.sum(np.isfinite(prev), axis=1)
    m = nanmedian_rows(prev)
    mad = nanmedian_rows(np.abs(prev - m[:, None]))
    scale = np.maximum(1.4826 * mad, 1e-3)  # floor: a flat history must not give z = inf
    ok = count >= min_count
    z[start:] = np.where(ok, (clean[start:] - m) / scale, np.nan)
    med[start:] = np.where(ok, m, np.nan)
    return z, med


def running(prior: float, x: np.ndarray, op: np.ufunc) -> np.ndarray:
    """Running ``op`` (np.fmax / np.fmin) over ``x`` seeded with ``prior`` (NaN ignored)."""
    if len(x) == 0:
        return np.zeros(0)
    seeded = np.concatenate([[prior], x])
    return op.accumulate(seeded)[1:]


def hold_last(x: np.ndarray, fill: np.ndarray, limit: int) -> np.ndarray:
    """Rows where ``fill`` is True take the newest earlier row where it was False, at
    most ``limit`` rows back (NaN when there is none): a sample-and-hold along axis 0.

    For statistics the logger measures only on detail steps (``Logger(detail_every=N)``,
    null in between): a rule that asks "has this held for k rows" then sees the last
    measurement on every row instead of a gap that would reset its persistence.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return x.copy()
    # ``fill`` is one flag per row, so every column holds from the same source row:
    # find it once along the rows and gather whole rows (a 2-D take_along_axis over a
    # 256 x 200 window cost more than the rest of building the view).
    fill = np.asarray(fill, dtype=bool).reshape(n)
    idx = np.arange(n)
    src = np.maximum.accumulate(np.where(fill, -1, idx))
    ok = (src >= 0) & (idx - src <= max(0, limit))
    held = x[np.clip(src, 0, None)]
    held[~ok] = np.nan
    return held

"""Causal, vectorised helpers over a window of rows (oldest first).

Every value at row ``t`` depends only on rows ``<= t``. That is what lets the Diagnoser
replay the rows it has not seen yet and report the step at which a live viewer would
have raised a finding, however rarely it is called.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def run_length(cond: np.ndarray) -> np.ndarray:
    """How many consecutive rows up to and including ``t`` satisfy ``cond``."""
    cond = np.asarray(cond, dtype=bool)
    n = cond.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.arange(1, n + 1)
    last_false = np.maximum.accumulate(np.where(cond, 0, idx))
    return idx - last_false


def persisted(cond: np.ndarray, k: int) -> np.ndarray:
    """True where ``cond`` has held for at least ``k`` consecutive rows ending there."""
    return run_length(cond) >= max(1, k)


def _windows(x: np.ndarray, k: int) -> np.ndarray:
    """Trailing windows of width ``k`` (NaN-padded at the start), shape (n, k)."""
    k = max(1, k)
    padded = np.concatenate([np.full(k - 1, np.nan), np.asarray(x, dtype=np.float64)])
    return sliding_window_view(padded, k)


def rolling_median(x: np.ndarray, k: int) -> np.ndarray:
    """Median of the last ``k`` finite values up to ``t`` (NaN if none)."""
    if len(x) == 0:
        return np.zeros(0)
    w = _windows(np.where(np.isfinite(x), x, np.nan), k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(w, axis=1)


def rolling_min(x: np.ndarray, k: int) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(_windows(x, k), axis=1)


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


def robust_z(x: np.ndarray, k: int, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-score of ``x[t]`` against the ``k`` finite rows before ``t``.

    Returns (z, median): median/MAD are the robust stand-ins for mean/std, so a single
    earlier spike does not hide the next one (as an EMA std would).
    """
    n = len(x)
    z = np.full(n, np.nan)
    med = np.full(n, np.nan)
    if n < 2:
        return z, med
    clean = np.where(np.isfinite(x), x, np.nan)
    prev = _windows(clean, k)[: n - 1]  # windows ending at t-1, for rows 1..n-1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        count = np.sum(np.isfinite(prev), axis=1)
        m = np.nanmedian(prev, axis=1)
        mad = np.nanmedian(np.abs(prev - m[:, None]), axis=1)
    scale = np.maximum(1.4826 * mad, 1e-3)  # floor: a flat history must not give z = inf
    zz = (clean[1:] - m) / scale
    ok = count >= min_count
    z[1:] = np.where(ok, zz, np.nan)
    med[1:] = np.where(ok, m, np.nan)
    return z, med


def running(prior: float, x: np.ndarray, op: np.ufunc) -> np.ndarray:
    """Running ``op`` (np.fmax / np.fmin) over ``x`` seeded with ``prior`` (NaN ignored)."""
    if len(x) == 0:
        return np.zeros(0)
    seeded = np.concatenate([[prior], x])
    return op.accumulate(seeded)[1:]


def ema(x: np.ndarray, alpha: float, seed: float = np.nan) -> np.ndarray:
    """Exponential moving average skipping NaN rows (they repeat the previous value)."""
    out = np.empty(len(x))
    acc = seed
    for i, v in enumerate(x):
        if np.isfinite(v):
            acc = v if not np.isfinite(acc) else alpha * acc + (1 - alpha) * v
        out[i] = acc
    return out

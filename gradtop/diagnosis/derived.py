"""Series several rules share (depth ratio, smoothed loss, median update ratio).

Each is computed once per evaluation (cached on the View) from the window's arrays.
"""

from __future__ import annotations

import warnings

import numpy as np

from gradtop.diagnosis.series import rolling_median, running
from gradtop.diagnosis.view import View


def layer_grms(v: View) -> np.ndarray:
    """Gradient RMS of each depth layer's weight matrices, [rows, layers]."""

    def make() -> np.ndarray:
        out = np.full((v.n, len(v.roles.layers)), np.nan)
        sq = np.square(v.grad)
        for j, layer in enumerate(v.roles.layers):
            idx = list(layer.weights)
            with np.errstate(invalid="ignore", over="ignore"):
                out[:, j] = np.sqrt(np.sum(sq[:, idx], axis=1) / layer.numel)
        return out

    return v.cached("layer_grms", make)


def layer_update_ratio(v: View, layer: int) -> np.ndarray:
    """The largest update/weight ratio among a layer's weight matrices (NaN if unknown)."""
    uw = v.stat("update_ratio")
    if uw is None:
        return np.full(v.n, np.nan)
    idx = list(v.roles.layers[layer].weights)
    with np.errstate(invalid="ignore"):
        sub = uw[:, idx]
    out = np.full(v.n, np.nan)
    ok = np.any(np.isfinite(sub), axis=1)
    if ok.any():
        out[ok] = np.nanmax(sub[ok], axis=1)
    return out


def depth_ratios(v: View) -> np.ndarray | None:
    """Each layer's gradient RMS over the last hidden layer's, [rows, layers].

    None when the model has fewer than three weight layers (no hidden layer to compare
    the first one with: the last one is the head).
    """
    if len(v.roles.layers) < 3:
        return None

    def make() -> np.ndarray:
        g = layer_grms(v)
        ref = g[:, -2]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = g / ref[:, None]
        r[~(ref > 0) | ~np.isfinite(ref)] = np.nan
        return r

    return v.cached("depth_ratios", make)


def smooth_loss(v: View) -> np.ndarray:
    return v.cached("smooth_loss", lambda: rolling_median(v.loss, v.th.loss_smooth))


def initial_loss(v: View) -> float:
    """The loss at the start of the run (median of its first finite values)."""
    if np.isfinite(v.mem.initial_loss):
        return float(v.mem.initial_loss)
    return _first_losses_median(v)


def _first_losses_median(v: View) -> float:
    """Median of the first (up to) ten finite losses of the run, as far as we can see."""
    rows = v.row_index()
    early = v.loss[(rows < 10) & (rows >= v.mem.rows) & np.isfinite(v.loss)]
    first = [*v.mem.first_losses, *(float(x) for x in early)]
    if not first:
        finite = v.loss[np.isfinite(v.loss)]
        first = [float(x) for x in finite[:10]]
    return float(np.median(first)) if first else float("nan")


def best_loss(v: View) -> np.ndarray:
    """Lowest smoothed loss up to each row (including rows before the window)."""
    return v.cached("best_loss", lambda: running(v.mem.best_loss, smooth_loss(v), np.fmin))


def rows_since_start(v: View) -> np.ndarray:
    return v.row_index()


def median_update_ratio(v: View) -> np.ndarray:
    """Median ||dw||/||w|| over weight matrices that got a nonzero gradient, per row."""

    def make() -> np.ndarray:
        uw = v.stat("update_ratio")
        if uw is None:
            return np.full(v.n, np.nan)
        cols = [i for i in np.flatnonzero(v.roles.weight) if i not in v.roles.not_in_optimizer]
        if not cols:
            return np.full(v.n, np.nan)
        sub = uw[:, cols].copy()
        with np.errstate(invalid="ignore"):
            sub[~(v.grad[:, cols] > 0)] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(sub, axis=1)

    return v.cached("median_uw", make)


def total_norm_log(v: View) -> np.ndarray:
    """log10 of the total gradient norm; NaN where non-finite, missing or zero."""

    def make() -> np.ndarray:
        t = v.total
        out = np.full(v.n, np.nan)
        ok = np.isfinite(t) & (t > 0)
        out[ok] = np.log10(t[ok])
        return out

    return v.cached("total_log", make)


def huge(v: View) -> np.ndarray:
    """The absolute fallback: a total grad norm or loss no healthy run produces."""

    def make() -> np.ndarray:
        with np.errstate(invalid="ignore"):
            big_norm = np.isfinite(v.total) & (v.total >= v.th.huge_grad_norm)
            big_loss = np.isfinite(v.loss) & (np.abs(v.loss) >= v.th.huge_loss)
        return big_norm | big_loss

    return v.cached("huge", make)


def update_memory(v: View) -> None:
    """Fold the window's unseen rows into the run's running aggregates."""
    mem = v.mem
    new = slice(v.new_from, v.n)
    rows = v.row_index()
    take = (rows >= mem.rows) & (rows < 10) & np.isfinite(v.loss)
    mem.first_losses.extend(float(x) for x in v.loss[take])
    if not np.isfinite(mem.initial_loss) and v.row0 + v.n >= 10:
        mem.initial_loss = (
            _first_losses_median(v) if not mem.first_losses else float(np.median(mem.first_losses))
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ls = smooth_loss(v)[new]
        if np.any(np.isfinite(ls)):
            mem.best_loss = float(np.fmin(mem.best_loss, np.nanmin(ls)))
        raw = v.loss[new]
        if np.any(np.isfinite(raw)):
            mem.max_loss = float(np.fmax(mem.max_loss, np.nanmax(raw[np.isfinite(raw)])))
        lr = v.lr[new]
        if np.any(np.isfinite(lr)):
            mem.max_lr = float(np.fmax(mem.max_lr, np.nanmax(lr)))
    if mem.first_row_huge is None and v.row0 == 0 and v.n > 0:
        mem.first_row_huge = bool(huge(v)[0])
    mem.rows = v.row0 + v.n

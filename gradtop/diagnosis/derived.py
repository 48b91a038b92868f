"""Series several rules share (depth ratio, smoothed loss, median update ratio).

Each is computed once per evaluation (cached on the View) from the window's arrays.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from gradtop.diagnosis.series import nanmedian_rows, rolling_median, running
from gradtop.diagnosis.view import Layer, View


def layer_grms(v: View) -> np.ndarray:
    """Gradient RMS of each depth layer's weight matrices, [rows, layers]."""

    def make() -> np.ndarray:
        roles = v.roles
        out = np.full((v.n, len(roles.layers)), np.nan)
        if roles.layers and v.p_start < v.n:
            with np.errstate(invalid="ignore", over="ignore"):
                sq = np.square(v.grad[v.p_start :, roles.layer_order])
                summed = np.add.reduceat(sq, roles.layer_bounds, axis=1)
                out[v.p_start :] = np.sqrt(summed / roles.layer_numel)
        return out

    return v.cached("layer_grms", make)


def layer_update_ratio(v: View, layer: Layer) -> np.ndarray:
    """The largest update/weight ratio among a layer's weight matrices (NaN if unknown)."""
    uw = v.stat("update_ratio")
    if uw is None:
        return np.full(v.n, np.nan)
    sub = uw[:, list(layer.weights)]
    out = np.full(v.n, np.nan)
    ok = np.any(np.isfinite(sub), axis=1)
    if ok.any():
        out[ok] = np.nanmax(sub[ok], axis=1)
    return out


@dataclass(frozen=True)
class Depth:
    """The weight layers that got gradients in the window, and their depth ratios.

    ``ratios[:, j]`` is layer j's gradient RMS over the last hidden layer's (the one
    before the head); ``ratios[:, 0]`` is the depth ratio R of diagnosis.md §1.
    """

    layers: tuple[Layer, ...]
    grms: np.ndarray  # [rows, layers]
    ratios: np.ndarray  # [rows, layers]

    @property
    def first(self) -> Layer:
        return self.layers[0]

    @property
    def last_hidden(self) -> Layer:
        return self.layers[-2]


def depth(v: View) -> Depth | None:
    """None when fewer than three weight layers got gradients (no hidden layer to compare
    the first one with: the last one is the head). Layers with no gradient in the whole
    window (unused, detached) are left out so they cannot pose as the head."""

    def make() -> Depth | None:
        g_all = layer_grms(v)
        keep = np.flatnonzero(np.any(np.isfinite(g_all), axis=0)).tolist()
        if len(keep) < 3:
            return None
        g = g_all[:, keep]
        ref = g[:, -2]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = g / ref[:, None]
        r[~(ref > 0) | ~np.isfinite(ref)] = np.nan
        return Depth(tuple(v.roles.layers[j] for j in keep), g, r)

    return v.cached("depth", make)


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


def _update_ratios(v: View) -> tuple[np.ndarray, list[int], int]:
    """update_ratio of the weight matrices the optimizer holds, NaN where the gradient
    was exactly zero or missing (a dead layer's zero update says nothing about the LR),
    for the rows from the returned start on."""

    def make() -> tuple[np.ndarray, list[int], int]:
        uw = v.stat("update_ratio")
        held = v.roles.weight.copy()
        held[list(v.roles.not_in_optimizer)] = False
        cols = np.flatnonzero(held).tolist()
        start = max(v.p_start, v.start(max(v.th.lr_persist, v.th.lr_high_persist) + 1))
        if uw is None or not cols:
            return np.full((v.n - start, 0), np.nan), [], start
        sub = uw[start:, cols]
        with np.errstate(invalid="ignore"):
            return np.where(v.grad[start:, cols] > 0, sub, np.nan), cols, start

    return v.cached("update_ratios", make)


def median_update_ratio(v: View) -> np.ndarray:
    """Median ||dw||/||w|| over weight matrices that got a nonzero gradient, per row."""

    def make() -> np.ndarray:
        sub, _, start = _update_ratios(v)
        out = np.full(v.n, np.nan)
        if sub.shape[1]:
            out[start:] = nanmedian_rows(sub)
        return out

    return v.cached("median_uw", make)


def hidden_max_update_ratio(v: View) -> np.ndarray:
    """Largest ||dw||/||w|| among weight matrices other than the head's, per row.

    When this is small too, every layer moves slowly (the LR); when only the median is
    small, some layers learn and others do not (vanishing, not the LR).
    """

    def make() -> np.ndarray:
        sub, cols, start = _update_ratios(v)
        head = set(v.roles.layers[-1].weights) if len(v.roles.layers) > 1 else set()
        keep = [j for j, i in enumerate(cols) if i not in head]
        out = np.full(v.n, np.nan)
        if keep:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[start:] = np.nanmax(sub[:, keep], axis=1)
        return out

    return v.cached("hidden_max_uw", make)


def total_norm_log(v: View) -> np.ndarray:
    """log10 of the total gradient norm; NaN where non-finite, missing or zero."""

    def make() -> np.ndarray:
        t = v.total
        out = np.full(v.n, np.nan)
        ok = np.isfinite(t) & (t > 0)
        out[ok] = np.log10(t[ok])
        return out

    return v.cached("total_log", make)


def _reference_rows(v: View) -> tuple[int, list[float]]:
    """(global row of the first reference row, log10 norms of the reference rows known so
    far): those already in memory, then the window's rows that follow them."""
    mem, k = v.mem, v.th.reference_steps
    row0 = v.row0 if mem.norm_row0 is None else mem.norm_row0
    values = list(mem.first_norms)
    rows = v.row_index()
    take = (rows >= row0 + len(values)) & (rows < row0 + k)
    values.extend(float(x) for x in total_norm_log(v)[take])
    return row0, values


def reference_norm_log(v: View) -> np.ndarray:
    """log10 of the run's reference grad norm, per row: the median total norm of its first
    ``reference_steps`` logged rows (of those up to the row, so it stays causal).

    An absolute level that does not move with the window: a converged run whose norm
    fell to 1e-9 and wanders back to 1e-4 has "grown" 10^5x over its own minimum, yet is
    still far below the norms it trained with at the start, which were stable.
    NaN before the first finite norm.
    """

    def make() -> np.ndarray:
        row0, values = _reference_rows(v)
        prefix = np.full(len(values) + 1, np.nan)  # prefix[c]: median of the first c
        arr = np.asarray(values, dtype=np.float64)
        for c in range(1, len(values) + 1):
            head = arr[:c][np.isfinite(arr[:c])]
            if len(head):
                prefix[c] = float(np.median(head))
        count = np.clip(v.row_index() - row0 + 1, 0, len(values))
        return prefix[count]

    return v.cached("reference_norm_log", make)


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
    mem.norm_row0, mem.first_norms = _reference_rows(v)
    if mem.first_row_huge is None and v.row0 == 0 and v.n > 0:
        mem.first_row_huge = bool(huge(v)[0])
    mem.rows = v.row0 + v.n

"""Series several rules share (depth ratio, smoothed loss, median update ratio).

Each is computed once per evaluation (cached on the View) from the window's arrays.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from gradtop.diagnosis.findings import Fix
from gradtop.diagnosis.fixes import fixes_for
from gradtop.diagnosis.series import lagged, nanmedian_rows, rolling_median, running
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
    """The loss at the start of the run: its first finite value.

    Not a median of the first few: a run that blows up at its second step would then
    "start" at the blown-up value, and every sentence comparing with the start would lie.
    """
    if np.isfinite(v.mem.initial_loss):
        return float(v.mem.initial_loss)
    if v.mem.rows == 0 or v.row0 == 0:
        finite = v.loss[np.isfinite(v.loss)]
        if len(finite):
            return float(finite[0])
    return float("nan")


def relative_loss_drop(v: View, k: int) -> np.ndarray:
    """How much the smoothed loss fell over the last ``k`` rows, relative to where it was."""
    ls = smooth_loss(v)
    before = lagged(ls, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (before - ls) / np.abs(before)


def best_loss(v: View) -> np.ndarray:
    """Lowest smoothed loss up to each row (including rows before the window)."""
    return v.cached("best_loss", lambda: running(v.mem.best_loss, smooth_loss(v), np.fmin))


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


def nearest_median_update_ratio(v: View, at: int) -> float:
    """The median ||dw||/||w|| of the measured row nearest to ``at``: the newest at or
    before it, else the first after it.

    The Logger measures update ratios on detail steps only (every 10th by default), and
    the view keeps them for its newest rows, so the row a finding is judged at is often
    unmeasured: "not measured" would be false of a run that measured them. NaN when no
    row of the view measured it.
    """
    uw = v.stat("update_ratio")
    held = v.roles.weight.copy()
    held[list(v.roles.not_in_optimizer)] = False
    cols = np.flatnonzero(held)
    if uw is None or not cols.size:
        return math.nan
    with np.errstate(invalid="ignore"):
        sub = np.where(v.grad[:, cols] > 0, uw[:, cols], np.nan)
    rows = np.flatnonzero(np.isfinite(sub).any(axis=1))
    if not rows.size:
        return math.nan
    before = rows[rows <= at]
    row = before[-1] if before.size else rows[0]
    return float(np.nanmedian(sub[row]))


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
            # fmax ignores NaN and leaves an all-NaN row NaN without a RuntimeWarning (a
            # catch_warnings() here is not thread-safe: the viewer diagnoses in a worker).
            out[start:] = np.fmax.reduce(sub[:, keep], axis=1)
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


def _common_prefix(a: list[float], b: list[float]) -> int:
    """How many leading values ``a`` and ``b`` share (NaN equal to NaN)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if not (x == y or (math.isnan(x) and math.isnan(y))):
            break
        n += 1
    return n


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
        # The reference rows only ever grow at the end, so the medians of a prefix the
        # last evaluation already took are reused (each update took all of them again).
        known, medians = v.mem.ref_prefix
        same = _common_prefix(known, values)
        prefix[: same + 1] = medians[: same + 1]
        for c in range(same + 1, len(values) + 1):
            head = arr[:c][np.isfinite(arr[:c])]
            if len(head):
                prefix[c] = float(np.median(head))
        v.mem.ref_prefix = (list(values), prefix)
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


def param_growth_log(v: View, row: int) -> np.ndarray:
    """log10 of each parameter's gradient norm at ``row`` over its own baseline (the
    median of its first ``reference_steps`` rows); NaN where either is unknown.

    A layer's growth against itself is what names the layers an explosion is in: an
    LSTM's recurrent weights can grow 10^4-fold while a decoder that started with the
    largest gradient stays flat, and raw size would name the decoder.
    """
    ref = v.mem.param_ref
    if ref is None:
        ref = _param_baseline(v)
    if ref is None:
        return np.full(v.grad.shape[1], np.nan)
    g = v.grad[row]
    with np.errstate(divide="ignore", invalid="ignore"):
        now = np.where(np.isfinite(g), np.log10(g), np.where(np.isnan(g), np.nan, np.inf))
        return now - ref


def _param_baseline(v: View) -> np.ndarray | None:
    """Per-parameter median log10 gradient norm over the run's first rows, if in view."""
    k = v.th.reference_steps
    if v.row0 != 0 or v.p_start != 0 or v.n == 0:
        return None
    head = v.grad[: min(k, v.n)]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(np.isfinite(head) & (head > 0), np.log10(head), np.nan)
    return nanmedian_rows(logs.T)


def _note_param_baselines(v: View) -> None:
    mem = v.mem
    if mem.param_ref is None and v.row0 == 0 and v.n >= v.th.reference_steps:
        mem.param_ref = _param_baseline(v)
    w = v.stat("weight_norm")
    if mem.weight_ref is None and w is not None and np.any(v.detail):
        first = int(np.flatnonzero(v.detail)[0])
        if v.row0 + first < v.th.reference_steps:  # the run's first measurement
            mem.weight_ref = w[first].copy()


def clipping_seen(v: View) -> bool:
    """The run clips its gradients: a step norm below the logged norm, on any row so far."""
    if v.mem.clipped:
        return True
    with np.errstate(invalid="ignore"):
        below = v.step_norm < v.total * (1 - 1e-6)
    return bool(np.any(below & np.isfinite(v.step_norm)))


def fixes_for_view(v: View, kind: str, cause: str = "") -> tuple[Fix, ...]:
    """The fixes for a finding, knowing what the run does: a run seen clipping (or
    configured to) is never told to clip."""
    return fixes_for(kind, v.roles, cause, clipping=clipping_seen(v))


def update_memory(v: View) -> None:
    """Fold the window's unseen rows into the run's running aggregates."""
    mem = v.mem
    new = slice(v.new_from, v.n)
    if not np.isfinite(mem.initial_loss):
        mem.initial_loss = initial_loss(v)
    mem.clipped = clipping_seen(v)
    _note_param_baselines(v)
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

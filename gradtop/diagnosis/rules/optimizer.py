"""What reaches the weights: the silent bugs between ``backward()`` and the update.

Each of these trains without an error and with normal-looking gradients, because the
gradients ``log()`` reads are fine; what goes wrong happens after it. They read what the
Logger measured at ``optimizer.step()`` (format 1.2: the step norm, stale gradients),
the learning rate and the weights, and never claim what a file does not hold.
"""

from __future__ import annotations

import numpy as np

from gradtop.diagnosis.derived import (
    fixes_for_view,
    initial_loss,
    relative_loss_drop,
    smooth_loss,
)
from gradtop.diagnosis.findings import Evidence
from gradtop.diagnosis.series import (
    hold_last,
    nanmedian_rows,
    persisted,
    rolling_count,
    running,
)
from gradtop.diagnosis.signals import CRITICAL, OFF, WARNING, Signal, last_on, levels
from gradtop.diagnosis.view import View


def _step_factor(v: View) -> np.ndarray:
    """Step norm over logged norm per row: 1 unclipped, < 1 clipped, 0 zeroed; NaN unknown."""

    def make() -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            f = v.step_norm / v.total
        f[~(np.isfinite(v.total) & (v.total > 0) & np.isfinite(v.step_norm))] = np.nan
        return f

    return v.cached("step_factor", make)


def _stalled(v: View, k: int) -> np.ndarray:
    """The smoothed loss fell by less than 10% over ``k`` rows (or is not known)."""
    with np.errstate(invalid="ignore"):
        return ~(relative_loss_drop(v, k) >= v.th.lr_low_max_drop)


def _owned_weights(v: View) -> list[int]:
    held = v.roles.weight.copy()
    held[list(v.roles.not_in_optimizer)] = False
    return np.flatnonzero(held).tolist()


def _stepped_params(v: View, at: int) -> tuple[int, ...]:
    """Every parameter the optimizer should be moving at row ``at`` (it holds it and it
    got a gradient): for a finding about the step itself, none of them is "ok"."""
    held = v.roles.trainable.copy()
    held[list(v.roles.not_in_optimizer)] = False
    return tuple(int(i) for i in np.flatnonzero(held & ~v.grad_missing[at]))


def _weights_unchanged(v: View) -> tuple[np.ndarray, np.ndarray]:
    """(measured, unchanged) per row: a detail row whose every optimizer-held weight
    matrix with a nonzero gradient has an update ratio of exactly 0."""
    uw = v.stat("update_ratio")
    cols = _owned_weights(v)
    measured = np.zeros(v.n, dtype=bool)
    if uw is None or not cols:
        return measured, measured.copy()
    sub = uw[:, cols]
    with np.errstate(invalid="ignore"):
        moving = v.grad[:, cols] > 0
        known = np.isfinite(sub) & moving
        measured = v.detail & np.any(known, axis=1)
        zero = np.all(np.where(known, sub == 0, True), axis=1)
    return measured, measured & zero


def no_update(v: View) -> list[Signal]:
    """Gradients flow, yet the weights do not change: zeroed after ``log()``, a zero LR,
    or an optimizer that does not step them."""
    th = v.th
    factor = _step_factor(v)
    grads = np.isfinite(v.total) & (v.total > 0)
    with np.errstate(invalid="ignore"):
        zeroed = grads & (factor < th.no_update_factor)
        lr_zero = grads & (v.lr == 0)
    measured, unchanged = _weights_unchanged(v)
    # The newest measurement says unchanged, and enough measurements in the window did.
    last_measured = np.maximum.accumulate(np.where(measured, np.arange(v.n), -1))
    newest = np.where(last_measured >= 0, unchanged[np.maximum(last_measured, 0)], False)
    unchanged_n = rolling_count(unchanged, th.window)
    still = newest & (unchanged_n >= th.unchanged_measurements)
    zeroed_on = persisted(zeroed, th.no_update_persist)
    lr_zero_on = persisted(lr_zero, 2 * th.no_update_persist)
    level = levels(v.n)
    with np.errstate(invalid="ignore"):
        healthy = grads & ~(factor < 1e3 * th.no_update_factor) & ~(v.lr == 0) & ~still
    level[healthy] = OFF
    level[zeroed_on | still | lr_zero_on] = CRITICAL
    signal = Signal("no_update", level)
    at = last_on(level)
    if at is None:
        return [signal]
    step = int(v.steps[at])
    total = float(v.total[at])
    clip = v.run.header.clip_max_norm
    if zeroed_on[at]:
        cause = "zeroed_after_log"
        shown = f"{float(v.step_norm[at]):.3g}" if np.isfinite(v.step_norm[at]) else "0"
        signal.title = "Nothing reaches the weights: the gradients are 0 at optimizer.step()"
        signal.evidence = (
            Evidence(
                "gradient norm at optimizer.step() / norm at log()",
                float(factor[at]),
                th.no_update_factor,
                "<",
            ),
        )
        signal.explanation = (
            f"At step {step} log() measured a total gradient norm of {total:.3g}, but when "
            f"optimizer.step() ran it was {shown}: something between log() and the step "
            "multiplies every gradient by 0, so the optimizer gets nothing and the weights "
            "only move by weight decay or momentum, if at all. The usual cause is "
            "clip_grad_norm_(..., max_norm=0)"
            + (f" (clipping is configured at {clip:g})" if clip else "")
            + ", or a p.grad.zero_() / mul_(0) before the step."
        )
    elif lr_zero_on[at]:
        cause = "lr_zero"
        signal.title = "Nothing reaches the weights: the learning rate is 0"
        signal.evidence = (Evidence("learning rate", 0.0, 0.0, "<="),)
        signal.explanation = (
            f"The learning rate has been exactly 0 since before step {step}, so "
            "optimizer.step() changes nothing although the gradients are normal "
            f"(total norm {total:.3g}). A scheduler that starts or ends at 0, or an lr "
            "left at 0 in a param group, does this."
        )
    else:
        cause = "weights_unchanged"
        count = int(unchanged_n[at])
        signal.title = (
            f"Nothing reaches the weights: they stayed bit-identical in {count} measured steps"
        )
        signal.evidence = (
            Evidence(
                "largest update/weight ratio over weight matrices with a gradient", 0.0, 0.0, "<="
            ),
        )
        signal.explanation = (
            f"The gradients are there (total norm {total:.3g} at step {step}), yet across "
            f"optimizer.step() not one weight matrix changed, in {count} measured steps. "
            "The optimizer runs but does not update them: a learning rate of 0, parameters "
            "it does not hold (a copy of the model, or a re-created layer), or gradients "
            "zeroed after they were logged."
        )
    signal.params = _stepped_params(v, at)
    signal.fixes = fixes_for_view(v, "no_update", cause)
    signal.extra = {"cause": cause}
    return [signal]


def over_clipped(v: View) -> list[Signal]:
    """Clipping shrinks every step many times over while the loss stalls."""
    th = v.th
    factor = _step_factor(v)
    with np.errstate(invalid="ignore"):
        tight = (factor < th.over_clip_factor) & (factor >= th.no_update_factor)
        loose = factor > 3 * th.over_clip_factor
    stalled = _stalled(v, th.over_clip_persist)
    level = levels(v.n)
    level[loose] = OFF
    level[persisted(tight, th.over_clip_persist) & stalled] = WARNING
    signal = Signal("over_clipped", level)
    at = last_on(level)
    if at is None:
        return [signal]
    span = slice(max(0, at + 1 - th.over_clip_persist), at + 1)
    f = float(np.nanmedian(factor[span]))
    typical = float(np.nanmedian(v.total[span]))
    reached = float(np.nanmedian(v.step_norm[span]))
    clip = v.run.header.clip_max_norm
    signal.title = f"Clipping shrinks every update {1 / f:.0f}x: the loss has stalled"
    signal.evidence = (
        Evidence(
            "median gradient norm at optimizer.step() / norm at log()", f, th.over_clip_factor, "<"
        ),
    )
    signal.explanation = (
        f"Over the last {th.over_clip_persist} logged steps the gradient norm was about "
        f"{typical:.3g} before clipping and {reached:.3g} when optimizer.step() ran"
        + (f" (max_norm {clip:g})" if clip else "")
        + f", so every update is {1 / f:.0f} times smaller than the gradient asks for, and "
        "the loss barely moves. Clipping is meant to cap rare spikes, not every step."
    )
    signal.fixes = fixes_for_view(v, "over_clipped")
    signal.extra = {"factor": f, "typical_norm": typical, "step_norm": reached}
    return [signal]


def zero_grad_missing(v: View) -> list[Signal]:
    """The gradients of one step are still there, untouched, when the next backward adds
    to them: ``zero_grad()`` is never called."""
    th = v.th
    stale = v.stale == 1.0
    level = levels(v.n)
    level[v.stale == 0.0] = OFF
    level[persisted(stale, th.stale_persist)] = CRITICAL
    signal = Signal("zero_grad_missing", level)
    at = last_on(level)
    if at is None:
        return [signal]
    count = int(rolling_count(stale, th.window)[at])
    finite = np.flatnonzero(np.isfinite(v.total[: at + 1]))
    grew = ""
    if len(finite) >= 2:
        first, last = float(v.total[finite[0]]), float(v.total[finite[-1]])
        grew = f" The total gradient norm went from {first:.3g} to {last:.3g} meanwhile."
    signal.title = "optimizer.zero_grad() is missing: gradients pile up across steps"
    signal.evidence = (
        Evidence(
            "logged steps whose gradients were never cleared", float(count), th.stale_persist, ">="
        ),
    )
    signal.explanation = (
        f"In {count} logged steps, up to step {int(v.steps[at])}, the gradients the previous "
        "optimizer.step() had used were still in .grad, untouched, when the next backward "
        "added its own: nothing cleared them. Each step then applies the sum of every "
        f"gradient so far, not the current one, and training drifts or diverges.{grew}"
    )
    signal.params = _stepped_params(v, at)
    signal.fixes = fixes_for_view(v, "zero_grad_missing")
    signal.extra = {"steps": count}
    return [signal]


def lr_collapsed(v: View) -> list[Signal]:
    """The learning rate fell to ~0 soon after its peak while the loss still had far to
    go: typically a per-epoch scheduler stepped once per batch."""
    th = v.th
    lr = v.lr
    if not np.any(np.isfinite(lr)):
        return []
    peak = running(v.mem.max_lr, lr, np.fmax)
    rows = v.row_index()
    # global row of the newest peak, as far as the window sees it
    is_peak = np.isfinite(lr) & (lr >= peak)
    peak_row = np.maximum.accumulate(np.where(is_peak, rows, -1))
    with np.errstate(invalid="ignore"):
        low = (lr < th.lr_collapse_frac * peak) & (peak > 0)
    started = low.copy()  # rows where the lr first dropped below the fraction
    started[1:] &= ~low[:-1]
    first_low = np.maximum.accumulate(np.where(started, rows, -1))
    fast = (first_low >= 0) & (peak_row >= 0) & (first_low - peak_row <= th.lr_collapse_within)
    ls = smooth_loss(v)
    init = initial_loss(v)
    with np.errstate(invalid="ignore"):
        far = ls >= th.lr_low_min_remaining * init
    stalled = _stalled(v, th.lr_collapse_persist)
    level = levels(v.n)
    with np.errstate(invalid="ignore"):
        level[np.isfinite(lr) & (lr >= th.lr_collapse_frac * peak)] = OFF
    level[persisted(low & fast & far & stalled, th.lr_collapse_persist)] = WARNING
    signal = Signal("lr_collapsed", level)
    at = last_on(level)
    if at is None:
        return [signal]
    fell_at = int(v.steps[max(0, int(first_low[at]) - v.row0)])
    top = float(peak[at])
    signal.title = (
        f"The learning rate collapsed to {float(lr[at]):.2g} ({lr[at] / top:.0e} of its peak)"
    )
    signal.evidence = (
        Evidence("learning rate / its peak", float(lr[at] / top), th.lr_collapse_frac, "<"),
    )
    signal.explanation = (
        f"The learning rate peaked at {top:.3g} and was below {th.lr_collapse_frac:.0%} of "
        f"that by step {fell_at}, within {th.lr_collapse_within} logged steps; the loss "
        f"({float(ls[at]):.3g}, started at {init:.3g}) has stopped improving far from done. "
        "A schedule written in epochs (StepLR, ExponentialLR, CosineAnnealingLR with T_max "
        "in epochs) but stepped after every batch decays that fast."
    )
    signal.fixes = fixes_for_view(v, "lr_collapsed")
    signal.extra = {"peak_lr": top, "fell_at": fell_at}
    return [signal]


def weight_collapse(v: View) -> list[Signal]:
    """The weights shrink toward 0 and the loss stalls: weight decay stronger than the
    gradient that feeds them."""
    th = v.th
    w = v.stat("weight_norm")
    ref = v.mem.weight_ref
    cols = _owned_weights(v)
    if w is None or ref is None or not cols:
        return []
    # measured on detail steps only: hold each measurement until the next one
    w = hold_last(w[:, cols], ~v.detail, max(1, v.run.header.detail_every))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = w / ref[cols][None, :]
    ratio[:, ~(ref[cols] > 0)] = np.nan
    med = np.full(v.n, np.nan)
    med[v.p_start :] = nanmedian_rows(ratio[v.p_start :])
    ls = smooth_loss(v)
    init = initial_loss(v)
    with np.errstate(invalid="ignore"):
        shrunk = med < th.weight_collapse_ratio
        far = ls >= th.lr_low_min_remaining * init
        level = levels(v.n)
        level[med > th.weight_collapse_ratio * th.clear_factor] = OFF
    stalled = _stalled(v, th.weight_collapse_persist)
    level[persisted(shrunk & far & stalled, th.weight_collapse_persist)] = WARNING
    signal = Signal("weight_collapse", level)
    at = last_on(level)
    if at is None:
        return [signal]
    wd = v.run.header.meta.get("weight_decay") if isinstance(v.run.header.meta, dict) else None
    decay = f" with weight_decay={wd:g}" if isinstance(wd, int | float) and wd > 0 else ""
    signal.title = (
        f"Weights collapse toward 0: the median weight matrix is {med[at]:.2g}x its start"
    )
    signal.evidence = (
        Evidence(
            "median weight-matrix norm / its first measurement",
            float(med[at]),
            th.weight_collapse_ratio,
            "<",
        ),
    )
    signal.params = tuple(cols)
    signal.explanation = (
        f"The weight matrices have shrunk to a median {med[at]:.2g}x their starting norm "
        f"while the loss ({float(ls[at]):.3g}, started at {init:.3g}) has stopped improving "
        f"far from done: the optimizer{decay} pulls the weights toward 0 harder than the "
        "gradients push them, so the model loses what it learns."
        + (
            ""
            if decay
            else " No weight decay is recorded in the header, so look for another "
            "shrinking term (an L2/L1 penalty in the loss, a max-norm constraint)."
        )
    )
    signal.fixes = fixes_for_view(v, "weight_collapse")
    signal.extra = {"median_ratio": float(med[at])}
    return [signal]

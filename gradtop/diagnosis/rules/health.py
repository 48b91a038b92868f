"""Parameters that cannot learn: NaN/Inf, dead units, missing, frozen (diagnosis.md §2, §4)."""

from __future__ import annotations

import numpy as np

from gradtop.diagnosis.derived import fixes_for_view, huge
from gradtop.diagnosis.findings import Evidence
from gradtop.diagnosis.series import (
    nanmedian_rows,
    persisted,
    rolling_count,
    rolling_min,
    run_length,
)
from gradtop.diagnosis.signals import CRITICAL, INFO, OFF, WARNING, Signal, last_on, levels
from gradtop.diagnosis.view import View

# ---------------------------------------------------------------------------- non-finite


def _bad_rows(v: View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: non-finite gradients, non-finite weights, non-finite loss."""
    counts = v.stat("nonfinite")
    if counts is not None:
        with np.errstate(invalid="ignore"):
            bad_grad = np.any(counts > 0, axis=1) | np.any(
                ~np.isfinite(v.grad) & ~v.grad_missing, 1
            )
    else:
        bad_grad = np.any(~np.isfinite(v.grad) & ~v.grad_missing, axis=1)
    w = v.stat("weight_norm")
    if w is None:
        bad_w = np.zeros(v.n, dtype=bool)
    else:
        bad_w = np.any(np.isinf(w) | _logged_nan(w, v.missing.get("weight_norm")), 1)
    bad_loss = v.loss_known & ~np.isfinite(v.loss)
    bad_grad[: v.p_start] = False  # per-parameter rows not loaded (see build_view)
    bad_w[: v.p_start] = False
    return bad_grad, bad_w, bad_loss


def _logged_nan(w: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    # weight_norm is null only between detail steps; any other NaN is a real NaN weight.
    return np.isnan(w) if missing is None else np.isnan(w) & ~missing


def nonfinite(v: View) -> list[Signal]:
    th, roles, run = v.th, v.roles, v.run
    bad_grad, bad_w, bad_loss = _bad_rows(v)
    amp = bool(np.any(np.isfinite(v.scale)))
    level = levels(v.n)
    if not amp:
        bad = bad_grad | bad_w | bad_loss
        level[~bad] = OFF
        level[bad] = CRITICAL
        clear = th.nonfinite_clear
    else:
        # Dynamic loss scaling skips overflow steps by design: only repeated overflows
        # after the initial scale search, a collapsing scale, or NaN weights are findings.
        overflow = bad_grad | bad_loss
        calibrated = v.mem.amp_calibrated | np.maximum.accumulate(~overflow)
        count = rolling_count(overflow & calibrated, th.amp_window)
        with np.errstate(invalid="ignore"):
            collapsed = v.scale < th.amp_min_scale
        level[~overflow & ~bad_w & (count < th.amp_overflow_max // 2)] = OFF
        level[count >= th.amp_overflow_max] = WARNING
        level[collapsed | bad_w] = CRITICAL
        clear = th.clear_steps
    signal = Signal("nonfinite", level, clear_steps=clear)
    at = last_on(level)
    if at is None:
        return [signal]
    # Run-level firsts after the window's last row are not this evaluation's to tell (a
    # window cut at an earlier row: View.upto, to describe an episode that has cleared).
    last_step = int(v.steps[-1])
    first = run.first_nonfinite
    if first is not None and first.step > last_step:
        first = None
    first_loss = run.first_nonfinite_loss
    if first_loss is not None and first_loss > last_step:
        first_loss = None
    params: tuple[int, ...] = first.params if first is not None else ()
    evidence = []
    counts = v.stat("nonfinite")
    if bad_grad[: at + 1].any():
        j = int(np.flatnonzero(bad_grad[: at + 1])[-1])
        n_bad = float(np.nansum(counts[j])) if counts is not None else float("nan")
        evidence.append(
            Evidence(
                f"non-finite gradient entries at step {int(v.steps[j])}",
                n_bad,
                0.0,
                ">",
                roles.names[params[0]] if params else None,
            )
        )
    if bad_loss[: at + 1].any():
        evidence.append(
            Evidence(
                "logged steps with a NaN/Inf loss"
                + (f" (first at step {first_loss})" if first_loss is not None else ""),
                float(np.sum(bad_loss[: at + 1])),
                0.0,
                ">",
            )
        )
    if amp:
        count = int(rolling_count(bad_grad | bad_loss, th.amp_window)[at])
        scale = float(v.scale[at]) if np.isfinite(v.scale[at]) else float("nan")
        evidence.append(
            Evidence(
                f"AMP overflow steps in the last {th.amp_window}", count, th.amp_overflow_max, ">"
            )
        )
        evidence.append(Evidence("loss scale", scale, th.amp_min_scale, "<"))
        cause = "amp"
        title = "Mixed precision keeps overflowing"
        if bad_w[: at + 1].any():
            title = "Weights became NaN/Inf under mixed precision"
        explanation = (
            "With a GradScaler a few overflow steps are normal: the scaler skips them and "
            "halves the loss scale. Here they keep coming (or the scale has collapsed), "
            "so the values themselves exceed fp16's range, not just the scaled gradients."
        )
    else:
        start_step = run.first_step
        # The earliest sign: NaN/Inf gradients, loss or (after an update) weights.
        seen = np.flatnonzero(bad_grad | bad_w | bad_loss)
        candidates = [int(v.steps[seen[0]])] if len(seen) else [int(v.steps[at])]
        if first is not None:
            candidates.append(first.step)
        if first_loss is not None:
            candidates.append(first_loss)
        first_bad = min(candidates)
        if v.mem.first_row_huge or (v.row0 == 0 and bool(huge(v)[0])):
            cause = "init"
        elif first_bad == start_step:
            cause = "data"
        else:
            cause = "training"
        where = f" in {roles.param_names(params)}" if params else ""
        title = f"NaN/Inf gradients since step {first_bad}{where}"
        if bad_w[: at + 1].any():
            title = f"NaN/Inf weights: training is broken since step {first_bad}"
        explanation = {
            "data": "Non-finite values appeared at the very first step, before any update "
            "could have blown up: the usual cause is a NaN or Inf in the inputs or labels, "
            "or an operation like log(0) or 0/0 in the loss.",
            "init": "The initial weights made the loss and gradients enormous at the first "
            "step; one update with such gradients overflowed to Inf/NaN.",
            "training": "Gradients turned into NaN/Inf after training had started, usually "
            "the end of an explosion (see exploding gradients) or a division by a tiny "
            "number. Once a NaN reaches the weights, every later step is NaN too.",
        }[cause]
    signal.title = title
    signal.params = tuple(params)
    signal.evidence = tuple(evidence)
    signal.explanation = explanation
    signal.fixes = fixes_for_view(v, "nonfinite", cause)
    signal.extra = {
        "cause": cause,
        "first_nonfinite_step": None if first is None else first.step,
        "first_nonfinite_loss_step": first_loss,
    }
    return [signal]


# ---------------------------------------------------------------------------- fp16


def _fp16_underflow_rows(v: View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, median gradient RMS, median zero fraction) of weight matrices: fp16 weights,
    no loss scale, gradients near fp16's floor and many exact zeros."""

    def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        none = np.zeros(v.n, dtype=bool)
        nan = np.full(v.n, np.nan)
        cols = np.flatnonzero(v.roles.weight)
        zf = v.stat("zero_frac")
        if v.roles.precision != "fp16" or np.any(np.isfinite(v.scale)) or zf is None:
            return none, nan, nan
        if not len(cols):
            return none, nan, nan
        start = v.p_start
        rms = np.full(v.n, np.nan)
        zero = np.full(v.n, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            rms[start:] = nanmedian_rows(v.grad[start:, cols] / np.sqrt(v.roles.numel[cols]))
            zero[start:] = nanmedian_rows(zf[start:, cols])
            rows = (rms < v.th.fp16_tiny_rms) & (zero >= v.th.fp16_zero_frac)
        return rows, rms, zero

    return v.cached("fp16_underflow", make)


def fp16_underflow(v: View) -> list[Signal]:
    """Pure fp16 training without a loss scaler: small gradients flush to exactly 0."""
    th = v.th
    rows, rms, zero = _fp16_underflow_rows(v)
    if not np.any(np.isfinite(rms)):
        return []
    level = levels(v.n)
    with np.errstate(invalid="ignore"):
        level[(rms > th.fp16_tiny_rms * th.clear_factor) | (zero < th.fp16_zero_frac / 2)] = OFF
    level[persisted(rows, th.fp16_persist)] = WARNING
    signal = Signal("fp16_underflow", level)
    at = last_on(level)
    if at is None:
        return [signal]
    signal.title = f"fp16 without loss scaling: {zero[at]:.0%} of gradient entries underflow to 0"
    signal.params = tuple(int(i) for i in np.flatnonzero(v.roles.weight))
    signal.evidence = (
        Evidence(
            "median gradient RMS of the weight matrices", float(rms[at]), th.fp16_tiny_rms, "<"
        ),
        Evidence(
            "median fraction of gradient entries exactly 0", float(zero[at]), th.fp16_zero_frac, ">"
        ),
    )
    signal.explanation = (
        "The weights are fp16 and no loss scale is recorded, so the gradients are fp16 "
        f"too. Their typical size here (RMS {rms[at]:.1e}) is at fp16's floor: the "
        "smallest normal fp16 number is 6.1e-5 and anything below 6e-8 becomes exactly 0, "
        f"and a median {zero[at]:.0%} of each weight matrix's gradient entries are exactly "
        "0. Those weights get no update from those entries at all. A loss scaler "
        "multiplies the loss (and every gradient) before backward and divides it out "
        "before the step, which keeps them in range."
    )
    signal.fixes = fixes_for_view(v, "fp16_underflow")
    return [signal]


# ---------------------------------------------------------------------------- dead units


def _zero_fractions(v: View, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Per dead group and row: the zero-gradient fraction, and whether ALL its
    gradients are exactly zero (then the fraction is 1). Rows before
    ``v.start(margin)`` are left NaN (never consumed).

    A dead unit zeroes its bias entry AND its weight row, so the smaller of the two
    fractions bounds the dead fraction; the weight alone would also count dead inputs,
    the bias alone can round to exactly 0 when a BatchNorm follows.
    """
    groups = v.roles.dead_groups
    zf = v.stats["zero_frac"]
    start = v.start(margin)
    rows = slice(start, v.n)
    n_rows = v.n - start
    frac = np.full((v.n, len(groups)), np.nan)
    allzero = np.zeros((v.n, len(groups)), dtype=bool)
    if n_rows <= 0:
        return frac, allzero
    gather = v.roles.dead_gather
    assert gather is not None
    w_frac = np.full((n_rows, len(groups)), np.nan)
    if len(gather.with_mats):
        w_frac[:, gather.with_mats] = np.maximum.reduceat(
            zf[rows][:, gather.mat_order], gather.mat_bounds, axis=1
        )
    has_bias = gather.bias >= 0
    b_frac = np.full((n_rows, len(groups)), np.nan)
    b_frac[:, has_bias] = zf[rows][:, gather.bias[has_bias]]
    frac[rows] = np.where(has_bias[None, :], np.fmin(b_frac, w_frac), w_frac)
    cols = gather.member_order
    with np.errstate(invalid="ignore"):
        zero = (v.grad[rows][:, cols] == 0) & ~v.grad_missing[rows][:, cols]
    allzero[rows] = np.minimum.reduceat(zero.astype(np.int8), gather.member_bounds, axis=1) > 0
    frac = np.where(allzero, 1.0, frac)
    return frac, allzero


def dead_units(v: View) -> list[Signal]:
    """Units (or whole layers) whose gradient is exactly zero on every recent batch.

    A layer's bias gradient is zero exactly for units that output 0 on the whole batch
    (a dead ReLU), so it is the cleanest per-unit signal; layers without a bias fall
    back to the zero fraction of their weight matrix. Embeddings are left out: rows
    of tokens not in the batch get exactly zero gradient by design.
    """
    th, roles = v.th, v.roles
    zf = v.stat("zero_frac")
    groups = roles.dead_groups
    if zf is None or not groups:
        return []
    frac, allzero = _zero_fractions(v, th.dead_persist + 1)
    # Fraction zero in EVERY one of the last dead_persist rows (bounded by the per-row min).
    dead = rolling_min(frac, th.dead_persist, v.start(1))
    full = run_length(np.all(np.isfinite(frac), axis=1)) >= th.dead_persist
    converged = np.all(allzero, axis=1) & (np.abs(v.loss) <= th.zero_loss)
    with np.errstate(invalid="ignore"):
        worst = np.max(np.where(np.isfinite(dead), dead, 0.0), axis=1)
    # Zeros from fp16 underflow are not dead units (fp16_underflow names them).
    ok = full & ~persisted(converged, 1) & ~_fp16_underflow_rows(v)[0]
    level = levels(v.n)
    level[ok & (worst < th.dead_info / 2)] = OFF
    level[ok & (worst > th.dead_info)] = INFO
    level[ok & (worst > th.dead_warning)] = WARNING
    level[ok & (worst >= th.dead_critical)] = CRITICAL
    signal = Signal("dead_units", level)
    at = last_on(level)
    if at is None:
        return [signal]
    row = dead[at]
    sick = [j for j in range(len(groups)) if np.isfinite(row[j]) and row[j] > th.dead_info]
    whole = [j for j in sick if row[j] >= 1.0]
    names = [groups[j][0] or "(root)" for j in sick]
    params = tuple(
        sorted(
            i
            for j in sick
            for i in ([groups[j][1]] if groups[j][1] is not None else []) + list(groups[j][2])
        )
    )
    signal.params = params
    signal.evidence = tuple(
        Evidence(
            f"fraction of {groups[j][0] or '(root)'}'s "
            + ("units" if groups[j][1] is not None else "weights")
            + f" with zero gradient in each of the last {th.dead_persist} steps",
            float(row[j]),
            th.dead_critical
            if row[j] >= th.dead_critical
            else th.dead_warning
            if row[j] > th.dead_warning
            else th.dead_info,
            ">",
            roles.names[groups[j][1] if groups[j][1] is not None else groups[j][2][0]],
        )
        for j in sorted(sick, key=lambda j: -row[j])[:4]
    )
    worst_j = int(np.argmax(row[sick]))
    if len(whole) == len(groups):
        signal.title = "Every gradient is exactly zero: the whole network is dead"
    elif whole:
        signal.title = f"All-zero gradients in {len(whole)} layer(s): {', '.join(names[:3])}"
    else:
        what = "Saturated units" if roles.recurrent or roles.saturating else "Dead units"
        signal.title = f"{what}: {row[sick][worst_j]:.0%} of {names[worst_j]} gets no gradient"
    saturating = roles.recurrent or bool(roles.saturating)
    mechanism = (
        "A tanh or sigmoid unit pushed to its flat ends (output +-1, or 0 and 1) has a "
        "slope of exactly 0 in float32, so it passes back no gradient: it is saturated. "
        if saturating
        else "A ReLU unit whose input is negative for every sample outputs 0 and passes "
        "back a gradient of exactly 0, so it can never change again: it is dead. "
    )
    signal.explanation = (
        mechanism + f"Here {len(sick)} layer(s) have more than {th.dead_info:.0%} of their "
        "units (or weights) with a zero gradient on every one of the last "
        f"{th.dead_persist} batches; the most, {row[sick][worst_j]:.0%}, in "
        f"{names[worst_j]}"
        + (", and some layers get no gradient at all" if whole else "")
        + ". Common causes: "
        + (
            "weights or a learning rate so large that pre-activations sit far from 0."
            if saturating
            else "a large negative bias, a learning rate so high that one step pushed "
            "units far negative, or a poor initialisation."
        )
    )
    signal.fixes = fixes_for_view(v, "dead_units")
    signal.extra = {"layers": names, "whole_layers": [groups[j][0] for j in whole]}
    return [signal]


# ---------------------------------------------------------------------------- missing / frozen


def no_grad(v: View) -> list[Signal]:
    """requires_grad=True but .grad stays None: unused in forward, or detached."""
    if "grad_norm" not in v.stats:
        return []
    th, roles = v.th, v.roles
    train = roles.trainable
    others = np.any(~v.grad_missing, axis=1)
    miss = v.grad_missing & train[None, :] & others[:, None]
    held = persisted(miss, th.no_grad_persist) if miss.shape[1] else np.zeros((v.n, 0), bool)
    level = levels(v.n)
    level[others & ~np.any(miss, axis=1)] = OFF
    level[np.any(held, axis=1)] = WARNING
    signal = Signal("no_grad", level, clear_steps=th.no_grad_persist)
    at = last_on(level)
    if at is None:
        return [signal]
    params = tuple(int(i) for i in np.flatnonzero(held[at]))
    signal.params = params
    signal.title = (
        f"No gradient for {len(params)} trainable parameter(s): {roles.param_names(params)}"
    )
    signal.evidence = (
        Evidence(
            "consecutive steps with .grad None while requires_grad=True",
            float(run_length(miss[:, params[0]])[at]),
            th.no_grad_persist,
            ">=",
            roles.names[params[0]],
        ),
    )
    signal.explanation = (
        f"{roles.param_names(params)} require gradients but got none after backward: they "
        "are not on the path from the inputs to the loss. Either the module is defined but "
        "never called in forward, or its output is cut off by .detach(), .data, .item() or "
        "torch.no_grad(). (Unused experts in a mixture-of-experts model also show up here.)"
    )
    signal.fixes = fixes_for_view(v, "no_grad")
    return [signal]


def frozen(v: View) -> list[Signal]:
    roles = v.roles
    out: list[Signal] = []
    if not roles.frozen:
        # Layers unfrozen mid-run (gradual unfreezing) leave the roles: an all-OFF signal
        # clears what the rows before said (the session diagnosed those first).
        out.append(Signal("frozen", levels(v.n, OFF)))
    else:
        params = roles.frozen
        s = Signal("frozen", levels(v.n, INFO))
        s.params = params
        s.title = (
            f"{len(params)} parameter(s) frozen (requires_grad=False): {roles.param_names(params)}"
        )
        s.explanation = (
            "These parameters were frozen on purpose (requires_grad=False) and do not "
            "train. That is expected when fine-tuning or using adapters such as LoRA; if "
            "you did not mean to freeze them, unfreeze them. They are left out of the "
            "other checks, so a frozen layer is never reported as vanishing."
        )
        s.fixes = fixes_for_view(v, "frozen")
        out.append(s)
    if not roles.not_in_optimizer:  # a group added mid-run (add_param_group) clears it
        out.append(Signal("not_in_optimizer", levels(v.n, OFF)))
    else:
        params = roles.not_in_optimizer
        s = Signal("not_in_optimizer", levels(v.n, WARNING))
        s.params = params
        s.title = (
            f"{len(params)} trainable parameter(s) missing from the optimizer: "
            f"{roles.param_names(params)}"
        )
        s.explanation = (
            "These parameters require gradients but the optimizer does not hold them, so "
            "their gradients are computed and thrown away: they never change. This happens "
            "when a layer is added after the optimizer was built, or a parameter filter "
            "drops it by mistake."
        )
        s.fixes = fixes_for_view(v, "not_in_optimizer")
        out.append(s)
    return out

"""Learning rate and loss trend (diagnosis.md §3-4).

The update/weight ratio ||dw||/||w|| is the CS231n rule of thumb (about 1e-3 is
healthy); it is read only after LR warmup and never during annealing, and always
together with the loss: a small ratio in a run whose loss is still falling fast, or
has already fallen a long way, is not a problem.
"""

from __future__ import annotations

import numpy as np

from gradtop.diagnosis.derived import (
    best_loss,
    fixes_for_view,
    hidden_max_update_ratio,
    initial_loss,
    median_update_ratio,
    nearest_median_update_ratio,
    relative_loss_drop,
    smooth_loss,
)
from gradtop.diagnosis.findings import Evidence
from gradtop.diagnosis.series import lagged, persisted, rolling_count, running
from gradtop.diagnosis.signals import CRITICAL, INFO, OFF, WARNING, Signal, last_on, levels
from gradtop.diagnosis.view import View


def _lr_phase(v: View) -> tuple[np.ndarray, np.ndarray]:
    """(warming up, annealed): rows where the LR rose recently / sits far below its peak."""
    lr = v.lr
    with np.errstate(invalid="ignore"):
        rising = lr > lagged(lr, 1) * (1 + 1e-6)
        peak = running(v.mem.max_lr, lr, np.fmax)
        annealed = lr < v.th.lr_anneal_frac * peak
    warming = rolling_count(rising, 5) > 0
    return warming, annealed


def learning_rate(v: View) -> list[Signal]:
    th, roles = v.th, v.roles
    med = median_update_ratio(v)
    if not np.any(np.isfinite(med)):
        return []
    warming, annealed = _lr_phase(v)
    ok = (v.row_index() >= th.min_steps) & np.isfinite(med) & ~warming
    drop = relative_loss_drop(v, th.lr_window)
    ls = smooth_loss(v)
    init = initial_loss(v)
    top = hidden_max_update_ratio(v)
    with np.errstate(invalid="ignore"):
        stalled = drop < th.lr_low_max_drop
        far_from_done = ls >= th.lr_low_min_remaining * init
        uniform = top < th.lr_low_spread * med
        low = ok & ~annealed & (med < th.lr_low_ratio) & uniform & stalled & far_from_done
        not_improving = drop < th.plateau_min_improvement
        # Updates as big as a tenth of the weights are dangerous from the first step on.
        huge_steps = (v.row_index() >= 1) & ~warming & (med > th.lr_high_critical_ratio)
        worse_than_start = ls > 1.1 * init
        high_warn = persisted(ok & (med > th.lr_high_ratio) & not_improving, th.lr_persist)
        # ...unless the loss keeps falling with them (10% in 25 rows): SGD at lr 20
        # clipped to 0.25 (the
        # word_language_model recipe) moves small weights by a tenth a step, and learns.
        learning = relative_loss_drop(v, th.lr_window // 2) > th.lr_low_max_drop
        high_warn |= persisted(huge_steps & ~learning, th.lr_high_persist)
        high_crit = persisted(huge_steps & worse_than_start, th.lr_high_persist)
        low_off = ok & (
            (med > th.lr_low_ratio * th.clear_factor) | (drop > 2 * th.lr_low_max_drop) | ~uniform
        )
        # big steps with which the loss falls fast are not "too high" (any more)
        high_off = ok & ((med < th.lr_high_ratio) | (learning & ~worse_than_start))
    out = []

    lvl = levels(v.n)
    lvl[low_off] = OFF
    lvl[persisted(low, th.lr_persist)] = WARNING
    sig = Signal("lr_too_low", lvl)
    at = last_on(lvl)
    if at is not None:
        sig.title = "Learning rate too low: weights barely change and the loss barely moves"
        sig.evidence = (
            Evidence(
                "median update/weight ratio over weight matrices",
                float(med[at]),
                th.lr_low_ratio,
                "<",
            ),
            Evidence(
                f"relative loss drop over the last {th.lr_window} steps",
                float(drop[at]),
                th.lr_low_max_drop,
                "<",
            ),
        )
        sig.explanation = (
            f"Each step changes the weights by only {med[at]:.1e} of their size (a healthy "
            "update/weight ratio is about 1e-3, CS231n), and the loss has fallen by only "
            f"{max(0.0, float(drop[at])):.1%} over the last {th.lr_window} steps while it is "
            f"still {float(ls[at]) / init:.0%} of where it started. Training will get there, "
            "but very slowly."
            + (
                " With Adam the step is about lr per weight, so this is the LR itself, not "
                "small gradients."
                if roles.adaptive
                else ""
            )
        )
        sig.fixes = fixes_for_view(v, "lr_too_low")
    out.append(sig)

    lvl = levels(v.n)
    lvl[high_off] = OFF
    lvl[high_warn] = WARNING
    lvl[high_crit] = CRITICAL
    sig = Signal("lr_too_high", lvl)
    at = last_on(lvl)
    if at is not None:
        sig.title = "Learning rate too high: each step changes the weights too much"
        sig.evidence = (
            Evidence(
                "median update/weight ratio over weight matrices",
                float(med[at]),
                th.lr_high_critical_ratio
                if med[at] > th.lr_high_critical_ratio
                else th.lr_high_ratio,
                ">",
            ),
        )
        if drop[at] < th.plateau_min_improvement:  # only when it is part of the case
            sig.evidence += (
                Evidence(
                    f"relative loss drop over the last {th.lr_window} steps",
                    float(drop[at]),
                    th.plateau_min_improvement,
                    "<",
                ),
            )
        sig.explanation = (
            f"Each step changes the weights by {med[at]:.1e} of their size; about 1e-3 is "
            "healthy and above 1e-2 steps start to overshoot (CS231n). "
            + (
                "The loss is worse than at the start. "
                if ls[at] > 1.1 * init
                else "The loss is not improving. "
                if drop[at] < th.plateau_min_improvement
                else ""
            )
            + "Too large a learning rate also kills ReLU units and leads to exploding "
            "gradients." + _decay_share(v, at)
        )
        sig.fixes = fixes_for_view(v, "lr_too_high")
    out.append(sig)
    return out


def _decay_share(v: View, at: int) -> str:
    """Weight decay's own part of the update: it shrinks every weight by lr x weight_decay
    of itself per step (SGD's coupled L2 and AdamW's decoupled decay alike)."""
    meta = v.run.header.meta if isinstance(v.run.header.meta, dict) else {}
    wd = meta.get("weight_decay")
    lr = float(v.lr[at])
    if not isinstance(wd, int | float) or not wd > 0 or not np.isfinite(lr):
        return ""
    share = lr * float(wd)
    if share < v.th.lr_high_ratio:
        return ""
    return (
        f" Weight decay alone moves each weight by lr x weight_decay = {share:.2g} of itself "
        f"per step (weight_decay={wd:g}), so it is part of the cause."
    )


def loss_divergence(v: View) -> list[Signal]:
    th = v.th
    ls = smooth_loss(v)
    best = best_loss(v)
    init = initial_loss(v)
    progress = np.maximum(init - best, 0.0)
    prior_max = running(v.mem.max_loss, np.where(np.isfinite(v.loss), v.loss, np.nan), np.fmax)
    prior_max = lagged(prior_max, 1)
    if v.n:
        prior_max[0] = v.mem.max_loss
    with np.errstate(invalid="ignore"):
        worse = (ls > th.divergence_factor * best) & (best > 0)
        gave_back = (ls - best) > th.divergence_giveback * progress
        div = (v.row_index() >= th.min_steps) & worse & gave_back
        spiky = np.isfinite(v.loss) & (prior_max > 0) & (v.loss > th.loss_spike_factor * prior_max)
        # Several times the first loss is a blow-up however early it comes: a median of
        # the first steps would have hidden it (the run "started" at the blown-up value).
        blown = (init > 0) & (ls > th.divergence_start_factor * init)
    blown_on = persisted(blown, th.loss_smooth // 2 + 1)
    level = levels(v.n)
    level[np.isfinite(ls) & ~div & ~spiky & ~blown] = OFF
    level[persisted(div, th.divergence_persist)] = WARNING
    level[spiky | blown_on] = CRITICAL
    sig = Signal("loss_divergence", level)
    at = last_on(level)
    if at is None:
        return [sig]
    if blown_on[at] and not spiky[at]:
        sig.title = (
            f"Loss blew up: {ls[at]:.3g} is {ls[at] / init:.1f}x its first value ({init:.3g})"
        )
        sig.evidence = (
            Evidence(
                "smoothed loss / the run's first loss",
                float(ls[at] / init),
                th.divergence_start_factor,
                ">",
            ),
        )
    elif spiky[at]:
        sig.title = (
            f"Loss spike: {v.loss[at]:.3g} is over {th.loss_spike_factor:g}x "
            "the highest loss so far"
        )
        sig.evidence = (
            Evidence(
                "loss / running max of the loss",
                float(v.loss[at] / prior_max[at]),
                th.loss_spike_factor,
                ">",
            ),
        )
    else:
        sig.title = "Loss is diverging: it rose well above its best value"
        sig.evidence = (
            Evidence(
                "smoothed loss / best smoothed loss",
                float(ls[at] / best[at]),
                th.divergence_factor,
                ">",
            ),
        )
    sig.explanation = (
        f"The loss went from its best of {best[at]:.3g} up to {ls[at]:.3g}"
        f" (its first value was {init:.3g}). A loss that climbs back means the updates now "
        "make the model worse: usually a learning rate too high for this stage of training, "
        "a gradient spike that knocked the weights off course, or bad data."
    )
    sig.fixes = fixes_for_view(v, "loss_divergence")
    return [sig]


def loss_plateau(v: View) -> list[Signal]:
    """The loss has not improved for a while and is still near where it started (info)."""
    th = v.th
    k = th.plateau_window
    imp = relative_loss_drop(v, k)
    ls = smooth_loss(v)
    init = initial_loss(v)
    with np.errstate(invalid="ignore"):
        stuck = (imp < th.plateau_min_improvement) & (imp > -0.1)
        near_start = ls >= th.lr_low_min_remaining * init
        plateau = (v.row_index() >= k) & stuck & near_start
        moving = imp > 2 * th.plateau_min_improvement
    level = levels(v.n)
    level[moving] = OFF
    level[plateau] = INFO
    sig = Signal("loss_plateau", level, clear_steps=th.plateau_clear)
    at = last_on(level)
    if at is None:
        return [sig]
    med = nearest_median_update_ratio(v, at)  # detail steps measure it, not every row
    measured = bool(np.isfinite(med))
    small = measured and med < th.vanishing_update_ratio
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = v.step_norm[at] / v.total[at]
    nothing = bool(factor < th.no_update_factor) or bool(v.lr[at] == 0) or (measured and med == 0)
    sig.title = f"Loss plateau: under {th.plateau_min_improvement:.0%} better over {k} steps"
    sig.evidence = (
        Evidence(
            f"relative loss improvement over {k} steps",
            float(imp[at]),
            th.plateau_min_improvement,
            "<",
        ),
    ) + (
        (
            Evidence(
                "median update/weight ratio",
                med,
                th.vanishing_update_ratio,
                "<" if small else ">",
            ),
        )
        if measured
        else ()
    )
    if nothing:
        cause = "no_update"
        why = (
            "The weights do not change at all (see the finding on what reaches the "
            "weights), so the plateau is a consequence of that, not of the data."
        )
    elif not measured:
        cause = "unmeasured"
        why = (
            "How much the weights change was not measured (the Logger was given no "
            "optimizer, or update_ratio=False), so gradtop cannot tell an optimizer that "
            "barely moves the weights from a model that moves but does not learn: pass "
            "the optimizer to the Logger to find out."
        )
    elif small:
        cause = "small_updates"
        why = (
            "The weights barely change, so the cause is on the optimisation side: a "
            "learning rate too low, or gradients vanishing before they reach the early layers."
        )
    else:
        cause = "normal_updates"
        why = (
            f"The weights change by {med:.1e} of their size per step (a normal "
            "amount), so the optimizer is working: look at capacity, the data and labels, "
            "or a bug in the loss. (Saturated units also cause plateaus, Glorot & Bengio "
            "2010.)"
        )
    sig.explanation = (
        f"The loss ({ls[at]:.3g}, first {init:.3g}) has not improved over the last {k} "
        f"logged steps. {why}"
    )
    sig.fixes = fixes_for_view(v, "loss_plateau", cause)
    sig.extra = {"cause": cause}
    return [sig]

"""Gradient flow through depth and time: vanishing, exploding, spikes (diagnosis.md §1-2)."""

from __future__ import annotations

import numpy as np

from gradtop.diagnosis.derived import (
    depth,
    fixes_for_view,
    huge,
    initial_loss,
    layer_update_ratio,
    param_growth_log,
    reference_norm_log,
    smooth_loss,
    total_norm_log,
)
from gradtop.diagnosis.findings import Evidence
from gradtop.diagnosis.series import (
    nanmedian_rows,
    persisted,
    robust_z,
    rolling_count,
    rolling_median,
)
from gradtop.diagnosis.signals import CRITICAL, OFF, WARNING, Signal, last_on, levels
from gradtop.diagnosis.view import View


def _median_tail(x: np.ndarray, k: int) -> float:
    tail = x[-k:]
    tail = tail[np.isfinite(tail)]
    return float(np.median(tail)) if len(tail) else float("nan")


# ---------------------------------------------------------------------------- vanishing


def vanishing(v: View) -> list[Signal]:
    d = depth(v)
    if d is None:
        return []
    th, roles = v.th, v.roles
    grms, ratios = d.grms, d.ratios
    big_r = ratios[:, 0]
    uw_first = layer_update_ratio(v, d.first)
    ok = (v.row_index() >= th.min_steps) & np.isfinite(big_r)
    with np.errstate(invalid="ignore"):
        low = big_r < th.vanishing_ratio
        if roles.adaptive:
            floor = th.adam_eps_factor * roles.eps
            tiny = grms[:, 0] < floor
            crit = low & (grms[:, 0] < roles.eps)
            healthy = (big_r > th.vanishing_ratio * th.clear_factor) | (
                grms[:, 0] > floor * th.clear_factor
            )
        else:
            tiny = ~(uw_first >= th.vanishing_update_ratio)  # unknown update counts as tiny
            stuck = (uw_first == 0) & (grms[:, 0] > 0) & ~(v.lr == 0)
            crit = low & ((big_r < th.vanishing_critical_ratio) | stuck)
            healthy = big_r > th.vanishing_ratio * th.clear_factor
        converged = smooth_loss(v) < th.converged_loss_frac * initial_loss(v)
    warn = ok & low & tiny & ~converged
    crit = ok & crit
    level = levels(v.n)
    level[ok & healthy] = OFF
    level[persisted(warn | crit, th.vanishing_persist)] = WARNING
    level[persisted(crit, th.vanishing_persist)] = CRITICAL
    signal = Signal("vanishing", level)
    at = last_on(level, WARNING)
    if at is None:
        return [signal]
    # Name the sick layers from the rows that raised it, not from one noisy row.
    span = slice(max(0, at + 1 - th.vanishing_persist), at + 1)
    med_r = nanmedian_rows(ratios[span].T)
    med_g = nanmedian_rows(grms[span].T)
    n_layers = len(d.layers)
    if roles.adaptive:
        sick_mask = med_g < th.adam_eps_factor * roles.eps
    else:
        sick_mask = med_r < th.vanishing_ratio
    sick = [d.layers[j] for j in range(n_layers - 2) if sick_mask[j]] or [d.first]
    first, ref = d.first, d.last_hidden
    r_now = float(med_r[0])
    uw_now = _median_tail(uw_first[: at + 1], th.vanishing_persist)
    evidence = [
        Evidence(
            f"depth ratio g_rms({first.module}) / g_rms({ref.module})",
            r_now,
            th.vanishing_ratio,
            "<",
            roles.names[first.weights[0]],
        )
    ]
    cause = "depth"
    if roles.adaptive:
        cause = "adam_eps"
        evidence.append(
            Evidence(
                f"gradient RMS of {first.module} vs {th.adam_eps_factor:g} x Adam eps",
                float(med_g[0]),
                th.adam_eps_factor * roles.eps,
                "<",
                roles.names[first.weights[0]],
            )
        )
    elif np.isfinite(uw_now):
        evidence.append(
            Evidence(
                f"update/weight ratio of {first.module}",
                uw_now,
                th.vanishing_update_ratio,
                "<",
                roles.names[first.weights[0]],
            )
        )
    k = len(sick)
    severe = level[at] == CRITICAL
    signal.title = f"Vanishing gradients: the first {k} of {n_layers} layers " + (
        "get almost no gradient" if severe else "barely learn"
    )
    signal.params = tuple(i for layer in sick for i in layer.weights)
    signal.evidence = tuple(evidence)
    why = ""
    if roles.saturating:
        names = "/".join(roles.saturating)
        why = (
            f" Your model uses {names}: its slope is at most "
            f"{'0.25' if 'Sigmoid' in names else '1'} and near 0 once a unit saturates, "
            "so every layer multiplies the gradient by a small factor."
        )
    elif roles.recurrent:
        why = " In a recurrent net the same matrix multiplies the gradient at every time step."
    adam = (
        f" With Adam the update is divided by sqrt(v) + eps; gradients near eps ({roles.eps:g}) "
        "make that division shrink the update too."
        if roles.adaptive
        else (
            f" Their weights change by only {uw_now:.1e} of their size per step "
            "(a healthy ratio is about 1e-3)."
            if np.isfinite(uw_now)
            else ""
        )
    )
    signal.explanation = (
        f"The gradient reaching {first.module} is {r_now:.1e} times the one at "
        f"{ref.module} (healthy nets keep this between about 0.1 and 10). "
        "Backpropagation multiplies the gradient by each layer's weights and activation "
        "slope on its way back to the input; when that factor is below 1 at every layer the "
        f"gradient shrinks geometrically with depth, so {roles.layer_names(sick)} stop "
        f"learning while the later layers still do.{why}{adam}"
    )
    signal.fixes = fixes_for_view(v, "vanishing", cause if roles.adaptive else "")
    signal.extra = {"layers": [layer.module for layer in sick], "cause": cause}
    return [signal]


# ---------------------------------------------------------------------------- exploding


def _spikes(v: View) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows whose total grad norm jumped: (spike mask, ratio to median, robust z)."""

    def make() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lg = total_norm_log(v)
        # spike flags are counted over spike_window rows: compute them that far back
        start = v.start(v.th.spike_window + 1)
        z, med = robust_z(lg, v.th.spike_window, v.th.spike_warmup, start)
        ratio = np.power(10.0, lg - med)
        # A jump that stays far below the norms the run trained with at its start cannot
        # make a dangerous step: a converged net's 1e-9 norm jumping to 1e-6 is noise.
        floor = reference_norm_log(v) + np.log10(v.th.spike_min_ref)
        with np.errstate(invalid="ignore"):
            spike = (ratio >= v.th.spike_ratio) & (z >= v.th.spike_z) & ~(lg < floor)
        return spike, ratio, z

    return v.cached("spikes", make)


def exploding(v: View) -> list[Signal]:
    th, roles = v.th, v.roles
    rows = v.row_index()
    big = huge(v)
    d = depth(v)
    deep = np.zeros(v.n, dtype=bool)
    very_deep = np.zeros(v.n, dtype=bool)
    big_r = np.full(v.n, np.nan)
    if d is not None:
        big_r = d.ratios[:, 0]
        with np.errstate(invalid="ignore"):
            deep = (rows >= th.min_steps) & (big_r > th.exploding_ratio)
            very_deep = deep & (big_r > th.exploding_ratio**2)
    # Sustained growth of the *typical* norm: a rolling median of log10 norm (so that
    # isolated spikes, which are grad_spike's, do not count) against its minimum in the
    # window, while the loss is not falling (a norm that grows as the loss drops is
    # learning, not exploding), and up to a level above the run's reference norm (growth
    # back from a converged net's tiny norms is noise: its loss is ~0 and its steps are
    # far smaller than the stable ones it took at the start).
    lg = total_norm_log(v)
    trend = rolling_median(lg, th.growth_median)
    # "within the window": the view IS the window, so a running minimum from its first
    # row is exactly the minimum over the last th.window rows for every row evaluated
    base = np.fmin.accumulate(trend)
    growth = trend - base
    ref = reference_norm_log(v)
    above_ref = ~(trend < ref + np.log10(th.growth_min_ref))  # unknown reference: no floor
    ls = smooth_loss(v)
    loss_low = np.fmin.accumulate(ls)
    # "Above its minimum" needs a tolerance that does not vanish with the minimum: once
    # the loss has been 0.0, any 1e-9 of noise would otherwise count as a rising loss.
    init = abs(initial_loss(v))
    tol = np.maximum(
        th.growth_loss_rise * np.abs(loss_low),
        th.growth_loss_abs * init if np.isfinite(init) else 0.0,
    )
    with np.errstate(invalid="ignore"):
        rising_loss = ls > loss_low + tol
        grow = (growth >= np.log10(th.growth_factor)) & rising_loss & above_ref
        grow_crit = grow & (growth >= 3 * np.log10(th.growth_factor))
    warn = persisted(deep, th.exploding_persist) | persisted(grow, th.growth_persist)
    crit = (
        big | persisted(very_deep, th.exploding_persist) | persisted(grow_crit, th.growth_persist)
    )
    level = levels(v.n)
    with np.errstate(invalid="ignore"):
        calm = (
            np.isfinite(v.total)
            & (v.total < th.huge_grad_norm / 10)
            & ~(np.abs(v.loss) >= th.huge_loss / 10)
            & ~deep
            & ~grow
        )
    level[calm] = OFF
    level[warn] = WARNING
    level[crit] = CRITICAL
    signal = Signal("exploding", level, clear_steps=th.exploding_clear)
    at = last_on(level, WARNING)
    if at is None:
        return [signal]
    evidence: list[Evidence] = []
    if big[: at + 1].any():
        j = int(np.flatnonzero(big[: at + 1])[-1])
        if np.isfinite(v.total[j]) and v.total[j] >= th.huge_grad_norm:
            evidence.append(
                Evidence("total gradient norm", float(v.total[j]), th.huge_grad_norm, ">")
            )
        if np.isfinite(v.loss[j]) and abs(v.loss[j]) >= th.huge_loss:
            evidence.append(Evidence("loss", float(v.loss[j]), th.huge_loss, ">"))
    if deep[: at + 1].any() and d is not None:
        evidence.append(
            Evidence(
                f"depth ratio g_rms({d.first.module}) / g_rms({d.last_hidden.module})",
                float(big_r[at]) if np.isfinite(big_r[at]) else float(np.nanmax(big_r[: at + 1])),
                th.exploding_ratio,
                ">",
            )
        )
    if grow[: at + 1].any():
        evidence.append(
            Evidence(
                "growth of the median gradient norm within the window (x)",
                float(10 ** np.nanmax(growth[: at + 1])),
                th.growth_factor,
                ">",
            )
        )
    first_huge = bool(v.mem.first_row_huge or (v.row0 == 0 and big[0]))
    if roles.recurrent:
        cause = "recurrent"
    elif first_huge:
        cause = "init"
    else:
        cause = "growth"
    top = _exploding_layers(v, at, from_start=first_huge)
    signal.params = top
    signal.evidence = tuple(evidence)
    signal.title = {
        "init": "Exploding gradients from the first step: the initialisation is too large",
        "recurrent": "Exploding gradients through time in the recurrent layers",
        "growth": "Exploding gradients: the gradient norm keeps growing",
    }[cause]
    reason = {
        "init": "They were already enormous at the first logged step, before any update, "
        "so the initial weights are too large: with N(0,1) weights every layer multiplies "
        "the signal by about sqrt(fan_in). Clipping would only hide this; the net would "
        "still learn nothing.",
        "recurrent": "The recurrent matrix multiplies the gradient once per time step; "
        "when its largest singular value is above 1 (times the activation's slope), the "
        "gradient grows geometrically with sequence length (Pascanu et al. 2013).",
        "growth": "Each update makes the next gradient bigger: the learning rate is too "
        "large for the curvature of the loss, so steps overshoot further and further.",
    }[cause]
    if cause == "recurrent" and first_huge:
        reason += (
            " They were already enormous at the first logged step, before any update: the "
            "recurrent weights are initialised too large (a gain above 1). Fix the "
            "initialisation; clipping would only contain the symptom."
        )
    total = float(v.total[at])
    shown = f"{total:.3g}" if np.isfinite(total) else "no longer finite"
    signal.explanation = (
        f"Gradients are blowing up (total norm {shown} at step {int(v.steps[at])}). "
        f"{reason} The next steps typically turn the loss and weights into Inf/NaN, after "
        "which nothing can be learned."
    )
    at_init = cause == "recurrent" and first_huge
    signal.fixes = fixes_for_view(v, "exploding", "recurrent_init" if at_init else cause)
    signal.extra = {
        "cause": cause,
        "layers": [roles.names[i] for i in top],
        "from_first_step": first_huge,
    }
    return [signal]


def _exploding_layers(v: View, at: int, *, from_start: bool) -> tuple[int, ...]:
    """The parameters carrying an explosion at row ``at``.

    Those whose gradient grew against their own baseline (the run's first rows): every
    one within a decade of the largest growth, if that is at least 10x. Raw size would
    name the wrong layers: an LSTM's recurrent weights can grow 10^4-fold while its
    decoder, which had the largest gradient all along, stays flat. When the run was
    already exploding at its first step there is no healthy baseline, and the largest
    gradients (within a decade of the peak) are named instead.
    """
    roles = v.roles
    growth = param_growth_log(v, at)
    # Layers, not embeddings or norm gains: an embedding below the recurrence explodes
    # with it but is not where the explosion is made (rows of tokens, not a product).
    layer = np.zeros(len(growth), dtype=bool)
    if roles.dead_gather is not None:
        layer[roles.dead_gather.member_order] = True
    if not layer.any():
        layer = roles.trainable.copy()
    growth[~layer | v.grad_missing[at]] = np.nan
    if not from_start and np.any(np.isfinite(growth) | np.isinf(growth)):
        peak = float(np.nanmax(growth))
        if peak >= 1.0:
            with np.errstate(invalid="ignore"):
                return tuple(int(i) for i in np.flatnonzero(growth >= peak - 1.0))
    # When every layer grows alike, naming a fixed few would show the others as healthy
    # at the same norm: all gradients within a decade of the largest.
    g = np.where(v.grad_missing[at], -1.0, np.nan_to_num(v.grad[at], nan=np.inf))
    g[~roles.trainable] = -1.0
    peak_g = float(g.max()) if g.size else 0.0
    if peak_g <= 0:
        return ()
    return tuple(int(i) for i in np.flatnonzero((g > 0) & (g >= peak_g / 10)))


def grad_spike(v: View) -> list[Signal]:
    """A sudden jump of the total gradient norm (an event; it clears after a calm spell)."""
    th = v.th
    spike, ratio, z = _spikes(v)
    level = levels(v.n)
    level[np.isfinite(z)] = OFF
    level[spike] = WARNING
    signal = Signal("grad_spike", level, clear_steps=th.spike_hold)
    at = last_on(level, WARNING)
    if at is None:
        return [signal]
    count = int(rolling_count(spike, th.spike_window)[at])
    signal.title = f"Gradient spike at step {int(v.steps[at])}: {ratio[at]:.0f}x the usual norm"
    signal.evidence = (
        Evidence(
            f"grad norm / median of the previous {th.spike_window} steps",
            float(ratio[at]),
            th.spike_ratio,
            ">",
        ),
        Evidence("robust z-score (median/MAD of log10 norm)", float(z[at]), th.spike_z, ">"),
    )
    g = v.grad[at]
    if np.any(np.isfinite(g)):
        signal.params = (int(np.nanargmax(np.where(np.isfinite(g), g, -1.0))),)
    signal.explanation = (
        f"The gradient norm jumped to {ratio[at]:.0f} times its recent median. One spike "
        "is often a bad or unusual batch; spikes often come before loss spikes (OLMo 2), "
        f"and {count} in the last {th.spike_window} steps "
        + ("suggests instability." if count > 1 else "is worth watching.")
        + " The layer with the largest gradient at that step is named."
    )
    signal.fixes = fixes_for_view(v, "grad_spike")
    signal.extra = {"spikes": count}
    return [signal]

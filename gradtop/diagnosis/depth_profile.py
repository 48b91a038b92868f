"""A run reduced to what two runs are compared by: its gradient by depth and its loss now.

One computation for every view that compares runs (the demo's run strip, ``gradtop check
a.jsonl b.jsonl``), so a number in the lesson and one in a CI log can never disagree.
Layers and the depth ratio R are the diagnosis's own (docs/diagnosis.md): weight
matrices only, R of the first layer against the last hidden layer, the one before the head.
"""

from __future__ import annotations

import math

import numpy as np

from gradtop.diagnosis.thresholds import Thresholds
from gradtop.diagnosis.view import roles_for
from gradtop.history import LOSS, RunHistory

RECENT = 20  # rows a run's numbers are taken over (medians: one noisy batch is not the run)


def layer_profile(run: RunHistory) -> tuple[tuple[float, ...], float | None]:
    """g_rms of each weight layer (recent median) and the depth ratio R (None: no ratio).

    A layer with no gradient in the window is NaN, one with Inf/NaN gradients Inf.
    """
    table = run.stats.get("grad_norm")
    if table is None or len(table) == 0:
        return (), None
    roles = roles_for(run.header, Thresholds(), run.params)
    _, rows = table.recent(RECENT)
    with np.errstate(all="ignore"):
        sq = rows**2
        out = []
        for layer in roles.layers:
            cols = list(layer.weights)
            per_row = np.sqrt(sq[:, cols].sum(axis=1) / max(1, layer.numel))
            if np.isnan(per_row).all():
                out.append(math.nan)  # no gradient at all in the window
            elif not np.isfinite(per_row[~np.isnan(per_row)]).all():
                out.append(math.inf)
            else:
                out.append(float(np.nanmedian(per_row)))
    profile = tuple(out)
    ratio = None
    if len(profile) >= 3 and profile[-2] > 0 and math.isfinite(profile[-2]):
        first = profile[0]
        ratio = first / profile[-2] if math.isfinite(first) else None
    return profile, ratio


def recent_loss(run: RunHistory) -> float | None:
    """The loss now: the median of the recent finite losses; NaN once the loss went
    non-finite, None when the run logged no loss."""
    if run.first_nonfinite_loss is not None:
        return math.nan
    table = run.scalars.get(LOSS)
    if table is None or len(table) == 0:
        return None
    _, rows = table.recent(RECENT)
    values = rows[:, 0]
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else None

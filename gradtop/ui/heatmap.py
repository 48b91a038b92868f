"""Gradient-magnitude histogram over time as a text heatmap (rows: log10 bins, cols: time).

Pure. Shading is by the share of a step's entries in each bin, so a layer whose whole
distribution slides down towards zero reads as a band moving down the picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SHADES = " ░▒▓█"


def hist_matrix(
    hist: Sequence[tuple[int, list[list[int] | None]]], index: int
) -> tuple[list[int], np.ndarray]:
    """Steps and a [time, bins] matrix of counts for parameter ``index`` (rows without data
    for it are left out)."""
    steps: list[int] = []
    rows: list[list[int]] = []
    width = None
    for step, per_param in hist:
        if not 0 <= index < len(per_param):
            continue
        counts = per_param[index]
        if not isinstance(counts, list) or not counts:
            continue
        if width is None:
            width = len(counts)
        if len(counts) != width:
            continue
        steps.append(step)
        rows.append([c if isinstance(c, int | float) and c >= 0 else 0 for c in counts])
    if not rows:
        return [], np.zeros((0, 0))
    return steps, np.asarray(rows, dtype=np.float64)


def _edge_label(edge: float) -> str:
    return f"1e{round(edge)}" if float(edge).is_integer() else f"1e{edge:.1f}"


def heatmap_lines(
    matrix: np.ndarray, edges: Sequence[float] | None, width: int
) -> list[tuple[str, str]]:
    """(label, shades) per bin, largest magnitudes first; time is squeezed to ``width``."""
    if matrix.size == 0 or width <= 0:
        return []
    n_time, n_bins = matrix.shape
    groups = min(width, n_time)
    cuts = np.linspace(0, n_time, groups + 1).astype(int)
    cols = np.stack([matrix[cuts[g] : cuts[g + 1]].sum(axis=0) for g in range(groups)])
    totals = cols.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(totals > 0, cols / totals, 0.0)
    top = len(SHADES) - 1
    labels = _bin_labels(edges, n_bins)
    out = []
    for b in reversed(range(n_bins)):
        shades = "".join(
            SHADES[0] if s <= 0 else SHADES[max(1, min(top, int(np.ceil(s * top * 2))))]
            for s in share[:, b]
        )
        out.append((labels[b], shades))
    return out


def _bin_labels(edges: Sequence[float] | None, n_bins: int) -> list[str]:
    if edges is not None and len(edges) == n_bins + 1:
        return [f"≥{_edge_label(e)}" for e in edges[:-1]]
    if edges is not None and len(edges) == n_bins - 1:  # under- and overflow bins
        return [f"<{_edge_label(edges[0])}"] + [f"≥{_edge_label(e)}" for e in edges]
    return [f"bin {b}" for b in range(n_bins)]

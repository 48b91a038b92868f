"""Text sparklines and bars on a log scale, as plain strings (no Textual, no Rich).

Gradient norms span many decades, so every glyph here is placed on log10 of the value.
A non-finite value is never drawn as a bar or a gap: it gets its own glyph, so a NaN
buried in a resampled span still shows. Missing values (no gradient) are blanks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BARS = "▁▂▃▄▅▆▇█"
EIGHTHS = " ▏▎▍▌▋▊▉█"
NONFINITE = "✖"
ZERO = "·"
GAP = " "

# Fixed decades for the per-layer "flow" bar: a fixed scale never jitters and keeps runs
# comparable. 1e-10 .. 1e2 covers starved layers up to blown-up ones; it widens when the
# data goes beyond.
FLOW_LOG_LO = -10.0
FLOW_LOG_HI = 2.0


@dataclass(frozen=True, slots=True)
class LogRange:
    """A closed interval of log10 values that glyph heights are scaled to."""

    lo: float
    hi: float

    def fraction(self, log_value: float) -> float:
        if self.hi <= self.lo:
            return 0.5
        return min(1.0, max(0.0, (log_value - self.lo) / (self.hi - self.lo)))


def auto_range(values: np.ndarray, min_decades: float = 1.0) -> LogRange | None:
    """The log10 range of the positive finite ``values``, at least ``min_decades`` wide.

    The minimum width stops ordinary noise (a few percent) from filling the full height.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        good = values[np.isfinite(values) & (values > 0)]
    if good.size == 0:
        return None
    logs = np.log10(good)
    lo, hi = float(logs.min()), float(logs.max())
    if hi - lo < min_decades:
        mid = (hi + lo) / 2
        lo, hi = mid - min_decades / 2, mid + min_decades / 2
    return LogRange(lo, hi)


def log_sparkline(
    values: np.ndarray,
    any_nan: np.ndarray | None = None,
    *,
    width: int,
    scale: LogRange | None = None,
) -> str:
    """One glyph per value (newest right), right-aligned and left-padded to ``width``.

    ``values`` are span maxima from ``Table.column(...).high`` (so spikes survive); ``any_nan``
    flags spans that held a NaN. Inf and NaN draw as ``✖``, zero as ``·``, missing as blank.
    """
    if width <= 0:
        return ""
    values = np.asarray(values, dtype=np.float64)
    flags = np.zeros(values.shape, bool) if any_nan is None else np.asarray(any_nan, bool)
    values, flags = values[-width:], flags[-width:]
    scale = scale or auto_range(values)
    top = len(BARS) - 1
    out: list[str] = []
    for v, bad in zip(values.tolist(), flags.tolist(), strict=True):
        if bad or math.isinf(v):
            out.append(NONFINITE)
        elif math.isnan(v):
            out.append(GAP)
        elif v <= 0:
            out.append(ZERO)
        elif scale is None:
            out.append(BARS[0])
        else:
            out.append(BARS[round(scale.fraction(math.log10(v)) * top)])
    return "".join(out).rjust(width)


def linear_sparkline(values: np.ndarray, width: int) -> str:
    """One glyph per finite value (newest right) on a linear scale from min to max."""
    values = np.asarray(values, dtype=np.float64)[-width:]
    if width <= 0 or values.size == 0:
        return ""
    lo, hi = float(values.min()), float(values.max())
    top = len(BARS) - 1
    if hi <= lo:
        return (BARS[top // 2] * values.size).rjust(width)
    glyphs = [BARS[round((v - lo) / (hi - lo) * top)] for v in values.tolist()]
    return "".join(glyphs).rjust(width)


def flow_bar(value: float | None, width: int, scale: LogRange | None = None) -> str:
    """A horizontal bar whose length is log10(value) on a fixed scale, in eighth-cells."""
    if width <= 0:
        return ""
    if value is None:
        return GAP * width
    if not math.isfinite(value) or value < 0:
        return (NONFINITE * width)[:width]
    if value == 0:
        return ZERO + GAP * (width - 1)
    scale = scale or LogRange(FLOW_LOG_LO, FLOW_LOG_HI)
    eighths = round(scale.fraction(math.log10(value)) * width * 8)
    eighths = max(1, eighths)  # a tiny but positive norm still gets a sliver
    full, rest = divmod(eighths, 8)
    bar = EIGHTHS[-1] * full + (EIGHTHS[rest] if rest else "")
    return bar.ljust(width)[:width]


def flow_scale(values: Sequence[float | None]) -> LogRange:
    """The fixed flow scale, widened to whole decades if any finite value lies outside."""
    lo, hi = FLOW_LOG_LO, FLOW_LOG_HI
    for v in values:
        if v is not None and math.isfinite(v) and v > 0:
            lg = math.log10(v)
            lo, hi = min(lo, math.floor(lg)), max(hi, math.ceil(lg))
    return LogRange(lo, hi)


def depth_profile(values: Sequence[float | None], width: int) -> str:
    """Current norms across depth squeezed into ``width`` glyphs: the gradient-flow shape.

    When there are more layers than cells, each cell shows the smallest norm of its group:
    a starving layer must not be averaged away by a healthy neighbour. Non-finite wins.
    """
    if width <= 0 or not values:
        return ""
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    missing = np.array([v is None for v in values], dtype=bool)
    n = len(arr)
    groups = min(width, n)
    edges = np.linspace(0, n, groups + 1).astype(int)
    picked = np.full(groups, np.nan)
    bad = np.zeros(groups, bool)
    for g in range(groups):
        chunk = arr[edges[g] : edges[g + 1]]
        bad[g] = bool((~np.isfinite(chunk) & ~missing[edges[g] : edges[g + 1]]).any())
        finite = chunk[np.isfinite(chunk)]
        if finite.size:
            picked[g] = finite.min()
    scale = auto_range(picked, min_decades=2.0)
    return log_sparkline(picked, bad, width=groups, scale=scale).ljust(width)


def step_bins(
    steps: np.ndarray, high: np.ndarray, any_nan: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Maxima of ``high`` in ``width`` bins of whole steps, newest bin last.

    Bins are aligned to multiples of a power-of-two number of steps, so between two
    frames only the newest bin changes (and, once every bin-width steps, the picture moves
    left by one glyph); resampling by row count would redraw every glyph every frame.
    Bins with no point (logging every N steps, a pause) repeat the previous value; a bin
    that held a NaN is flagged. ``steps`` are the points' last steps, normally ascending;
    a file whose step numbers go back (``log(step=...)`` restarted by hand, lines appended
    from another run) is binned by step number all the same, never indexed past the end.
    """
    out = np.full(width, np.nan)
    flags = np.zeros(width, bool)
    if width <= 0 or steps.size == 0:
        return out, flags
    first, last = int(steps.min()), int(steps.max())
    stride = int(np.median(np.diff(steps))) if steps.size > 1 else 1
    size = 1
    while size < max(1, stride) or (last // size) - (first // size) + 1 > width:
        size *= 2
    start = last // size - width + 1
    idx = steps.astype(np.int64) // size - start
    keep = (idx >= 0) & (idx < width)
    idx, vals, bad = idx[keep], high[keep], any_nan[keep]
    acc = np.full(width, -np.inf)
    with np.errstate(invalid="ignore"):
        np.fmax.at(acc, idx, np.where(np.isnan(vals), -np.inf, vals))
    np.logical_or.at(flags, idx, bad)
    seen = np.zeros(width, bool)
    seen[idx] = True
    out[seen] = acc[seen]
    out[seen & (acc == -np.inf)] = np.nan  # a bin of missing values stays a gap
    # Forward-fill bins between points (sparse logging), never before the first point.
    last_value = np.nan
    started = False
    for i in range(width):
        if seen[i]:
            started, last_value = True, out[i]
        elif started:
            out[i] = last_value
    return out, flags

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

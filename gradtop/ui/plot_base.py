"""PlotextPlot helpers: log axes done right, integer step ticks, and no crashes.

plotext's own log axis prints tick labels like ``0.0000000000000000806`` (wider than the
plot at gradient scales) and raises on an empty log axis. So log plots here draw
log10 of the values on a linear axis and label the ticks ``1e-17`` themselves. And a
plot is one panel of a live monitor: if plotext still fails on some edge case, the panel
shows a note instead of taking the app down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from textual.app import RenderResult
from textual.content import Content
from textual_plotext import PlotextPlot

from gradtop.ui.series import Series


def log_ticks(lo: float, hi: float, max_ticks: int = 5) -> tuple[list[float], list[str]]:
    """Ticks (in log10 units) and labels for a log axis spanning [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi - lo >= 1:
        first, last = math.ceil(lo), math.floor(hi)
        stride = max(1, math.ceil((last - first + 1) / max_ticks))
        ticks = [float(t) for t in range(first, last + 1, stride)]
        return ticks, [f"1e{int(t)}" for t in ticks]
    ticks = np.linspace(lo, hi, 3).tolist() if hi > lo else [lo]
    return ticks, [f"{10**t:.2g}" for t in ticks]


def step_ticks(first: float, last: float, n: int = 5) -> tuple[list[float], list[str]]:
    """Integer step labels (plotext would print ``123.2``)."""
    if not (math.isfinite(first) and math.isfinite(last)):
        return [], []
    if last <= first:
        return [first], [f"{int(first)}"]
    ticks = sorted({round(t) for t in np.linspace(first, last, n).tolist()})
    return [float(t) for t in ticks], [f"{t:,}" for t in ticks]


class SafePlot(PlotextPlot):
    """A PlotextPlot that draws series on a linear or (hand-made) log axis."""

    def render(self) -> RenderResult:
        try:
            return super().render()
        except Exception as exc:  # plotext internals; shown, not raised
            return Content(f"(plot unavailable: {type(exc).__name__})")

    def draw_series(
        self,
        series: Sequence[tuple[Series, str]],
        *,
        log: bool,
        side: str = "left",
        label_ticks: bool = True,
    ) -> bool:
        """Plot each (series, colour); returns False when there was nothing to draw."""
        plt = self.plt
        ys: list[np.ndarray] = []
        xs: list[np.ndarray] = []
        for s, color in series:
            x, y = s.steps, s.values
            if log:
                keep = y > 0
                x, y = x[keep], np.log10(y[keep])
            if len(x):
                plt.plot(x.tolist(), y.tolist(), marker="braille", color=color, yside=side)
                xs.append(x)
                ys.append(y)
        if not ys:
            return False
        if label_ticks:
            all_x = np.concatenate(xs)
            plt.xticks(*step_ticks(float(all_x.min()), float(all_x.max())))
        if log:
            all_y = np.concatenate(ys)
            ticks, labels = log_ticks(float(all_y.min()), float(all_y.max()))
            if ticks:
                plt.yticks(ticks, labels, yside=side)
        return True

"""PlotextPlot for a live monitor over SSH: steady axes, line diffs, log axes done right.

* Steady picture: the x axis ends at a round step count ahead of the data and the y axis
  at rounded bounds, and every stored point is drawn (no resampling that shifts as data
  arrives), so a new frame differs from the last only where new points landed.
* Line diffs: the figure is rendered to strips and only lines that changed are marked
  dirty; an unchanged plot costs no bytes on the wire.
* Log axes: plotext's own log axis labels ticks ``0.0000000000000000806`` (wider than
  the plot) and raises on an empty axis, so log plots draw log10 of the values on a
  linear axis with ``1e-17`` labels.
* A plot is one panel of a live monitor: if plotext still fails on some edge case, the
  panel shows a note instead of taking the app down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual_plotext import PlotextPlot

from gradtop.ui.series import Series


def nice_ceil(x: float) -> float:
    """The next 1-2-5 number >= x (x > 0): where the step axis ends."""
    if x <= 1:
        return 1.0
    exp = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * exp >= x:
            return float(m * exp)
    return float(10 * exp)  # pragma: no cover - the loop always returns


def nice_bounds(lo: float, hi: float) -> tuple[float, float]:
    """``[lo, hi]`` widened to a round grid a tenth of its span: stable as data wiggles."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, 1.0
    span = hi - lo
    if span <= 0:
        pad = abs(hi) * 0.1 or 0.5
        return lo - pad, hi + pad
    grid = 10 ** math.floor(math.log10(span / 2))
    return math.floor(lo / grid) * grid, math.ceil(hi / grid) * grid


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
    """Call ``update_plot()`` after drawing with ``plt``; only changed lines are resent."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._strips: list[Strip] = []
        self._built_for: Size | None = None
        # A finished run's x axis ends at its last step: the round end ahead of the data
        # only keeps a growing run's picture steady, and would waste a finished one's width.
        self.finished = False

    # ------------------------------------------------------------------ rendering

    def _build(self) -> list[Strip]:
        width, height = self.size
        base = self.rich_style
        try:
            text = super().render()
            assert isinstance(text, Text)
        except Exception as exc:  # plotext internals; shown, not raised
            text = Text(f"(plot unavailable: {type(exc).__name__})")
        console = self.app.console
        strips = []
        for line in text.split("\n", allow_blank=True)[:height]:
            segments = Segment.apply_style(line.render(console, end=""), base)
            strips.append(Strip(list(segments)).crop_extend(0, width, base).simplify())
        strips += [Strip.blank(width, base)] * (height - len(strips))
        self._built_for = self.size
        return strips

    def update_plot(self) -> None:
        """Rebuild the figure and mark dirty only the lines that differ from the screen."""
        if not self.is_mounted or self.size.area == 0:
            self.refresh()
            return
        same_size = self._built_for == self.size
        new = self._build()
        if not same_size or len(new) != len(self._strips):
            self._strips = new
            self.refresh()
            return
        changed = [y for y, (a, b) in enumerate(zip(self._strips, new, strict=True)) if a != b]
        self._strips = new
        for y in changed:
            self.refresh(Region(0, y, self.size.width, 1))

    def render_line(self, y: int) -> Strip:
        if self._built_for != self.size:
            self._strips = self._build()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._built_for = None  # theme or colours changed: rebuild on next render

    # ------------------------------------------------------------------ drawing

    def draw_series(
        self,
        series: Sequence[tuple[Series, str]],
        *,
        log: bool,
        side: str = "left",
        label_ticks: bool = True,
    ) -> bool:
        """Plot each (series, colour) on steady axes; False when there was nothing to draw."""
        plt = self.plt
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
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
        all_x, all_y = np.concatenate(xs), np.concatenate(ys)
        if label_ticks:
            x0, last = float(all_x.min()), float(all_x.max())
            x1 = max(last, x0 + 1) if self.finished else nice_ceil(last)
            plt.xlim(x0, x1)
            plt.xticks(*step_ticks(x0, x1))
        lo, hi = float(all_y.min()), float(all_y.max())
        if log:
            lo, hi = math.floor(lo * 2) / 2, math.ceil(hi * 2) / 2  # half decades
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            ticks, labels = log_ticks(lo, hi)
            if ticks:
                plt.yticks(ticks, labels, yside=side)
        else:
            lo, hi = nice_bounds(lo, hi)
        plt.ylim(lo, hi, yside=side)
        return True

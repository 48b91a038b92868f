"""PlotextPlot for a live monitor over SSH: steady axes, line diffs, log axes done right.

* Steady picture: the x axis ends at a round step count ahead of the data and the y axis
  at rounded bounds, and every stored point is drawn (no resampling that shifts as data
  arrives), so a new frame differs from the last only where new points landed.
* Line diffs: the figure is rendered to strips and only lines that changed are marked
  dirty; an unchanged plot costs no bytes on the wire.
* Log axes: plotext's own log axis labels ticks ``0.0000000000000000806`` (wider than
  the plot) and raises on an empty axis, so log plots draw log10 of the values on a
  linear axis with ``1e-17`` labels. Its linear labels are fixed-point too, with
  uneven steps (``2.158``, ``2.127``): fine for a loss of 2.3, unreadable for a gradient
  of 3e-16. Linear ticks are ours (a 1-2-5 grid, ``3e-16``, ``2.05``, ``40,000``); the
  loss plot keeps plotext's where they read well (``plotext_labels``).
* Words, not a fake axis: plotext drops a title that does not fit the width, so a
  sentence about the data (``all values are 0``) is drawn by us, wrapped, above the
  figure (``caption``) or instead of it (``note``); it shows at every size.
* A plot is one panel of a live monitor: if plotext still fails on some edge case, the
  panel shows a note instead of taking the app down.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual_plotext import PlotextPlot

from gradtop.ui.format import fmt_num
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
    ticks = np.linspace(lo, hi, min(3, max(2, max_ticks))).tolist() if hi > lo else [lo]
    return ticks, [f"{10**t:.2g}" for t in ticks]


def axis_labels(values: Sequence[float]) -> list[str]:
    """The shortest ``%g`` labels that tell the ticks apart and read back as their values
    (``4.5``, never ``4``): ``3e-16``, ``0.2``, ``4.6500001``; whole numbers as such."""
    if all(float(v).is_integer() and abs(v) < 1e6 for v in values):
        return [f"{int(v):,}" for v in values]  # 40,000 rather than 4e+04
    gaps = [abs(b - a) for a, b in itertools.pairwise(values)]
    tolerance = 1e-3 * min(gaps) if gaps else 1e-6 * max((abs(v) for v in values), default=0)
    labels: list[str] = []
    for digits in range(1, 17):
        labels = [f"{v:.{digits}g}" for v in values]
        exact = all(abs(float(t) - v) <= tolerance for t, v in zip(labels, values, strict=True))
        if exact and len(set(labels)) == len(labels):
            break
    return labels


def linear_ticks(lo: float, hi: float, max_ticks: int = 5) -> tuple[list[float], list[str]]:
    """As many ticks on a 1-2-5 grid inside [lo, hi] as fit ``max_ticks``, labelled short."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    if hi <= lo:
        return [lo], axis_labels([lo])
    exp = 10 ** math.floor(math.log10((hi - lo) / max(1, max_ticks - 1)))
    ticks: list[float] = []
    for step in (m * exp for m in (1, 2, 5, 10, 20)):
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        # Clipped: 7 * 5e-18 lands a hair above 3.5e-17, and plotext drops ticks outside.
        ticks = [min(max(k * step, lo), hi) for k in range(first, last + 1)]
        if len(ticks) <= max_ticks:
            break
    if len(ticks) < 2:  # one round value inside: the (rounded) ends say more
        ticks = [lo, hi]
    return ticks, axis_labels(ticks)


def fixed_point_reads_well(lo: float, hi: float) -> bool:
    """Whether plotext's own fixed-point labels are readable on [lo, hi]: values of a
    human size (like a loss) and a span wide enough that a few decimals tell ticks apart."""
    size = max(abs(lo), abs(hi))
    return 1e-3 <= size < 1e5 and hi - lo >= size * 1e-3


def step_ticks(first: float, last: float, n: int = 5) -> tuple[list[float], list[str]]:
    """Integer step labels (plotext would print ``123.2``)."""
    if not (math.isfinite(first) and math.isfinite(last)):
        return [], []
    if last <= first:
        return [first], [f"{int(first)}"]
    ticks = sorted({round(t) for t in np.linspace(first, last, n).tolist()})
    return [float(t) for t in ticks], [f"{t:,}" for t in ticks]


def _span(steps: np.ndarray) -> str:
    first, last = int(steps.min()), int(steps.max())
    return f"step {first}" if first == last else f"steps {first}–{last}"


def nothing_to_plot(series: Sequence[Series], *, log: bool, finished: bool) -> str | None:
    """What to say instead of a figure that would show no more than a sentence, or None.

    A flat series on a linear axis gets an invented range around it (``-0.50`` to
    ``0.50`` around zeros, for a ratio that cannot be negative); on a log axis zeros
    cannot be drawn at all. Either way the value in words is the honest picture. Judge
    on every stored point, not the decimated ones: one nonzero step is not "all 0".
    """
    values = np.concatenate([s.values for s in series]) if series else np.zeros(0)
    steps = np.concatenate([s.steps for s in series]) if series else np.zeros(0)
    bad = [float(s.bad_steps.min()) for s in series if len(s.bad_steps)]
    nan = f"✖ NaN/Inf from step {int(min(bad))}" if bad else ""
    if not values.size:
        if nan:
            return f"{nan}; no finite value to plot"
        return "not logged in this run" if finished else "no values yet"
    lo, hi = float(values.min()), float(values.max())
    finite = "the finite values are" if nan else "all values are"
    if lo == hi == 0:
        text = f"{finite} 0 ({_span(steps)})"
        text += ": nothing to draw on a log axis" if log else ""
    elif lo == hi:
        text = f"{finite} {fmt_num(lo)} ({_span(steps)})"
        if len(values) == 1:
            text = f"one value: {fmt_num(lo)} ({_span(steps)})"
    elif log and hi <= 0:
        text = f"no value above 0 ({_span(steps)}): nothing to draw on a log axis"
    else:
        return None
    return f"{nan}; {text}" if nan else text


# Columns of a plot that its title cannot use: the y labels (up to ~9) and the frame.
TITLE_MARGIN = 12


class SafePlot(PlotextPlot):
    """Call ``update_plot()`` after drawing with ``plt``; only changed lines are resent."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._strips: list[Strip] = []
        self._built_for: Size | None = None
        self.title_rows = 0  # rows a plotext title takes (set by a plot that has one)
        # plotext's own fixed-point labels where they read well (see fixed_point_reads_well)
        self.plotext_labels = False
        # Our words about the data, wrapped above the figure or in its place (see the
        # module docstring: plotext would drop a title that does not fit).
        self.caption: Text | None = None
        self.note: Text | None = None
        # A finished run's x axis ends at its last step: the round end ahead of the data
        # only keeps a growing run's picture steady, and would waste a finished one's width.
        self.finished = False

    # ------------------------------------------------------------------ rendering

    def _build(self) -> list[Strip]:
        width, height = self.size
        base = self.rich_style
        console = self.app.console
        words = self.note or self.caption
        lines = list(words.wrap(console, max(1, width))) if words is not None else []
        lines = lines[:height]
        if self.note is None and height - len(lines) > 0:
            try:
                text = self._figure(width, height - len(lines))
            except Exception as exc:  # plotext internals; shown, not raised
                text = Text(f"(plot unavailable: {type(exc).__name__})")
            lines += text.split("\n", allow_blank=True)
        strips = []
        for line in lines[:height]:
            segments = Segment.apply_style(line.render(console, end=""), base)
            strips.append(Strip(list(segments)).crop_extend(0, width, base).simplify())
        strips += [Strip.blank(width, base)] * (height - len(strips))
        self._built_for = self.size
        return strips

    def _figure(self, width: int, height: int) -> Text:
        """``PlotextPlot.render`` at a given size (the caption takes the rest)."""
        plt = self.plt
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext #5)
        plt.theme(self._get_plotext_theme_name(self.app.theme))
        return Text.from_ansi(plt.build())

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

    def set_title(self, title: str) -> None:
        """plotext's title (centred over the figure) where it surely fits, else ours,
        wrapped above the figure: plotext drops a title that does not fit the width."""
        fits = cell_len(title) <= self.size.width - TITLE_MARGIN
        self.caption = None if fits else Text(title, justify="center")
        self.title_rows = 1 if fits else 0
        if fits:
            self.plt.title(title)

    def tick_budget(self) -> int:
        """How many y labels fit two rows apart. plotext, given two labels for one row,
        keeps one chosen by string hash order: the picture would change between runs."""
        width, height = self.size
        if height <= 0:
            return 5
        words = self.caption
        caption = len(words.wrap(self.app.console, max(1, width))) if words is not None else 0
        rows = height - 3 - self.title_rows - caption  # frame top and bottom, x labels
        return max(2, min(5, rows // 2 + 1))

    def step_tick_budget(self, last: float) -> int:
        """Step labels that fit the width with room between them (see ``tick_budget``)."""
        width = self.size.width
        if width <= 0:
            return 5
        label = len(f"{int(last):,}") + 3
        return max(2, min(5, (width - 10) // label))

    def draw_series(
        self,
        series: Sequence[tuple[Series, str]],
        *,
        log: bool,
        side: str = "left",
        label_ticks: bool = True,
        markers: Sequence[str] = (),
    ) -> bool:
        """Plot each (series, colour) on steady axes; False when there was nothing to draw.

        ``markers``: a plotext marker per series (a character that tells curves apart
        without colour), braille for the rest."""
        plt = self.plt
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for n, (s, color) in enumerate(series):
            x, y = s.steps, s.values
            if log:
                keep = y > 0
                x, y = x[keep], np.log10(y[keep])
            if len(x):
                mark = markers[n] if n < len(markers) else "braille"
                plt.plot(x.tolist(), y.tolist(), marker=mark, color=color, yside=side)
                xs.append(x)
                ys.append(y)
        if not ys:
            return False
        all_x, all_y = np.concatenate(xs), np.concatenate(ys)
        if label_ticks:
            x0, last = float(all_x.min()), float(all_x.max())
            x1 = max(last, x0 + 1) if self.finished else nice_ceil(last)
            plt.xlim(x0, x1)
            plt.xticks(*step_ticks(x0, x1, self.step_tick_budget(x1)))
        lo, hi = float(all_y.min()), float(all_y.max())
        if log:
            lo, hi = math.floor(lo * 2) / 2, math.ceil(hi * 2) / 2  # half decades
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            ticks, labels = log_ticks(lo, hi, self.tick_budget())
            if ticks:
                plt.yticks(ticks, labels, yside=side)
        else:
            nonnegative = lo >= 0
            lo, hi = nice_bounds(lo, hi)
            if nonnegative:  # a norm or a ratio: the axis never invents negative values
                lo = max(lo, 0.0)
            if not (self.plotext_labels and fixed_point_reads_well(lo, hi)):
                plt.yticks(*linear_ticks(lo, hi, self.tick_budget()), yside=side)
        plt.ylim(lo, hi, yside=side)
        return True

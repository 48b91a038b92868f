"""Loss curve (raw and EMA) with the learning rate on the right axis, via textual-plotext.

Always through ``PlotextPlot.plt`` (a private figure per widget), never the global
plotext module, so two plots never draw into each other.
"""

from __future__ import annotations

import numpy as np

from gradtop.history import LOSS, RunHistory
from gradtop.text import safe_text
from gradtop.ui.loss_summary import loss_now
from gradtop.ui.plot_base import SafePlot
from gradtop.ui.series import EMPTY, Series, decimate, lr_series, scalar_series


def loss_title(loss: Series, name: str = "loss") -> str:
    """The plot's title: what it shows (the loss, or a scalar ``v`` picked) and where it
    stands now, in the loss line's words (``loss_now``)."""
    label = safe_text(name, 40)
    now = loss_now(loss)
    if now.nonfinite_since is not None:
        title = f"{label} ✖ NaN/Inf since step {now.nonfinite_since}"
        return title + (f", last finite {now.newest}" if now.newest is not None else "")
    title = label if now.newest is None else f"{label} {now.newest}"
    if now.nonfinite_at is not None:
        title += f"  ✖ NaN/Inf at step {now.nonfinite_at}" + (
            " and after" if now.nonfinite_more else ""
        )
    return title


class LossPlot(SafePlot):
    """Draws from arrays handed in by the app (read under the model lock), not from History."""

    DEFAULT_CSS = """
    LossPlot { height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.log_scale = False
        self.plotext_labels = True  # a loss of 2.3 reads well in plotext's labels
        self._loss: Series = EMPTY
        self._smooth = np.zeros(0)
        self._lr: Series = EMPTY
        self._name = LOSS

    def take(self, run: RunHistory | None, name: str | None = None) -> None:
        """Copy what the plot needs out of the run (call with the model lock held);
        ``name``: a scalar of ``log(**scalars)`` to plot instead of the loss (``v``)."""
        self.finished = run is not None and run.end is not None
        self._name = name or LOSS
        if run is None:
            self._loss, self._smooth, self._lr = EMPTY, np.zeros(0), EMPTY
        else:
            points = max(60, 2 * self.size.width)  # braille: two dots per cell
            loss, smooth = scalar_series(run, self._name)
            kept = decimate(
                Series(loss.steps, np.arange(len(loss), dtype=float), loss.bad_steps), points
            )
            idx = kept.values.astype(int)
            self._loss = Series(loss.steps[idx], loss.values[idx], loss.bad_steps)
            self._smooth = smooth[idx]
            # The lr belongs beside the loss; beside accuracy it would be read as related.
            self._lr = decimate(lr_series(run), points) if self._name == LOSS else EMPTY
        self.redraw()

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = on
        self.redraw()

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        loss, lr = self._loss, self._lr
        lr_varies = len(lr) > 0 and len(set(lr.values.tolist())) > 1
        title = loss_title(loss, self._name)
        if lr_varies:
            title += "  (lr: right axis)"
        elif len(lr):
            title += f"  lr {lr.values[-1]:.2g}"
        if self._name != LOSS:
            title += "  (v: next)"  # the way back to the loss
        if self.log_scale:
            title += "  [log]"
        self.set_title(title)
        smooth = Series(loss.steps, self._smooth, loss.bad_steps)
        self.draw_series([(loss, "gray"), (smooth, "cyan")], log=self.log_scale)
        if len(loss.bad_steps):
            plt.vline(float(loss.bad_steps[0]), color="red")
        if lr_varies:
            self.draw_series([(lr, "orange")], log=False, side="right", label_ticks=False)
        self.update_plot()

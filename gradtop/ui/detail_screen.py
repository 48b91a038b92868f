"""One parameter tensor over time: grad norm, update ratio, weight norm, gradient histogram.

Opened with Enter on a table row; ``[`` and ``]`` step through the layers in depth order
without going back. It is refreshed by the app with the rest of the screen, so it stays
live while training runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from gradtop.diagnosis.findings import Finding
from gradtop.history import RunHistory
from gradtop.text import safe_text
from gradtop.ui.findings_text import finding_lines
from gradtop.ui.format import fmt_count, fmt_frac, fmt_num, fmt_shape, shorten_name
from gradtop.ui.heatmap import heatmap_lines, hist_matrix
from gradtop.ui.layers import LayerRow
from gradtop.ui.plot_base import SafePlot, nothing_to_plot
from gradtop.ui.quiet_static import QuietStatic
from gradtop.ui.series import Series, decimate, param_series
from gradtop.ui.tones import fragments_to_content


class StatPlot(SafePlot):
    """One statistic of one parameter; the border title names it and its scale."""

    DEFAULT_CSS = """
    StatPlot { border: round $primary-muted; border-title-color: $text-primary; }
    """

    def __init__(self, name: str, *, log: bool, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stat_name = name
        self.log_scale = log
        self._series: list[tuple[Series, str, str]] = []

    def draw(self, series: list[tuple[Series, str, str]], *, finished: bool = False) -> None:
        """Each (every stored point, colour, decimation): judged whole, drawn decimated."""
        self._series = series
        self.finished = finished
        self.redraw()

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        title = f"{self.stat_name} · {'log' if self.log_scale else 'linear'}"
        if self.border_title != title:
            self.border_title = title
        whole = [s for s, _, _ in self._series]
        words = nothing_to_plot(whole, log=self.log_scale, finished=self.finished)
        self.note = Text(words, style="red" if words.startswith("✖") else "") if words else None
        self.caption = None
        if words is None:
            bad = [float(s.bad_steps.min()) for s in whole if len(s.bad_steps)]
            if bad:
                self.caption = Text(f"✖ NaN/Inf from step {int(min(bad))}", style="red")
            elif self.log_scale and any(bool((s.values <= 0).any()) for s in whole):
                self.caption = Text("values of 0 are not drawn on a log axis")
            points = max(60, 2 * self.size.width)  # braille: two dots per cell
            self.draw_series(
                [(decimate(s, points, use), color) for s, color, use in self._series],
                log=self.log_scale,
            )
            if bad:
                plt.vline(min(bad), color="red")
        self.update_plot()


class HistogramView(QuietStatic):
    DEFAULT_CSS = """
    HistogramView {
        height: 1fr; border: round $primary-muted; border-title-color: $text-primary;
    }
    """


class DetailScreen(Screen[None]):
    """Live detail of parameter ``index`` of the shown run."""

    DEFAULT_CSS = """
    DetailScreen { layout: vertical; }
    DetailScreen #detail-title {
        height: auto; max-height: 12; background: $panel; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    DetailScreen Grid { grid-size: 2 2; grid-gutter: 0 1; height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,backspace", "close", "Back"),
        Binding("left_square_bracket", "step(-1)", "Prev layer"),
        Binding("right_square_bracket", "step(1)", "Next layer"),
        Binding("l", "toggle_log", "Log/linear"),
    ]

    class Moved(Message):
        """The user stepped to another parameter inside the detail view."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def compose(self) -> ComposeResult:
        yield QuietStatic(id="detail-title")
        with Grid():
            yield StatPlot("grad norm max/min", log=True, id="plot-grad")
            yield StatPlot("update ratio ‖Δw‖/‖w‖", log=True, id="plot-update")
            yield StatPlot("weight norm", log=False, id="plot-weight")
            yield HistogramView(id="hist")
        yield Footer()

    def take(
        self, run: RunHistory | None, row: LayerRow | None, findings: Sequence[Finding]
    ) -> None:
        """Copy this parameter's series out of the run (call with the model lock held)."""
        title = self.query_one("#detail-title", QuietStatic)
        if run is None or row is None or not 0 <= self.index < len(run.params):
            title.show(Content("parameter not in this run"))
            return
        title.show(self._title(run, row, findings))
        i = self.index
        done = run.end is not None
        self.query_one("#plot-grad", StatPlot).draw(
            [
                (param_series(run, "grad_norm", i, use="high"), "red", "high"),
                (param_series(run, "grad_norm", i, use="low"), "cyan", "low"),
            ],
            finished=done,
        )
        self.query_one("#plot-update", StatPlot).draw(
            [(param_series(run, "update_ratio", i), "green", "last")], finished=done
        )
        self.query_one("#plot-weight", StatPlot).draw(
            [(param_series(run, "weight_norm", i), "blue", "last")], finished=done
        )
        self._histogram(run)

    def _title(self, run: RunHistory, row: LayerRow, findings: Sequence[Finding]) -> Content:
        p = row.info
        head = [
            (shorten_name(safe_text(p.name), max(24, self.size.width - 2)), "title"),
            (f"  {safe_text(p.module_type, 40)}  {fmt_shape(p.shape)}", ""),
            (f"  {fmt_count(p.numel)} elements", "muted"),
            (f"  param {self.index + 1}/{len(run.params)} in depth order", "muted"),
        ]
        if not p.requires_grad:
            head.append(("  requires_grad=False", "warning"))
        values = [
            ("status ", "muted"),
            (row.status.label, row.status.tone if row.status.sick else "bold"),
            ("   |grad| ", "muted"),
            (fmt_num(row.grad_norm), ""),
            ("   ‖w‖ ", "muted"),
            (fmt_num(row.weight_norm), ""),
            ("   upd/w ", "muted"),
            (fmt_num(row.update_ratio), ""),
            ("   zero ", "muted"),
            (fmt_frac(row.zero_frac), ""),
        ]
        lines = [fragments_to_content(head), fragments_to_content(values)]
        for f in findings:
            if self.index in f.params and f.active:
                lines.extend(fragments_to_content(line) for line in finding_lines(f, detail=False))
        return Content("\n").join(lines)

    def _histogram(self, run: RunHistory) -> None:
        view = self.query_one("#hist", HistogramView)
        steps, matrix = hist_matrix(run.hist, self.index)
        if not steps:
            _set_border_title(view, "gradient magnitude histogram")
            view.show(Content("not logged for this run (Logger(hist=True) records it)"))
            return
        label_w = 8
        width = max(4, view.size.width - label_w - 3)
        lines = heatmap_lines(matrix, run.header.hist_edges, width)
        _set_border_title(view, f"|grad| histogram over time, steps {steps[0]}–{steps[-1]}")
        view.show(
            Content("\n").join(
                Content.assemble((f"{label:>{label_w}} ", "$text-muted"), (shades, "$accent"))
                for label, shades in lines
            )
        )

    def action_close(self) -> None:
        self.dismiss(None)

    def action_step(self, delta: int) -> None:
        self.post_message(self.Moved(self.index + delta))

    def action_toggle_log(self) -> None:
        for plot in self.query(StatPlot):
            plot.log_scale = not plot.log_scale
            plot.redraw()


def _set_border_title(widget: HistogramView, title: str) -> None:
    """Only on change: setting a border title always repaints the whole widget. (The
    titles here are our own text; border titles are parsed as markup.)"""
    if widget.border_title != title:
        widget.border_title = title

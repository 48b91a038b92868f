"""The comparison of runs: loss curves overlaid by step, depth profiles, findings, verdict.

What is shown is decided in ``compare_view`` (pure); this screen only draws it. It polls
``sides()`` on a timer: the caller's callable takes each model's lock and returns a
generation and frozen ``CompareSide``s; the screen redraws only when the generation moved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer

from gradtop.text import safe_text
from gradtop.ui.compare_view import (
    CompareSide,
    color,
    findings_lines,
    legend_lines,
    marker,
    nonfinite_notes,
    plot_title,
    profile_lines,
    verdict_lines,
)
from gradtop.ui.picker import Picker
from gradtop.ui.plot_base import SafePlot
from gradtop.ui.quiet_static import QuietStatic
from gradtop.ui.tones import lines_to_content

POLL = 0.5  # seconds between looks at ``sides()`` (the dashboard's own redraw pace)

SidesFn = Callable[[], tuple[int, Sequence[CompareSide]]]


class ComparePlot(SafePlot):
    """Every side's loss on one step axis, each with its own marker and colour."""

    DEFAULT_CSS = """
    ComparePlot { height: 1fr; min-height: 5; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.plotext_labels = True  # a loss of 2.3 reads well in plotext's labels
        self.log_scale = False
        self._sides: tuple[CompareSide, ...] = ()

    def take(self, sides: Sequence[CompareSide]) -> None:
        self._sides = tuple(sides)
        self.finished = all(s.finished for s in sides)
        self.redraw()

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        sides = self._sides
        title = plot_title(sides) + ("  [log]" if self.log_scale else "")
        self.set_title(title)
        drawn = self.draw_series(
            [(s.loss, color(i)) for i, s in enumerate(sides)],
            log=self.log_scale,
            markers=[marker(i) for i in range(len(sides))],
        )
        self.note = None if drawn else Text(f"{title}: no loss logged yet", justify="center")
        notes = "  ".join(nonfinite_notes(sides))  # the plot draws finite points only
        if notes:
            said = "" if self.caption is None else self.caption.plain + "  "
            self.caption = Text(said + notes, justify="center")
        self.update_plot()


class CompareScreen(ModalScreen[None]):
    """Esc or q closes it; l toggles the loss plot's log scale."""

    DEFAULT_CSS = """
    CompareScreen { layout: vertical; background: $background; }
    CompareScreen #compare-verdict { height: auto; padding: 0 1; }
    CompareScreen #compare-legend { height: auto; padding: 0 1; }
    CompareScreen #compare-rows { height: auto; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close"),
        Binding("l", "toggle_log", "Log"),
    ]

    def __init__(self, sides: SidesFn, *, poll: float = POLL) -> None:
        super().__init__()
        self.sides_fn = sides
        self.poll = poll
        self.generation: int | None = None
        self.sides: tuple[CompareSide, ...] = ()
        self.draws = 0  # generations drawn (a resize redraws too, uncounted; tests wait on it)
        self.verdict = QuietStatic(id="compare-verdict")
        self.legend = QuietStatic(id="compare-legend")
        self.plot = ComparePlot(id="compare-plot")
        self.rows = QuietStatic(id="compare-rows")

    def compose(self) -> ComposeResult:
        yield self.verdict
        yield self.legend
        yield self.plot
        yield self.rows
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(self.poll, self._poll)
        self.call_after_refresh(self._poll)

    def on_resize(self) -> None:
        self.call_after_refresh(self.draw)

    def _poll(self) -> None:
        generation, sides = self.sides_fn()
        if generation == self.generation:
            return
        self.generation = generation
        self.sides = tuple(sides)
        self.draws += 1
        self.draw()

    def draw(self) -> None:
        width = max(20, self.size.width - 2)
        sides = self.sides
        self.verdict.show(lines_to_content(verdict_lines(sides, width)))
        self.legend.show(lines_to_content(legend_lines(sides, width)))
        rows = profile_lines(sides, width) + findings_lines(sides, width)
        self.rows.show(lines_to_content(rows))
        self.plot.take(sides)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_toggle_log(self) -> None:
        self.plot.log_scale = not self.plot.log_scale
        self.plot.redraw()


class CompareRunPicker(Picker):
    """Which run to compare the shown one with: dismisses with a run id or None."""

    DEFAULT_CSS = """
    CompareRunPicker > OptionList { width: 80; max-height: 80%; }
    """

    def __init__(self, runs: Sequence[tuple[str, str]], shown: str) -> None:
        """``runs``: (run id, one-line description) oldest first, the shown run left out;
        listed newest first."""
        choices = [(rid, Content(safe_text(desc, 120))) for rid, desc in reversed(runs)]
        super().__init__(f"compare run {safe_text(shown, 40)} with", choices)

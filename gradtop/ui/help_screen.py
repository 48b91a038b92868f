"""The ``?`` screen: every key, what it does, and how to read the table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static


@dataclass(frozen=True, slots=True)
class KeyHelp:
    """One line of the help: the keys, what they do, the binding actions the line covers
    (a test holds every active binding to a line), and, for an action a user may want by
    name, its command-palette entry (``command`` title, ``command_help``, ``call``: the
    action run, e.g. ``next_sick(1)``)."""

    keys: str
    what: str
    actions: tuple[str, ...]
    command: str = ""
    command_help: str = ""
    call: str = ""


MAIN_KEYS: tuple[KeyHelp, ...] = (
    KeyHelp("q  ctrl+c  ctrl+q", "quit", ("quit", "quit_or_copy")),
    KeyHelp(
        "?",
        "this help (Esc closes)",
        ("help",),
        "Help",
        "Every key and how to read the table",
        "help",
    ),
    KeyHelp("ctrl+p", "command palette: every action by name", ("command_palette",)),
    KeyHelp(
        "↑ ↓ j k PgUp PgDn Home End",
        "move in the layer table",
        ("cursor(-1)", "cursor(1)", "page(-1)", "page(1)", "jump(0)", "jump(-1)"),
    ),
    KeyHelp(
        "Enter",
        "layer detail: norms, update ratio, histogram",
        ("select",),
        "Layer detail",
        "Norms, update ratio and histogram of the highlighted layer",
        "select_layer",
    ),
    KeyHelp(
        "n / N",
        "jump to the next / previous sick layer",
        ("next_sick(1)", "next_sick(-1)"),
        "Next sick layer",
        "Move to the next layer with a problem",
        "next_sick(1)",
    ),
    KeyHelp(
        "s",
        "sort: depth, |grad|, severity; cursor to top",
        ("cycle_sort",),
        "Sort layers",
        "Cycle depth / grad norm / severity",
        "cycle_sort",
    ),
    KeyHelp(
        "/",
        "filter by name, type or status (Esc clears)",
        ("open_filter", "clear_filter"),
        "Filter layers",
        "Show only layers matching a text",
        "open_filter",
    ),
    KeyHelp(
        "l",
        "loss log scale (plot, or loss line at 80x24)",
        ("toggle_log",),
        "Log scale",
        "Toggle the loss plot's log scale",
        "toggle_log",
    ),
    KeyHelp(
        "v",
        "plot the loss, then each log() scalar",
        ("cycle_plot",),
        "Plot a scalar",
        "Show the loss, then each scalar passed to log(), in the loss plot",
        "cycle_plot",
    ),
    KeyHelp(
        "p or space",
        "pause / resume following the file",
        ("toggle_pause",),
        "Pause / resume",
        "Stop or restart following the file",
        "toggle_pause",
    ),
    KeyHelp(
        "f",
        "all findings, with evidence and fixes",
        ("show_findings",),
        "All findings",
        "Every finding with its evidence and fixes",
        "show_findings",
    ),
    KeyHelp(
        "r",
        "switch run (when the file holds several)",
        ("switch_run",),
        "Switch run",
        "Show another run of this file",
        "switch_run",
    ),
    KeyHelp(
        "d",
        "compare with another run: what changed",
        ("compare_runs",),
        "Compare runs",
        "The shown run beside another of this file, and what changed",
        "compare_runs",
    ),
    KeyHelp(
        "Tab", "move between the table and the filter box", ("app.focus_next", "app.focus_previous")
    ),
)

LEGEND: tuple[tuple[str, str], ...] = (
    ("✖ NaN/Inf", "non-finite gradient values in this tensor"),
    ("▲ EXPLODE", "gradient norm growing out of bounds"),
    ("▼ VANISH", "gradient norm far below the last layers'"),
    ("○ dead", "most gradient entries exactly zero"),
    ("∅ no grad", "requires grad but received none"),
    ("– frozen", "requires_grad is False (by design)"),
    ("✓ ok", "measured, nothing to report"),
    ("… waiting", "no step logged yet: nothing measured"),
    ("history", "|grad| over the run (log), newest right; ✖ NaN"),
    ("flow", "median |grad| of 8 steps, log 1e-10…1e2"),
    ("upd/w", "‖Δw‖/‖w‖ per step (healthy around 1e-3)"),
)


def help_content(keys: Sequence[KeyHelp] = MAIN_KEYS, *, legend: bool = True) -> Content:
    """``legend``: how to read the layer table (not for the run list, which has none)."""
    parts: list[str | tuple[str, str]] = [("Keys\n", "bold $text-accent")]
    for key in keys:
        parts += [(f"  {key.keys:<28}", "bold"), f"{key.what}\n"]
    if legend:
        parts.append(("\nReading the layer table\n", "bold $text-accent"))
        for word, what in LEGEND:
            parts += [(f"  {word:<28}", "bold"), f"{what}\n"]
    parts.append(("\nMouse is optional: every action has a key.", "$text-muted"))
    return Content.assemble(*parts)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def __init__(self, keys: Sequence[KeyHelp] = MAIN_KEYS, *, legend: bool = True) -> None:
        super().__init__()
        self.keys = tuple(keys)
        self.legend = legend

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            text = help_content(self.keys, legend=self.legend)
            yield Static(text, markup=False, id="help-text")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)

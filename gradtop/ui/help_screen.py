"""The ``?`` screen: every key, what it does, and how to read the table."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str], ...] = (
    ("q", "quit"),
    ("?", "this help (Esc closes)"),
    ("ctrl+p", "command palette: every action by name"),
    ("↑ ↓ PgUp PgDn Home End", "move in the layer table (j/k too)"),
    ("Enter", "layer detail: norms, update ratio, histogram over time"),
    ("n / N", "jump to the next / previous sick layer"),
    ("s", "sort: depth → grad norm → severity"),
    ("/", "filter layers by name, type or status (Esc clears)"),
    ("l", "log scale for the loss plot"),
    ("p or space", "pause / resume following the file"),
    ("f", "all findings, with evidence and fixes"),
    ("r", "switch run (when the file holds several)"),
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
    ("history", "grad norm over the whole run, log scale, newest right; ✖ marks NaN/Inf"),
    ("flow", "grad norm (median of 8 steps), fixed log scale 1e-10…1e2: read it down the depth"),
    ("upd/w", "‖Δw‖/‖w‖ per optimizer step (healthy around 1e-3)"),
)


def help_content() -> Content:
    parts: list[str | tuple[str, str]] = [("Keys\n", "bold $text-accent")]
    for key, what in KEYS:
        parts += [(f"  {key:<24}", "bold"), f"{what}\n"]
    parts.append(("\nReading the layer table\n", "bold $text-accent"))
    for word, what in LEGEND:
        parts += [(f"  {word:<24}", "bold"), f"{what}\n"]
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

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_content(), markup=False, id="help-text")

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)

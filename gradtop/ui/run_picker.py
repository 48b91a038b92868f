"""Pick which run of a multi-run file to show (newest is followed by default)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from gradtop.text import safe_text

NEWEST = "\x00newest"  # an option id no run id can collide with (ids are sanitised)


class RunPicker(ModalScreen[str | None]):
    """Dismisses with a run id, NEWEST (follow the newest run), or None (cancelled)."""

    DEFAULT_CSS = """
    RunPicker { align: center middle; }
    RunPicker > OptionList {
        width: 80; max-width: 100%; height: auto; max-height: 80%;
        border: round $primary; background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "cancel", "Cancel")]

    def __init__(self, runs: list[tuple[str, str]], current: str | None) -> None:
        """``runs``: (run id, one-line description) oldest first."""
        super().__init__()
        self._runs = runs
        self._current = current

    def compose(self) -> ComposeResult:
        options = [Option(Content("follow the newest run"), id=NEWEST)]
        for i, (rid, desc) in enumerate(reversed(self._runs)):
            mark = "● " if rid == self._current else "  "
            options.append(Option(Content(mark + safe_text(desc, 120)), id=f"run-{i}"))
        picker = OptionList(*options)
        picker.border_title = "switch run"
        yield picker

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id or ""
        if option_id == NEWEST:
            self.dismiss(NEWEST)
            return
        i = int(option_id.removeprefix("run-"))
        self.dismiss(list(reversed(self._runs))[i][0])

    def action_cancel(self) -> None:
        self.dismiss(None)

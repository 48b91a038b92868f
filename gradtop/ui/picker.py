"""A modal list of choices: the screen behind "switch run" and "switch demo"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class Picker(ModalScreen[str | None]):
    """Enter dismisses with the chosen value, Esc or q with None.

    The values live beside the options, not in their ids: a run id comes from the file,
    so it could collide with another option's id; the options are simply numbered.
    Subclasses size the list in their own CSS and say what the choices are.
    """

    DEFAULT_CSS = """
    Picker { align: center middle; }
    Picker > OptionList {
        max-width: 100%; height: auto; border: round $primary; background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "cancel", "Cancel")]

    def __init__(
        self, title: str, choices: Sequence[tuple[str, Content]], highlight: int | None = None
    ) -> None:
        """``choices``: (value to dismiss with, what the option shows), top first."""
        super().__init__()
        self._title = title
        self._values = [value for value, _ in choices]
        self._labels = [label for _, label in choices]
        self._highlight = highlight

    def compose(self) -> ComposeResult:
        yield OptionList(*(Option(label, id=f"choice-{i}") for i, label in enumerate(self._labels)))

    def on_mount(self) -> None:
        box = self.query_one(OptionList)
        box.border_title = self._title
        if self._highlight is not None:
            box.highlighted = self._highlight
        box.focus()

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(self._values[message.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)

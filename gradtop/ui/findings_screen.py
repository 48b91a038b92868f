"""Every finding in full, for when the panel on the main screen is too small (``f``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen

from gradtop.diagnosis.findings import Finding
from gradtop.ui.findings_panel import FindingsPanel


class FindingsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    FindingsScreen { align: center middle; }
    FindingsScreen > FindingsPanel { width: 100%; height: 100%; background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f", "close", "Close")]

    def __init__(self, findings: Sequence[Finding], error: str = "") -> None:
        super().__init__()
        self._findings = list(findings)
        self._error = error

    def compose(self) -> ComposeResult:
        yield FindingsPanel(id="all-findings")

    def on_mount(self) -> None:
        panel = self.query_one(FindingsPanel)
        panel.show(self._findings, compact=False, error=self._error)
        panel.focus()

    def action_close(self) -> None:
        self.dismiss(None)

"""Every finding in full, for when the panel on the main screen is too small (``f``).

In full: every fix and every word of the explanation, wrapped and scrollable; the
panel on the main screen is the digest (three fixes, texts cut to a few lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Footer

from gradtop.diagnosis.findings import Finding
from gradtop.ui.findings_panel import FindingsPanel


class FindingsScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    FindingsScreen { align: center middle; }
    FindingsScreen > FindingsPanel { width: 100%; height: 1fr; background: $surface; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f", "close", "Close")]

    def __init__(self, findings: Sequence[Finding], error: str = "") -> None:
        super().__init__()
        self._findings = list(findings)
        self._error = error

    def compose(self) -> ComposeResult:
        yield FindingsPanel(id="all-findings")
        yield Footer()  # how to close it: the only screen that would not say

    def on_mount(self) -> None:
        panel = self.query_one(FindingsPanel)
        panel.show(self._findings, compact=False, error=self._error, full=True)
        panel.focus()

    def action_close(self) -> None:
        self.dismiss(None)

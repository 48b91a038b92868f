"""The one- or two-line header: file, run, step, pace, liveness and reader notices."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from gradtop.ui.headline import HeadlineInput, headline
from gradtop.ui.tones import lines_to_content


class HeaderBar(Static):
    """Repaints only when its text changes (ages are whole seconds, so that is rare)."""

    DEFAULT_CSS = """
    HeaderBar {
        height: auto;
        max-height: 3;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._shown: Content | None = None

    def show(self, data: HeadlineInput) -> None:
        content = lines_to_content(headline(data, max(20, self.size.width - 2)))
        if content != self._shown:
            self._shown = content
            self.update(content)

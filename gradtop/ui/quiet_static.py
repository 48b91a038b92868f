"""A Static that repaints only when its text changed, and re-lays out only when its height did.

``Static.update`` defaults to a layout pass, which makes Textual re-render and resend the
whole screen. On a live dashboard refreshed twice a second over SSH that is the single
largest cost, so every text panel goes through ``show``.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


class QuietStatic(Static):
    def __init__(
        self, content: Content | str = "", *, id: str | None = None, wraps: bool = False
    ) -> None:
        """``wraps``: the text may wrap, so its height can change with any new text."""
        super().__init__(content, id=id, markup=False)
        self._shown: Content | None = None
        self._wraps = wraps

    def show(self, content: Content) -> bool:
        """Display ``content``; returns whether anything changed on screen."""
        if content == self._shown:
            return False
        old_lines = None if self._shown is None else self._shown.plain.count("\n")
        self._shown = content
        self.update(content, layout=self._wraps or old_lines != content.plain.count("\n"))
        return True

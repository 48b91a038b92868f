"""The one- or two-line header: file, run, step, pace, liveness and reader notices."""

from __future__ import annotations

from gradtop.ui.headline import HeadlineInput, headline
from gradtop.ui.quiet_static import QuietStatic
from gradtop.ui.tones import lines_to_content


class HeaderBar(QuietStatic):
    """Repaints only when its text changes (ages are whole seconds, so that is rare)."""

    DEFAULT_CSS = """
    HeaderBar {
        height: auto;
        max-height: 3;
        background: $panel;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show_headline(self, data: HeadlineInput) -> None:
        self.show(lines_to_content(headline(data, max(20, self.size.width - 2))))

"""The findings panel: what is wrong, the numbers behind it, and what to change."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content

from gradtop.diagnosis.findings import Finding
from gradtop.ui.findings_text import Line, findings_lines, summary
from gradtop.ui.quiet_static import QuietStatic
from gradtop.ui.tones import fragments_to_content, lines_to_content

# Border and padding on each side, and the scrollbar: what the text may not use.
CHROME = 5


def hanging(lines: Sequence[Line], width: int) -> Content:
    """``lines`` wrapped to ``width`` with each continuation under its own text, so at 80
    columns a fix's explanation and code stay visibly inside the finding they belong to."""
    out: list[Content] = []
    for line in lines:
        text = fragments_to_content(line)
        plain = text.plain
        lead = len(plain) - len(plain.lstrip(" "))
        hang = lead or 2  # a finding's head line: its continuation indented a little
        number = plain[lead:].split(" ", 1)[0]
        if number[:-1].isdigit() and number.endswith("."):
            hang = lead + len(number) + 1  # under the fix's title, not its number
        room = max(10, width - hang)
        body = text[lead:]
        for i, piece in enumerate(body.wrap(room) if body.plain else [body]):
            out.append(Content(" " * (lead if i == 0 else hang)) + piece)
    return Content("\n").join(out)


class FindingsPanel(VerticalScroll):
    """Scrollable list of findings; in compact mode only the top one and its first fix."""

    DEFAULT_CSS = """
    FindingsPanel {
        height: 1fr;
        border: round $primary-muted;
        border-title-color: $text-primary;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        & > Static { width: 1fr; }
    }
    FindingsPanel.-compact { overflow-y: hidden; }
    FindingsPanel.-compact > Static { text-wrap: nowrap; text-overflow: ellipsis; }
    FindingsPanel.-critical { border: round $error; border-title-color: $text-error; }
    FindingsPanel.-warning { border: round $warning; border-title-color: $text-warning; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.compact = False
        self._body = QuietStatic("", wraps=True)
        self._full: list[Line] | None = None  # shown in full: re-wrapped on resize

    def compose(self) -> ComposeResult:
        yield self._body

    def show(
        self,
        findings: Sequence[Finding],
        *,
        compact: bool | None = None,
        error: str = "",
        no_data: bool = False,
        full: bool = False,
    ) -> None:
        """``full``: every fix and every word (the ``f`` screen), not the panel's digest."""
        if compact is not None:
            self.compact = compact
            self.set_class(compact, "-compact")
        lines = (
            findings_lines(findings, detail=False, limit=1, error=error, no_data=no_data)
            if self.compact
            else findings_lines(findings, error=error, no_data=no_data, full=full)
        )
        title = f"findings: {summary(findings, error, no_data)}"
        if self.border_title != title:  # setting it always repaints the whole panel
            self.border_title = title
        worst = max((f.severity for f in findings if f.active), default=None)
        self.set_class(bool(error) or (worst is not None and worst.name == "CRITICAL"), "-critical")
        self.set_class(worst is not None and worst.name == "WARNING", "-warning")
        self._full = lines if full and not self.compact else None
        if self._full is not None:
            self._body.show(hanging(self._full, self.size.width - CHROME))
        else:
            self._body.show(lines_to_content(lines))  # unchanged findings cost no bytes

    def on_resize(self) -> None:
        if self._full is not None:
            self._body.show(hanging(self._full, self.size.width - CHROME))

"""Pick which run of a multi-run file to show (newest is followed by default)."""

from __future__ import annotations

from textual.content import Content

from gradtop.text import safe_text
from gradtop.ui.picker import Picker

NEWEST = "\x00newest"  # a choice no run id can collide with (ids are sanitised)


class RunPicker(Picker):
    """Dismisses with a run id, NEWEST (follow the newest run), or None (cancelled)."""

    DEFAULT_CSS = """
    RunPicker > OptionList { width: 80; max-height: 80%; }
    """

    def __init__(self, runs: list[tuple[str, str]], current: str | None) -> None:
        """``runs``: (run id, one-line description) oldest first; listed newest first."""
        choices = [(NEWEST, Content("follow the newest run"))]
        for rid, desc in reversed(runs):
            mark = "● " if rid == current else "  "
            choices.append((rid, Content(mark + safe_text(desc, 120))))
        super().__init__("switch run", choices)

"""Widgets of the ``gradtop demo`` lesson: guidance and run strip, the "why" text, a picker.

They only draw what ``lesson_view`` built; the app decides when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from gradtop.ui.picker import Picker
from gradtop.ui.tones import fragments_to_content, lines_to_content


class ChangeOnlyStatic(Static):
    """Repaints only when its content changed: the lesson refreshes twice a second."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self._shown: Content | None = None

    def show(self, content: Content) -> bool:
        if content == self._shown:
            return False
        self._shown = content
        self.update(content)
        return True


class LessonPanel(Vertical):
    """What the lesson says now (status, next key, key row) above the runs compared."""

    DEFAULT_CSS = """
    LessonPanel {
        height: auto;
        border: round $accent;
        border-title-color: $text-accent;
        border-title-style: bold;
        padding: 0 1;
    }
    LessonPanel > #lesson-guide { width: 1fr; height: auto; }
    LessonPanel > #lesson-strip { width: 1fr; height: auto; text-wrap: nowrap; margin-top: 1; }
    LessonPanel > #lesson-strip.-empty { display: none; }
    """

    def compose(self) -> ComposeResult:
        yield ChangeOnlyStatic(id="lesson-guide")
        yield ChangeOnlyStatic(id="lesson-strip")

    def show(
        self,
        title: str,
        guide: Sequence[Sequence[tuple[str, str]]],
        strip: Sequence[Sequence[tuple[str, str]]],
    ) -> None:
        if self.border_title != title:
            self.border_title = title
        self.query_one("#lesson-guide", ChangeOnlyStatic).show(lines_to_content(guide))
        strip_widget = self.query_one("#lesson-strip", ChangeOnlyStatic)
        strip_widget.set_class(not strip, "-empty")
        strip_widget.show(lines_to_content(strip))


Wrap = Callable[[str, int], list[str]]  # gradtop.teaching.texts.wrap: counts Chinese as 2 cells


def teaching_content(sections: Sequence[tuple[str, str]], wrap: Wrap, width: int) -> Content:
    """Headed paragraphs, wrapped here: Textual breaks lines at spaces, which Chinese has
    few of (it would leave a half-empty line or start one with a comma)."""
    parts: list[Content] = []
    for heading, body in sections:
        if heading:
            parts.append(fragments_to_content([(heading, "title")]))
        parts.extend(fragments_to_content([(line, "")]) for line in wrap(body, width))
        parts.append(Content(""))
    return Content("\n").join(parts)


class TeachingPanel(VerticalScroll):
    """The "why" text beside the dashboard (wide terminals); ``t`` hides and shows it."""

    DEFAULT_CSS = """
    TeachingPanel {
        border: round $primary;
        border-title-color: $text-primary;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    TeachingPanel > Static { width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._sections: list[tuple[str, str]] = []
        self._wrap: Wrap | None = None

    def compose(self) -> ComposeResult:
        yield ChangeOnlyStatic(id="teaching-text")

    def show(self, title: str, sections: Sequence[tuple[str, str]], wrap: Wrap) -> None:
        if self.border_title != title:
            self.border_title = title
        self._sections, self._wrap = list(sections), wrap
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        width = self.scrollable_content_region.width - 1
        if self._wrap is None or width < 10:
            return  # not laid out yet: on_resize draws it
        text = teaching_content(self._sections, self._wrap, width)
        self.query_one("#teaching-text", ChangeOnlyStatic).show(text)


class TeachingScreen(ModalScreen[None]):
    """The same text over the dashboard, for terminals too narrow to show it beside."""

    DEFAULT_CSS = """
    TeachingScreen { align: center middle; }
    TeachingScreen > TeachingPanel {
        width: 100; max-width: 100%; height: auto; max-height: 100%; background: $surface;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,t,q", "dismiss", "Close")]

    def __init__(self, title: str, sections: Sequence[tuple[str, str]], wrap: Wrap) -> None:
        super().__init__()
        self._title = title
        self._sections = sections
        self._wrap = wrap

    def compose(self) -> ComposeResult:
        yield TeachingPanel(id="teaching-modal")

    def on_mount(self) -> None:
        self.query_one(TeachingPanel).show(self._title, self._sections, self._wrap)
        self.query_one(TeachingPanel).focus()

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class DemoPicker(Picker):
    """Every demo with its one-line description, the current one highlighted."""

    DEFAULT_CSS = """
    DemoPicker > OptionList { width: 110; max-height: 100%; }
    """
    # "c" opened the picker, so it closes it too.
    BINDINGS: ClassVar[list[BindingType]] = [Binding("c", "cancel", "Cancel")]

    def __init__(self, title: str, demos: Sequence[tuple[str, str]], current: str) -> None:
        names = [name for name, _ in demos]
        choices = [
            (name, fragments_to_content([(f"{name:<15}", "bold"), (line, "muted")]))
            for name, line in demos
        ]
        super().__init__(title, choices, names.index(current) if current in names else None)

"""The run list (``gradtop watch DIR``): one line per run, like a process list.

What a line says is ``run_list``'s (pure); this screen draws it. It polls ``files()`` on a
timer: the app returns each followed file's model and reader state, and the rows are
rebuilt from them with the app's clock. Only lines whose text changed are replaced in
the OptionList, so a list of finished runs sends nothing; but any replaced line repaints
the list's visible lines (OptionList clears its line cache), so with live runs it is the
rebuild pace (``POLL``) that bounds the bytes sent to the terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList
from textual.widgets.option_list import Option

from gradtop.session import WriterAlive
from gradtop.ui.help_screen import HelpScreen, KeyHelp
from gradtop.ui.quiet_static import QuietStatic
from gradtop.ui.run_list import FileInput, RunRow, heading_line, row_line, run_rows, summary_line
from gradtop.ui.tones import fragments_to_content

# Seconds between rebuilds of the rows. A list is read at a glance, and every live run's
# line moves at each rebuild (its step), which repaints the visible lines: twice the
# dashboard's 0.5 s halves the bytes (benchmarks/run_list.py, docs/performance.md).
POLL = 1.0
SEP = "\x00"  # between path and run id in an option id (neither holds a NUL)

LIST_KEYS: tuple[KeyHelp, ...] = (
    KeyHelp("q  ctrl+c", "quit", ("app.quit",)),
    KeyHelp("?", "this help (Esc closes)", ("help",)),
    KeyHelp("↑ ↓ PgUp PgDn Home End", "move in the list", ()),
    KeyHelp("Enter", "open the run's dashboard (Esc there comes back)", ("select",)),
    KeyHelp("space or m", "mark / unmark the run (for c)", ("mark",)),
    KeyHelp("c", "compare the marked runs (or the marked and highlighted one)", ("compare",)),
)


def option_id(path: str, run_id: str) -> str:
    return f"{path}{SEP}{run_id}"


def option_key(option_id: str) -> tuple[str, str]:
    path, _sep, run_id = option_id.rpartition(SEP)
    return path, run_id


class RunListScreen(ModalScreen[None]):
    """Posts ``Opened`` (Enter on a run) and ``CompareMarked`` (c) to the app. Modal, so
    its footer lists its own keys, not those of the dashboard underneath."""

    DEFAULT_CSS = """
    RunListScreen { layout: vertical; background: $background; }
    RunListScreen #runs-summary { height: 1; padding: 0 1; background: $panel; }
    RunListScreen #runs-notes { height: auto; padding: 0 1; }
    RunListScreen #runs-heading { height: 1; padding: 0 1; color: $text-muted; }
    RunListScreen OptionList { height: 1fr; border: none; padding: 0; }
    RunListScreen OptionList:focus { border: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        # A priority binding, so the footer shows it (the OptionList's own Enter hides it).
        Binding("enter", "select", "Open", priority=True),
        Binding("space,m", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
    ]

    @dataclass
    class Opened(Message):
        path: str
        run_id: str

    @dataclass
    class CompareMarked(Message):
        keys: list[tuple[str, str]]  # (path, run id), in list order
        names: list[str]

    def __init__(
        self,
        files: Callable[[], Sequence[FileInput]],
        clock: Callable[[], float],
        *,
        notes: Callable[[], Sequence[str]] = tuple,
        writer_alive: WriterAlive | None = None,
        poll: float = POLL,
    ) -> None:
        super().__init__()
        self.files_fn = files
        self.notes_fn = notes
        self.clock = clock
        self.writer_alive = writer_alive
        self.poll = poll
        self.rows: list[RunRow] = []
        self.marked: set[tuple[str, str]] = set()
        self.draws = 0  # rebuilds done (tests wait on it)
        self._lines: dict[str, object] = {}  # option id -> the fragments it shows
        self._ids: list[str] = []  # the option ids in the OptionList, in order
        self.summary = QuietStatic(id="runs-summary")
        self.notes = QuietStatic(id="runs-notes", wraps=True)
        self.heading = QuietStatic(id="runs-heading")
        self.options = OptionList(id="runs")

    def compose(self) -> ComposeResult:
        yield self.summary
        yield self.notes
        yield self.heading
        yield self.options
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(self.poll, self.draw)
        self.options.focus()
        self.call_after_refresh(self.draw)

    def on_screen_resume(self) -> None:
        self.options.focus()
        self.draw()

    def on_resize(self) -> None:
        self._lines = {oid: () for oid in self._ids}  # every line laid out anew for the width
        self.call_after_refresh(self.draw)

    def draw(self) -> None:
        """Rebuild the rows and replace the lines that changed; new runs are appended."""
        self.rows = run_rows(self.files_fn(), self.clock(), writer_alive=self.writer_alive)
        self.draws += 1
        width = max(20, self.options.scrollable_content_region.width or self.size.width - 2)
        self.summary.show(fragments_to_content(summary_line(self.rows, len(self.marked))))
        notes = list(self.notes_fn())
        if not self.rows:
            notes.append("no gradtop log here yet: waiting for *.jsonl files to appear")
        self.notes.display = bool(notes)
        self.notes.show(fragments_to_content([("\n".join(notes), "warning")]))
        self.heading.show(fragments_to_content(heading_line(width)))
        options = self.options
        ids = [option_id(r.path, r.run_id) for r in self.rows]
        if ids[: len(self._ids)] != self._ids:
            # A line went or moved (a file's first run replaced its "reading" line, a new
            # run of an earlier file): build the list anew, the highlighted run kept.
            shown = options.highlighted_option
            keep = shown.id if shown is not None else None
            options.clear_options()
            self._ids, self._lines = [], {}
            self._build(ids, width)
            if keep in ids:
                options.highlighted = ids.index(keep)
        else:
            self._build(ids, width)
        if options.highlighted is None and options.option_count:
            options.highlighted = 0

    def _build(self, ids: list[str], width: int) -> None:
        """Replace the lines whose text changed; append the new ones."""
        options = self.options
        new: list[Option] = []
        for oid, row in zip(ids, self.rows, strict=True):
            line = row_line(row, width, marked=row.key in self.marked)
            if self._lines.get(oid) == line:
                continue
            prompt = fragments_to_content(line)
            if oid in self._lines:
                options.replace_option_prompt(oid, prompt)
            else:
                new.append(Option(prompt, id=oid))
            self._lines[oid] = line
        if new:
            options.add_options(new)
        self._ids = ids

    def highlighted_row(self) -> RunRow | None:
        option = self.options.highlighted_option
        if option is None or option.id is None:
            return None
        key = option_key(option.id)
        return next((r for r in self.rows if r.key == key), None)

    def on_option_list_option_selected(self, message: OptionList.OptionSelected) -> None:
        message.stop()
        self.action_select()

    def action_select(self) -> None:
        row = self.highlighted_row()
        if row is None:
            return
        if not row.run_id:
            self.notify(f"{row.name}: no run in this file yet", timeout=3)
            return
        self.post_message(self.Opened(row.path, row.run_id))

    def action_mark(self) -> None:
        row = self.highlighted_row()
        if row is None or not row.run_id:
            return
        self.marked ^= {row.key}
        self.draw()
        self.options.action_cursor_down()

    def action_compare(self) -> None:
        chosen = set(self.marked)
        row = self.highlighted_row()
        if len(chosen) == 1 and row is not None and row.run_id:
            chosen.add(row.key)  # one marked: compare it with the highlighted run
        rows = [r for r in self.rows if r.key in chosen]
        if len(rows) < 2:
            self.notify("Mark two runs or more with space, then press c.", timeout=4)
            return
        self.post_message(self.CompareMarked([r.key for r in rows], [r.name for r in rows]))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(LIST_KEYS, legend=False))

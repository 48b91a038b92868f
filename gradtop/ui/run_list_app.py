"""``gradtop watch DIR`` (or several files or globs): every run in a list, each one's
dashboard a key away.

The dashboard is ``GradtopApp``'s, unchanged; this app follows many files (one reader
worker each, the same ``follow_into_app``), shows them in a ``RunListScreen`` on top of
the dashboard, and on Enter swaps the chosen file in as the dashboard's. The shown file's
state lives in the app's own attributes, as in a one-file watch; every other file's in a
``WatchedFile``, swapped on Enter. Worker messages name their file: news of a file that
is not shown updates its ``WatchedFile`` and goes no further (``prevent_default``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gradtop.reader.remote_list import Listed, list_remote
from gradtop.reader.ssh_source import parse_remote
from gradtop.reader.targets import expand
from gradtop.ui.app import GradtopApp, reader_view
from gradtop.ui.compare_screen import CompareScreen
from gradtop.ui.file_probe import FileProbe
from gradtop.ui.follower import FollowOptions, FollowStats
from gradtop.ui.headline import ReaderView
from gradtop.ui.help_screen import MAIN_KEYS, KeyHelp
from gradtop.ui.messages import (
    BackfillProgressed,
    ModelChanged,
    ModelReplaced,
    ReaderFailed,
    WakeupStarted,
)
from gradtop.ui.model import WatchModel
from gradtop.ui.run_list import FileInput, file_labels
from gradtop.ui.run_list_screen import RunListScreen

# Seconds between findings refreshes of each file: fifty runs diagnosed every second
# (the one-file dashboard's pace) cost a sixth of a core; a list is read at a glance.
LIST_FINDINGS_EVERY = 3.0
RESCAN = 2.0  # seconds between looks for new files in the watched directories and globs
REMOTE_RESCAN = 10.0  # the same for remote ones: each look is an ssh round trip
LIST = "runs"  # the installed run list screen's name


@dataclass
class WatchedFile:
    """What the app knows of one followed file while another one is shown."""

    model: WatchModel
    reader: ReaderView | None = None
    loaded: bool = False
    loading: str = ""
    problem: str = ""
    wakeup_note: str = ""
    following: bool = False
    follow_stats: FollowStats = field(default_factory=FollowStats)


class RunListApp(GradtopApp):
    """``targets``: directories, globs and files (local or ``host:path``) as typed.
    ``compare``: open with the runs of these files marked and compared (``watch A B``)."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        compare: bool = False,
        rescan: float = RESCAN,
        remote_rescan: float = REMOTE_RESCAN,
        **kw: Any,
    ) -> None:
        super().__init__("", **kw)
        self.targets = tuple(targets)
        self.files: dict[str, WatchedFile] = {}
        self._labels: dict[str, str] = {}  # path -> its name in the list
        self._lister: threading.Thread | None = None  # lists remote directories and globs
        self._local_notes: list[str] = []
        self._remote_notes: dict[str, str] = {}  # remote listing -> why it shows nothing
        self.remote_rescan = remote_rescan
        self.notes: list[str] = []
        self.rescan = rescan
        self._compare_first = compare
        self.list_screen = RunListScreen(
            self.file_inputs, self.clock, notes=lambda: self.notes, writer_alive=self.writer_alive
        )

    # ------------------------------------------------------------------ files

    def on_mount(self) -> None:
        """Runs before GradtopApp's on_mount (Textual calls each class's handler)."""
        self.install_screen(self.list_screen, LIST)
        self.push_screen(LIST)
        if self._follow:
            self.set_interval(self.rescan, self._add_new_files)
        if self._compare_first:
            self.set_timer(0.05, self._compare_files)

    def _start_reading(self) -> None:
        self._add_new_files()

    def _add_new_files(self) -> None:
        """Every file the targets name now and none before gets a reader thread."""
        found = expand(self.targets)
        notes = list(found.errors)
        if found.left_out:
            notes.append(f"{found.left_out} more files not followed (the first 1000 are)")
        self._local_notes = notes
        self.notes = notes + list(self._remote_notes.values())
        for path in found.files:
            self._follow_new(path)
        if found.remote_listings and self._lister is None:
            self._lister = threading.Thread(
                target=self._list_remote, args=(found.remote_listings,), daemon=True
            )
            self._lister.start()

    def _follow_new(self, path: str) -> None:
        if path in self.files or path == self.path:
            return
        state = WatchedFile(WatchModel(self._make_diagnoser, path))
        self.files[path] = state
        self._start_follower(path, state.follow_stats)
        self._labels = file_labels(list(self.files))
        if not self.path:
            self._show(path)

    def _list_remote(self, specs: list[str]) -> None:
        """Thread: each remote directory or glob listed over ssh every ``REMOTE_RESCAN`` s
        (a round trip, seconds on a slow link: never on the event loop)."""
        while not self._stop.is_set():
            for spec in specs:
                remote = parse_remote(spec)
                if remote is None:
                    continue
                listed = list_remote(remote)
                if self._stop.is_set():
                    return
                try:
                    self.call_from_thread(self._listed, spec, listed)
                except RuntimeError:  # the app closed meanwhile: nothing to tell
                    return
            self._stop.wait(self.remote_rescan)

    def _listed(self, spec: str, listed: Listed) -> None:
        if listed.error:
            self._remote_notes[spec] = listed.error
        else:
            self._remote_notes.pop(spec, None)
            if not listed.files:
                self._remote_notes[spec] = f"{spec}: no *.jsonl file there yet"
        self.notes = self._local_notes + list(self._remote_notes.values())
        for path in listed.files:
            self._follow_new(path)

    @property
    def all_read(self) -> bool:
        """Every followed file read to its end once (tests and the benchmark wait on it)."""
        return bool(self.files) and all(
            self.loaded if path == self.path else state.loaded for path, state in self.files.items()
        )

    def follow_options(self, path: str) -> FollowOptions:
        """Polled, unless ``--poll`` was given either way: a watchdog observer per file
        would each see every write to their shared directory (fifty files written twice
        a second: 5,000 events a second, more than a core of CPU); a look per file per
        tick costs one stat. Findings are refreshed every ``LIST_FINDINGS_EVERY`` s."""
        poll = self.poll
        if poll is None:
            poll = f"run list: each file looked at every {self.tick:g} s"
        every = LIST_FINDINGS_EVERY
        return FollowOptions(path, poll=poll, tick=self.tick, refresh_findings_every=every)

    def file_label(self) -> str:
        """As in the list: ten ``exp*/gradtop.jsonl`` must not all read "gradtop.jsonl"."""
        return self._labels.get(self.path, "")

    def model_of(self, source: str) -> WatchModel:
        return self.model if source == self.path else self.files[source].model

    def file_inputs(self) -> list[FileInput]:
        """The list's view of every file, in the order found, the shown one included."""
        out = []
        labels = self._labels
        for path, state in self.files.items():
            shown = path == self.path
            reader = self.reader if shown else state.reader
            out.append(
                FileInput(
                    path,
                    self.model if shown else state.model,
                    reader.state if reader is not None else "",
                    self.problem if shown else state.problem,
                    labels.get(path, ""),
                )
            )
        return out

    def _show(self, path: str) -> None:
        """Make ``path`` the dashboard's file: the shown file's state goes back to its
        WatchedFile, the chosen one's comes out of it."""
        if path == self.path:
            return
        old = self.files.get(self.path)
        if old is not None:
            old.model, old.reader, old.loaded = self.model, self.reader, self.loaded
            old.loading, old.problem, old.wakeup_note = self.loading, self.problem, self.wakeup_note
            old.following, old.follow_stats = self.following, self.follow_stats
        new = self.files[path]
        self.path = path
        self.model, self.reader, self.loaded = new.model, new.reader, new.loaded
        self.loading, self.problem, self.wakeup_note = new.loading, new.problem, new.wakeup_note
        self.following, self.follow_stats = new.following, new.follow_stats
        self.pause_probe = FileProbe.start(path) if self.paused else None
        self.run_id = None
        self._plot_generation = -1

    # ------------------------------------------------------------------ worker news

    def _elsewhere(self, source: str) -> WatchedFile | None:
        """The WatchedFile of a file not shown (None: the shown file, or not ours)."""
        return None if source == self.path else self.files.get(source)

    def on_model_replaced(self, message: ModelReplaced) -> None:
        state = self._elsewhere(message.model.source)
        if state is not None:
            message.prevent_default()
            state.model = message.model
            if message.phase == "complete":
                state.loaded, state.loading = True, ""

    def on_model_changed(self, message: ModelChanged) -> None:
        state = self._elsewhere(message.source)
        if state is not None:
            message.prevent_default()
            if message.status is not None:
                state.reader = reader_view(message.status)

    def on_backfill_progressed(self, message: BackfillProgressed) -> None:
        if self._elsewhere(message.source) is not None:
            message.prevent_default()  # the list shows "… reading" until a run is read

    def on_wakeup_started(self, message: WakeupStarted) -> None:
        state = self._elsewhere(message.source)
        if state is not None:
            message.prevent_default()
            state.following = True
            if message.mode != "native":
                state.wakeup_note = f"polling ({message.reason})" if message.reason else "polling"

    def on_reader_failed(self, message: ReaderFailed) -> None:
        state = self._elsewhere(message.source)
        if state is not None:
            message.prevent_default()
            state.problem = message.error

    # ------------------------------------------------------------------ list actions

    def on_run_list_screen_opened(self, message: RunListScreen.Opened) -> None:
        self._show(message.path)
        with self.model.lock:
            runs = list(self.model.history.runs)
        # The file's newest run is followed (a restart shows the new run); an older one stays.
        self.run_id = None if runs[-1:] == [message.run_id] else message.run_id
        self.pop_screen()
        self.table.focus()
        self.redraw(full=True)

    def on_run_list_screen_compare_marked(self, message: RunListScreen.CompareMarked) -> None:
        self.push_screen(CompareScreen(self._compare_sides(message.keys, message.names)))

    def _compare_files(self) -> None:
        """``watch A B``: the newest run of each file, once each has one."""
        if not self.is_running:
            return
        keys = []
        for path in self.files:
            runs = list(self.model_of(path).history.runs)
            if runs:
                keys.append((path, runs[-1]))
        if len(keys) < min(2, len(self.files)):
            self.set_timer(0.2, self._compare_files)  # not every file has a run yet
            return
        screen = self.list_screen
        screen.marked = set(keys)
        screen.draw()
        rows = {r.key: r.name for r in screen.rows}
        self.push_screen(CompareScreen(self._compare_sides(keys, [rows.get(k, "") for k in keys])))

    def _on_tick(self) -> None:
        """The dashboard is not redrawn while the list (or a comparison opened from it)
        covers it: Textual would still repaint it, under the list, at every redraw (at
        200x60 with fifty live runs that tripled the bytes sent). Enter redraws it."""
        if self.list_screen not in self.screen_stack:
            super()._on_tick()

    def action_clear_filter(self) -> None:
        """Esc on the dashboard: clears a filter first, then goes back to the list."""
        if self.filter_text or self.filter_box.value:
            super().action_clear_filter()
        elif self.screen is not self.list_screen:
            self.push_screen(LIST)

    def key_help(self) -> list[KeyHelp]:
        back = KeyHelp("Esc", "back to the run list (a filter is cleared first)", ("clear_filter",))
        return [*MAIN_KEYS, back]

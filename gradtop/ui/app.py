"""``gradtop watch``: the live dashboard, built to be read over SSH.

The app draws; a thread worker reads (see ``follower.py``). Data redraws happen on a
timer at a capped rate and only when the model changed, and widgets repaint only what
changed, so a busy training run costs the terminal little bandwidth. Keys redraw at once.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input

from gradtop.diagnosis import Diagnoser
from gradtop.diagnosis.findings import Finding
from gradtop.history import RunHistory
from gradtop.reader import ReaderStatus
from gradtop.reader.writer_probe import WriterProbe
from gradtop.session import WriterAlive
from gradtop.text import safe_text
from gradtop.ui.compare_screen import CompareRunPicker, CompareScreen
from gradtop.ui.compare_view import CompareSide, compare_side, side_label
from gradtop.ui.detail_screen import DetailScreen
from gradtop.ui.file_probe import FileProbe
from gradtop.ui.findings_panel import FindingsPanel
from gradtop.ui.findings_screen import FindingsScreen
from gradtop.ui.follower import FollowOptions, FollowStats, follow_into_app
from gradtop.ui.format import fmt_count
from gradtop.ui.header_bar import HeaderBar
from gradtop.ui.headline import HeadlineInput, ReaderView, loading_text
from gradtop.ui.help_screen import MAIN_KEYS, HelpScreen, KeyHelp
from gradtop.ui.layer_table import LayerTable
from gradtop.ui.layers import LayerRow, SortKey, build_rows, filter_rows, next_sick, sort_rows
from gradtop.ui.loss_line import LossLine
from gradtop.ui.loss_plot import LossPlot
from gradtop.ui.messages import (
    BackfillProgressed,
    ModelChanged,
    ModelReplaced,
    ReaderFailed,
    WakeupStarted,
)
from gradtop.ui.model import DiagnoserLike, WatchModel, liveness
from gradtop.ui.quiet_static import QuietStatic
from gradtop.ui.run_picker import NEWEST, RunPicker
from gradtop.ui.scalar_strip import scalar_names, scalar_strip
from gradtop.ui.sparkline import depth_profile, flow_scale, log_sparkline, step_bins
from gradtop.ui.tones import fragments_to_content

DEFAULT_REFRESH = 0.5  # seconds between data redraws: <= 2 Hz keeps SSH traffic small
PLOT_INTERVAL = 1.0  # seconds between loss-curve rebuilds while data flows
STOP_WAIT = 2.0  # seconds quitting waits for the readers to close their files and links
SPARK_CACHE = 4 * 4096  # sparklines kept: a few widths per parameter of the runs shown


class FilterInput(Input):
    """The ``/`` filter box; Esc clears it and gives the keys back to the table."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear_filter", "Clear")]

    def action_clear_filter(self) -> None:
        self.value = ""
        self.app.action_close_filter()  # type: ignore[attr-defined]


class GradtopApp(App[None]):
    """Watch a gradtop JSONL file (``path``), or show a ready model (``model``, for tests)."""

    CSS_PATH = "gradtop.tcss"
    TITLE = "gradtop"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (36, "-tall")]

    # Footer labels are short so every shown key fits 80 columns; ``?`` and the palette
    # list the rest (help_screen.MAIN_KEYS, one line per key, each binding covered).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        # Textual binds ctrl+c to copy; htop, nvitop and lazygit quit on it, so do we
        # (with text selected, it still copies).
        Binding("ctrl+c", "quit_or_copy", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("n", "next_sick(1)", "Sick"),
        Binding("N", "next_sick(-1)", "Prev sick", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("slash", "open_filter", "Filter"),
        Binding("l", "toggle_log", "Log", show=False),
        Binding("v", "cycle_plot", "Plot", show=False),
        Binding("p,space", "toggle_pause", "Pause"),
        Binding("f", "show_findings", "Findings"),
        Binding("r", "switch_run", "Runs", show=False),
        Binding("d", "compare_runs", "Compare", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(
        self,
        path: str | Path,
        *,
        model: WatchModel | None = None,
        make_diagnoser: Callable[[], DiagnoserLike] | None = Diagnoser,
        clock: Callable[[], float] = time.time,
        poll: bool | None = None,
        tick: float = 0.5,
        refresh_interval: float = DEFAULT_REFRESH,
    ) -> None:
        super().__init__()
        self.path = str(path)
        self.clock = clock
        # Whether a run's writer process still exists (its host is this machine).
        self.writer_alive: WriterAlive | None = WriterProbe()
        self.refresh_interval = refresh_interval
        self._follow = model is None
        self._make_diagnoser = make_diagnoser
        self.model = model if model is not None else WatchModel(make_diagnoser, self.path)
        self.poll = poll
        self.tick = tick
        self.reader: ReaderView | None = None
        self.run_id: str | None = None  # None: follow the newest run
        self.plot_name: str | None = None  # the user scalar ``v`` put in the loss views
        self.sort_key = SortKey.DEPTH
        self.filter_text = ""
        self.paused = False
        self.pause_probe: FileProbe | None = None  # the file's growth while paused
        self.loaded = model is not None  # whole file read (tests wait for this)
        self.loading = ""
        self.wakeup_note = ""
        self.problem = ""
        self.frames = 0  # data redraws done (tests and the benchmark watch this)
        # (id(table), param, width) -> (table, rows, glyphs); the least recently drawn go.
        self._spark_cache: LRUCache[tuple[int, int, int], tuple[object, int, str]] = LRUCache(
            SPARK_CACHE
        )
        self._dirty = True
        self._plot_generation = -1
        self._plot_time = 0.0
        self._plot_pending = False  # newer data than the loss views show, held back
        self.follow_stats = FollowStats()
        self.following = False  # the worker reached the follow loop
        self._stop = threading.Event()
        self._followers: list[threading.Thread] = []
        self._resume = threading.Event()
        self._resume.set()
        # The main screen's widgets, held directly: queries would look at whatever
        # screen is on top (a modal, the detail view) and fail during shutdown.
        self.header = HeaderBar(id="headline")
        self.loss = LossPlot(id="loss")
        self.loss_line = LossLine(id="loss-line")  # the compact layout's loss
        self.scalar_strip = QuietStatic(id="scalar-strip")  # log(**scalars), under the plot
        self.findings_panel = FindingsPanel(id="findings")
        self.table_bar = QuietStatic(id="table-bar")
        self.table_heading = QuietStatic(id="table-heading")
        self.table = LayerTable(id="table")
        self.filter_box = FilterInput(
            placeholder="filter layers: name, type or status", id="filter"
        )

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield self.header
        with Vertical(id="top"):
            yield self.loss_line
            with Horizontal(id="top-row"):
                yield self.loss
                yield self.findings_panel
            yield self.scalar_strip
        with Vertical(id="layers"):
            yield self.table_bar
            yield self.table_heading
            yield self.table
        yield self.filter_box
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.table.focus()
        self.set_interval(self.refresh_interval, self._on_tick)
        if self._follow:
            self._start_reading()
        self.redraw(full=True)

    def on_unmount(self) -> None:
        self._stop.set()
        self._resume.set()
        # A reader closes its file or ssh link on the way out (within a tick or so).
        deadline = time.monotonic() + STOP_WAIT
        for thread in self._followers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _start_reading(self) -> None:
        """One reader worker for the file (a run list starts one per file)."""
        self._start_follower(self.path, self.follow_stats)

    def follow_options(self, path: str) -> FollowOptions:
        """How a reader follows its file: ``--poll`` (or the filesystem decides), ``--tick``."""
        return FollowOptions(path, poll=self.poll, tick=self.tick)

    def _start_follower(self, path: str, stats: FollowStats) -> None:
        """A thread reading ``path`` until the app stops; its messages name the file.

        A thread of its own, not a Textual thread worker: those share the event loop's
        default executor (``min(32, CPUs + 4)`` threads), and followers never finish, so
        a run list of more files than that would leave the rest unread."""
        thread = threading.Thread(
            target=follow_into_app,
            args=(
                self.follow_options(path),
                functools.partial(WatchModel, self._make_diagnoser, path),
                self.post_message,
                self._stop,
                self._resume,
            ),
            kwargs={"stats": stats},
            name=f"gradtop reader {path}",
            daemon=True,
        )
        self._followers.append(thread)
        thread.start()

    # ------------------------------------------------------------------ messages

    def on_model_replaced(self, message: ModelReplaced) -> None:
        self.model = message.model
        if message.phase == "complete":
            self.loaded = True
            self.loading = ""
        self._plot_generation = -1
        self.redraw(full=True)

    def on_model_changed(self, message: ModelChanged) -> None:
        if message.status is not None:
            self.reader = reader_view(message.status)
        self._dirty = True

    def on_backfill_progressed(self, message: BackfillProgressed) -> None:
        if not self.loaded and message.size > 0 and message.offset < message.size:
            self.loading = loading_text(message.offset, message.size)
            self._dirty = True

    def on_wakeup_started(self, message: WakeupStarted) -> None:
        self.following = True
        if message.mode != "native":
            self.wakeup_note = f"polling ({message.reason})" if message.reason else "polling"
            self._dirty = True

    def on_reader_failed(self, message: ReaderFailed) -> None:
        self.problem = message.error
        self._dirty = True

    def on_layer_table_selected(self, message: LayerTable.Selected) -> None:
        self.push_screen(DetailScreen(message.param_index))
        self.call_after_refresh(self.redraw)

    def on_detail_screen_moved(self, message: DetailScreen.Moved) -> None:
        screen = self.screen
        run = self.current_run()
        if isinstance(screen, DetailScreen) and run is not None:
            screen.index = max(0, min(message.index, len(run.params) - 1))
            self.table.move_cursor_to_param(screen.index)
            self.redraw()

    def on_input_changed(self, message: Input.Changed) -> None:
        if message.input.id == "filter":
            self.filter_text = message.value
            self.redraw(full=True)

    def on_input_submitted(self, message: Input.Submitted) -> None:
        if message.input.id == "filter":
            self.table.focus()

    # ------------------------------------------------------------------ drawing

    def current_run(self) -> RunHistory | None:
        return self.model.run(self.run_id)

    def _on_tick(self) -> None:
        if self._dirty or self._plot_pending:
            self.redraw()
        else:
            self._draw_header()  # ages move on even when no data arrives

    def redraw(self, *, full: bool = False) -> None:
        """Bring every visible widget up to date with the model (under its lock)."""
        self._dirty = False
        self.frames += 1
        model = self.model
        with model.lock:
            run = self.current_run()
            findings = model.findings.get(run.run_id, []) if run is not None else []
            diagnosed = not model.diagnosis_error
            rows = build_rows(run, findings, diagnosed=diagnosed) if run is not None else []
            screen = self.screen
            if isinstance(screen, DetailScreen):
                row = rows[screen.index] if 0 <= screen.index < len(rows) else None
                screen.take(run, row, findings)
            self._draw_main(run, rows, findings, model, full=full)
            self._draw_header()

    def _draw_main(
        self,
        run: RunHistory | None,
        rows: list[LayerRow],
        findings: list[Finding],
        model: WatchModel,
        *,
        full: bool,
    ) -> None:
        if not self.table.is_mounted:
            return
        compact = self.table.screen.has_class("-short")
        panel = self.findings_panel
        no_data = run is None or run.steps == 0
        panel.show(findings, compact=compact, error=model.diagnosis_error, no_data=no_data)
        loss = self.loss
        # The loss curve redraws at most once a second (forced after a model or run
        # change): it is the costliest panel to build and a second is plenty for it.
        now = time.monotonic()
        stale = self._plot_generation != model.generation
        forced = self._plot_generation < 0
        shown_loss = loss.display or compact
        due = forced or now - self._plot_time >= PLOT_INTERVAL
        # A scalar picked with ``v`` that this run lacks (another run shown): the loss.
        name = self.plot_name if run is not None and self.plot_name in run.scalars else None
        if shown_loss and stale and due:
            self._plot_generation, self._plot_time = model.generation, now
            if loss.display:
                loss.take(run, name)
                self._draw_scalar_strip(run, name)
            if compact:
                self.loss_line.take(run, name)
        if compact or not loss.display:
            self.scalar_strip.display = False  # 80x24: ``v`` shows them in the loss line
        # Held back by the rate limit: the next tick draws it, even if no data comes (the
        # last records of a finished or paused file must reach the plot).
        self._plot_pending = shown_loss and stale and not due
        shown = filter_rows(sort_rows(rows, self.sort_key), self.filter_text)
        table = self.table
        table.sort_label = self.sort_key.value
        flow = flow_scale([r.typical_norm for r in rows])
        table.set_rows(shown, self._spark_fn(run), flow, full=full)
        self._draw_table_bar(rows, shown, table, measured=not no_data)

    def _draw_scalar_strip(self, run: RunHistory | None, shown: str | None) -> None:
        strip = self.scalar_strip
        frags = scalar_strip(run, max(20, self.size.width - 2), shown)
        strip.display = bool(frags)  # a run without user scalars gives them no line
        strip.show(fragments_to_content(frags))

    def _spark_fn(self, run: RunHistory | None) -> Callable[[int, int], str]:
        table = None if run is None else run.stats.get("grad_norm")
        lock = self.model.lock
        cache = self._spark_cache

        def spark(index: int, width: int) -> str:
            if table is None or not 0 <= index < table.n_cols or len(table) == 0:
                return ""
            # Re-sorting or scrolling reuses sparklines until their parameter gets data.
            key = (id(table), index, width)
            hit = cache.get(key)  # holds the table itself, so its id cannot be reused
            if hit is not None and hit[0] is table and hit[1] == table.total_rows:
                return hit[2]
            with lock:
                col = table.column(index)
                rows = table.total_rows
            values, flags = step_bins(col.last_step, col.high, col.any_nan, width)
            text = log_sparkline(values, flags, width=width)
            cache.discard(key)  # LRUCache.set keeps the value a key already has
            cache.set(key, (table, rows, text))
            return text

        return spark

    def _draw_table_bar(
        self, rows: list[LayerRow], shown: list[LayerRow], table: LayerTable, *, measured: bool
    ) -> None:
        sick = sum(1 for r in rows if r.status.sick)
        bar: list[tuple[str, str]] = [("layers ", "bold"), (fmt_count(len(rows)), "bold")]
        if len(shown) != len(rows):
            bar.append((f" ({len(shown)} shown)", "muted"))
        bar.append((f"  sort: {self.sort_key.value}", "muted"))
        if self.filter_text:
            bar.append(("  filter: ", "muted"))
            bar.append((safe_text(self.filter_text, 30), "info"))
        if not measured:
            bar.append(("  no step yet", "muted"))  # "none sick" would judge unmeasured layers
        else:
            bar.append((f"  {sick} sick" if sick else "  none sick", "error" if sick else "ok"))
        profile_w = max(0, min(len(rows), table.size.width - sum(len(t) for t, _ in bar) - 20))
        if profile_w >= 4 and measured:  # no norm yet: an empty profile says nothing
            bar.append(("  depth profile ", "muted"))
            bar.append((depth_profile([r.typical_norm for r in rows], profile_w), "info"))
        self.table_bar.show(fragments_to_content(bar))
        if self.filter_text and rows and not shown:
            # An empty table alone reads as "no layers": say why and how to get them back.
            needle = safe_text(self.filter_text, 30)
            self.table_heading.show(
                fragments_to_content(
                    [(f" no layer matches '{needle}'", "warning"), ("  Esc clears the filter", "")]
                )
            )
            return
        heading = ""
        for text, x in table.heading():
            heading = heading.ljust(x) + text
        self.table_heading.show(fragments_to_content([(heading, "")]))

    def _draw_header(self) -> None:
        if not self.header.is_mounted:
            return
        model = self.model
        with model.lock:
            run = self.current_run()
            runs = list(model.history.runs)
            clock = model.clocks.get(run.run_id) if run is not None else None
            now = self.clock()
            probe = self.pause_probe
            if probe is not None:
                probe.look(now)
            seen = probe.changed_at if probe is not None else None
            live = (
                liveness(run, clock, now, last_seen=seen, writer_alive=self.writer_alive)
                if run is not None
                else None
            )
            data = HeadlineInput(
                path=self.path,
                label=self.file_label(),
                run=run,
                run_pos=runs.index(run.run_id) + 1 if run is not None else 0,
                run_count=len(runs),
                following_newest=self.run_id is None,
                liveness=live,
                steps_per_second=clock.steps_per_second() if clock is not None else None,
                reader=self.reader,
                paused=self.paused,
                paused_grown=probe.grown if probe is not None else None,
                paused_replaced=probe is not None and probe.replaced,
                loading=self.loading,
                wakeup=self.wakeup_note,
                problem=self.problem or model.diagnosis_error,
                logger_share=run.logger_share() if run is not None else None,
            )
            self.header.show_headline(data)

    def on_resize(self) -> None:
        self.call_after_refresh(self.redraw, full=True)  # a detail screen on top, too

    def on_layer_table_resized(self, _message: LayerTable.Resized) -> None:
        """Sizes are final here (the app's own Resize comes before the layout): a finished
        file sends no more data, so this redraw is the one that fits the new size."""
        self._plot_generation = -1  # the loss plot is rebuilt for its new width
        self.redraw(full=True)

    # ------------------------------------------------------------------ actions

    def key_help(self) -> list[KeyHelp]:
        """Every key of this app, for ``?`` and the command palette (subclasses add theirs)."""
        return list(MAIN_KEYS)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help()))

    def action_quit_or_copy(self) -> None:
        screen = self.screen
        if screen.get_selected_text():
            screen.action_copy_text()
        else:
            self.exit()

    def action_select_layer(self) -> None:
        """The palette's "Layer detail": what Enter does on the table."""
        self.table.action_select()

    def action_cycle_sort(self) -> None:
        """The top of the new order is what a sort is for (the largest norm, the worst
        layer): the cursor goes to row 0 and the table to its top, so Enter opens the layer
        now shown first. Keeping the old layer selected would hide the top or the cursor."""
        self.sort_key = self.sort_key.next()
        self.redraw(full=True)
        self.table.move_cursor(0)

    def action_open_filter(self) -> None:
        box = self.filter_box
        box.add_class("-active")
        box.focus()

    def action_clear_filter(self) -> None:
        """Esc from the table too: a filter applied with Enter is cleared the same way."""
        self.filter_box.value = ""
        self.filter_text = ""
        self.action_close_filter()
        self.redraw()

    def action_close_filter(self) -> None:
        box = self.filter_box
        box.remove_class("-active")
        self.table.focus()

    def action_toggle_log(self) -> None:
        """Both loss views follow one setting; where neither is on screen, say so."""
        loss = self.loss
        loss.set_log_scale(not loss.log_scale)
        self.loss_line.set_log_scale(loss.log_scale)
        if not (loss.region.area or self.loss_line.region.area):
            scale = "log" if loss.log_scale else "linear"
            self.notify(
                f"Loss scale: {scale}. No loss plot or loss line is on screen at "
                f"{self.size.width}x{self.size.height}; it applies once one is.",
                timeout=4,
            )

    def action_cycle_plot(self) -> None:
        """The loss views show the loss, then each user scalar in turn, then the loss."""
        with self.model.lock:
            names = scalar_names(self.current_run())
        if not names:
            self.plot_name = None
            self.notify("no scalars logged (log.log(loss, accuracy=acc))", timeout=4)
            return
        order: list[str | None] = [None, *names]
        pos = order.index(self.plot_name) if self.plot_name in order else 0
        self.plot_name = order[(pos + 1) % len(order)]
        self._plot_generation = -1
        self.redraw()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self._resume.clear()
            self.pause_probe = FileProbe.start(self.path) if self._follow else None
        else:
            self._resume.set()
            self.pause_probe = None
        self._draw_header()

    def action_next_sick(self, direction: int = 1) -> None:
        table = self.table
        rows = table.rows if direction > 0 else list(reversed(table.rows))
        start = table.cursor if direction > 0 else len(rows) - 1 - table.cursor
        pos = next_sick(rows, start)
        if pos is None:
            self.notify("No sick layers right now.", timeout=3)
            return
        table.move_cursor(pos if direction > 0 else len(rows) - 1 - pos)

    def action_show_findings(self) -> None:
        with self.model.lock:
            run = self.current_run()
            findings = list(self.model.findings.get(run.run_id, [])) if run is not None else []
        self.push_screen(FindingsScreen(findings, self.model.diagnosis_error))

    def action_switch_run(self) -> None:
        with self.model.lock:
            runs = [(rid, _describe_run(run)) for rid, run in self.model.history.runs.items()]
            current = self.current_run()
        if len(runs) < 2:
            self.notify("This file holds a single run.", timeout=3)
            return
        shown = None if current is None else current.run_id
        self.push_screen(RunPicker(runs, shown), self._picked_run)

    def action_compare_runs(self) -> None:
        """The shown run beside the one before it in the file (the first run: beside the
        next); with more than two runs the user picks the other one."""
        with self.model.lock:
            runs = [(rid, _describe_run(run)) for rid, run in self.model.history.runs.items()]
            current = self.current_run()
        if len(runs) < 2 or current is None:
            self.notify("This file holds a single run: nothing to compare it with.", timeout=3)
            return
        ids = [rid for rid, _ in runs]
        shown = current.run_id
        if len(runs) == 2:
            self._compare_with(ids, shown, ids[1] if ids[0] == shown else ids[0])
            return
        others = [(rid, desc) for rid, desc in runs if rid != shown]
        self.push_screen(
            CompareRunPicker(others, shown), functools.partial(self._compare_with, ids, shown)
        )

    def _compare_with(self, ids: list[str], shown: str, other: str | None) -> None:
        """A and B in file order: the earlier run is the "before" of the verdict."""
        if other is None:
            return
        pair = sorted((shown, other), key=lambda rid: ids.index(rid) if rid in ids else -1)
        self.push_screen(CompareScreen(self._compare_sides([(self.path, rid) for rid in pair])))

    def file_label(self) -> str:
        """The shown file's name in the header ("": its basename, the one-file case)."""
        return ""

    def model_of(self, source: str) -> WatchModel:
        """The model of a followed file (here: the one file; a run list holds many)."""
        return self.model

    def _compare_sides(
        self, keys: list[tuple[str, str]], names: list[str] | None = None
    ) -> Callable[[], tuple[int, list[CompareSide]]]:
        """CompareScreen's callable over (file, run id) keys: the runs rebuilt under each
        model's lock when a model moved (a new model after a reread, or new data), else
        the last ones. A side is labelled A, B ... and ``names[i]`` when given."""
        seen: list[list[tuple[int, int]]] = []  # the (model, generation)s last built from
        built: list[tuple[int, list[CompareSide]]] = [(0, [])]

        def sides() -> tuple[int, list[CompareSide]]:
            models = [self.model_of(source) for source, _rid in keys]
            moved = [(id(m), m.generation) for m in models]
            if seen[-1:] == [moved]:
                return built[0]
            seen[:] = [moved]
            out: list[CompareSide] = []
            for i, ((_source, rid), model) in enumerate(zip(keys, models, strict=True)):
                with model.lock:
                    run = model.history.runs.get(rid)
                    if run is None:
                        continue
                    label = side_label(len(out))
                    if names is not None:
                        label = f"{label} {names[i]}"
                    out.append(compare_side(label, run, model.findings.get(rid, [])))
            built[0] = (built[0][0] + 1, out)
            return built[0]

        return sides

    def _picked_run(self, choice: str | None) -> None:
        if choice is None:
            return
        self.run_id = None if choice == NEWEST else choice
        self._plot_generation = -1
        self.redraw(full=True)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for key in self.key_help():
            if key.command:
                yield SystemCommand(
                    key.command, key.command_help, functools.partial(self.run_action, key.call)
                )


def _describe_run(run: RunHistory) -> str:
    state = "finished" if run.end is not None else "open"
    name = f' "{run.header.name}"' if run.header.name else ""
    model = f" {run.header.model}" if run.header.model else ""
    return (
        f"{run.run_id}{name}{model}: {fmt_count(run.steps)} steps, "
        f"{len(run.params)} tensors, {state}"
    )


def reader_view(status: ReaderStatus) -> ReaderView:
    return ReaderView(
        state=status.state,
        records=status.records,
        skipped=dict(status.skipped),
        truncations=status.truncations,
        rotations=status.rotations,
        offset=status.offset,
        size=status.size,
        message=status.message,
        version_error=status.version_error,
    )

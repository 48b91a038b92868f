"""The per-layer table: a line-API widget that repaints only the cells that changed.

A DataTable re-measures and re-renders every cell it is given; at hundreds of layers and
a few refreshes a second that costs CPU on the viewer and, worse, bytes over SSH. Here a
row is a tuple of (text, tone) cells computed for the visible rows only; a new frame is
compared cell by cell with what is on screen and only changed cells are marked dirty, so
Textual sends just those spans to the terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gradtop.text import safe_text
from gradtop.ui.columns import Cell, PlacedColumn, heading_cells, plan_columns, row_cells
from gradtop.ui.layers import LayerRow
from gradtop.ui.sparkline import LogRange

SparkFn = Callable[[int, int], str]  # (param index, width) -> sparkline glyphs

TONES = (
    "muted",
    "ok",
    "warning",
    "error",
    "info",
    "nonfinite",
    "heading",
    "cursor",
    "spark-ok",
    "spark-warning",
    "spark-error",
    "spark-muted",
    "spark-info",
    "flow-ok",
    "flow-warning",
    "flow-error",
    "flow-muted",
    "flow-info",
    "status-ok",
    "status-warning",
    "status-error",
    "status-muted",
    "status-info",
)


class LayerTable(ScrollView, can_focus=True):
    """Parameter tensors in the chosen order; Enter opens the detail of the highlighted one."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"layer-table--{tone}" for tone in TONES}

    DEFAULT_CSS = """
    LayerTable {
        background: $surface;
        scrollbar-size-vertical: 1;
        & > .layer-table--muted { color: $text-muted; }
        & > .layer-table--ok { color: $text; }
        & > .layer-table--info { color: $text-primary; }
        & > .layer-table--warning { color: $text-warning; text-style: bold; }
        & > .layer-table--error { color: $text-error; text-style: bold; }
        & > .layer-table--nonfinite { color: $text-error; text-style: bold reverse; }
        & > .layer-table--heading { color: $text-secondary; text-style: bold; }
        & > .layer-table--cursor { background: $block-cursor-blurred-background; }
        & > .layer-table--spark-ok { color: $success; }
        & > .layer-table--spark-info { color: $primary; }
        & > .layer-table--spark-muted { color: $text-muted; }
        & > .layer-table--spark-warning { color: $warning; }
        & > .layer-table--spark-error { color: $error; }
        & > .layer-table--flow-ok { color: $success-darken-1; }
        & > .layer-table--flow-info { color: $primary; }
        & > .layer-table--flow-muted { color: $text-muted; }
        & > .layer-table--flow-warning { color: $warning; }
        & > .layer-table--flow-error { color: $error; }
        & > .layer-table--status-ok { color: $text-success; }
        & > .layer-table--status-info { color: $text-primary; }
        & > .layer-table--status-muted { color: $text-muted; }
        & > .layer-table--status-warning { color: $text-warning; text-style: bold reverse; }
        & > .layer-table--status-error { color: $text-error; text-style: bold reverse; }
    }
    LayerTable:focus > .layer-table--cursor { background: $block-cursor-background; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Detail", show=True),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)
    """Position of the highlighted row in the current (sorted, filtered) order."""

    class Selected(Message):
        """Enter (or a double click) on a row: show that parameter's detail."""

        def __init__(self, param_index: int) -> None:
            super().__init__()
            self.param_index = param_index

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[LayerRow] = []
        self.sort_label = "depth"
        self._spark: SparkFn = lambda _i, width: ""
        self._flow = LogRange(-10.0, 2.0)
        self._plan: list[PlacedColumn] = []
        self._plan_key = (-1, -1)
        self._longest = 0  # widest layer name, in cells (sizes the name column)
        self._cells: dict[int, tuple[int, tuple[Cell, ...]]] = {}  # pos -> (param, cells)
        self._tones: dict[str, Style] = {}

    # ------------------------------------------------------------------ data in

    def set_rows(
        self, rows: Sequence[LayerRow], spark: SparkFn, flow: LogRange, *, full: bool = False
    ) -> None:
        """Show ``rows``; repaint only changed cells unless ``full`` (order or filter changed)."""
        previous = self.cursor_param
        if full or len(rows) != len(self.rows):
            self._longest = max((cell_len(safe_text(r.name)) for r in rows), default=0)
        self.rows = list(rows)
        self._spark = spark
        self._flow = flow
        self.virtual_size = Size(self.size.width, len(self.rows))
        if full:
            self._cells.clear()
            self.refresh()
        if previous is not None:
            self.move_cursor_to_param(previous, scroll=full)
        self.cursor = min(self.cursor, max(0, len(self.rows) - 1))
        if not full:
            self._repaint_changed()

    def _repaint_changed(self) -> None:
        """Recompute visible rows; mark dirty only the cells whose text or tone changed."""
        plan = self._columns()
        top = self.scroll_offset.y
        visible = range(top, min(len(self.rows), top + self.size.height))
        dirty: list[Region] = []
        for pos in visible:
            old = self._cells.get(pos)
            new = self._compute(pos, plan)
            if old is None or old[0] != new[0]:
                dirty.append(Region(0, pos - top, self.size.width, 1))
                continue
            for col, a, b in zip(plan, old[1], new[1], strict=False):
                if a != b:
                    dirty.append(Region(col.x, pos - top, col.width, 1))
        for pos in [p for p in self._cells if p not in visible]:
            del self._cells[pos]  # scrolled away: recomputed if it comes back
        if dirty:
            self.refresh(*dirty)

    def _columns(self) -> list[PlacedColumn]:
        key = (self.size.width, self._longest)
        if key != self._plan_key:
            self._plan = plan_columns(*key)
            self._plan_key = key
            self._cells.clear()
        return self._plan

    def _compute(self, pos: int, plan: list[PlacedColumn]) -> tuple[int, tuple[Cell, ...]]:
        row = self.rows[pos]
        spark_w = next((c.width for c in plan if c.spec.key == "spark"), 0)
        spark = self._spark(row.index, spark_w) if spark_w else ""
        entry = (row.index, row_cells(row, plan, spark, self._flow))
        self._cells[pos] = entry
        return entry

    # ------------------------------------------------------------------ drawing

    def heading(self) -> list[tuple[str, int]]:
        """Column titles with their x positions, for the heading line above the table."""
        return [(text, col.x) for col, text in heading_cells(self._columns(), self.sort_label)]

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        pos = self.scroll_offset.y + y
        if pos >= len(self.rows):
            return Strip.blank(width, base)
        plan = self._columns()
        entry = self._cells.get(pos)
        if entry is None or entry[0] != self.rows[pos].index:
            entry = self._compute(pos, plan)
        line_style = base
        if pos == self.cursor:
            line_style = base + self.get_component_rich_style("layer-table--cursor")
        segments: list[Segment] = []
        x = 0
        for col, cell in zip(plan, entry[1], strict=False):
            if col.x > x:
                segments.append(Segment(" " * (col.x - x), line_style))
            for text, tone in cell:
                segments.append(Segment(text, self._style(tone, line_style)))
            x = col.x + col.width
        if x < width:
            segments.append(Segment(" " * (width - x), line_style))
        return Strip(segments).crop_extend(0, width, line_style).simplify()

    def _style(self, tone: str, line_style: Style) -> Style:
        if not tone:
            return line_style
        style = self._tones.get(tone)
        if style is None:
            # Foreground and attributes only: the line keeps its own (cursor) background.
            comp = self.get_component_rich_style(f"layer-table--{tone}")
            style = self._tones[tone] = Style(
                color=comp.color, bold=comp.bold, reverse=comp.reverse, italic=comp.italic
            )
        return line_style + style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._tones.clear()

    def on_resize(self) -> None:
        self._cells.clear()
        self.virtual_size = Size(self.size.width, len(self.rows))

    # ------------------------------------------------------------------ cursor

    @property
    def cursor_param(self) -> int | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor].index
        return None

    def move_cursor_to_param(self, param_index: int, *, scroll: bool = True) -> bool:
        for pos, row in enumerate(self.rows):
            if row.index == param_index:
                self.move_cursor(pos, scroll=scroll)
                return True
        return False

    def move_cursor(self, pos: int, *, scroll: bool = True) -> None:
        if not self.rows:
            self.cursor = 0
            return
        pos = max(0, min(pos, len(self.rows) - 1))
        old = self.cursor
        self.cursor = pos
        top = self.scroll_offset.y
        self.refresh(Region(0, old - top, self.size.width, 1))
        self.refresh(Region(0, pos - top, self.size.width, 1))
        if scroll:
            self.scroll_to_region(Region(0, pos, 1, 1), animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * max(1, self.size.height - 1))

    def action_jump(self, pos: int) -> None:
        self.move_cursor(len(self.rows) - 1 if pos < 0 else pos)

    def action_select(self) -> None:
        param = self.cursor_param
        if param is not None:
            self.post_message(self.Selected(param))

    def on_click(self, event: Click) -> None:
        pos = self.scroll_offset.y + event.y
        if 0 <= pos < len(self.rows):
            self.move_cursor(pos, scroll=False)
            if event.chain >= 2:
                self.action_select()

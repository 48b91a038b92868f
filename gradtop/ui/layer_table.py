"""The per-layer table, built so a refresh sends only the cells that changed.

Why several column widgets: Textual sends a partial update of a line from the left
edge of the widget that owns the changed cells, not from the changed cell. In a single
full-width table a new ``|grad|`` value at column 150 would resend columns 0-150 of
every row, twice a second, over SSH. With each live column its own (line-API) widget
(see GROUPS), a changed number costs about its own width in bytes. Rows are (text, tone)
cells computed only for the rows on screen, compared with what is shown, and only
differing cells are marked dirty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Horizontal, VerticalScroll
from textual.events import Click
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from gradtop.text import safe_text
from gradtop.ui.columns import Cell, PlacedColumn, heading_cells, plan_columns, row_cells
from gradtop.ui.layers import LayerRow
from gradtop.ui.sparkline import LogRange

SparkFn = Callable[[int, int], str]  # (param index, width) -> sparkline glyphs
TIP = "spark_tip"
# Column widgets. Identity columns (change only with the order) share one widget; each
# live value gets its own, and the sparkline's newest glyph ("tip", changes almost every
# frame) is split from its body (moves only when a bin fills).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ident", ("index", "name", "type", "shape")),
    ("spark", ("spark",)),
    (TIP, ()),
    ("flow", ("flow",)),
    ("grad", ("grad",)),
    ("update", ("update",)),
    ("tail", ("zero", "status")),
)
GAP: tuple[str, str] = (" ", "")
STRIP_CACHE = 8192  # rendered cells kept, least recently shown dropped (all on a theme change)

TONES = (
    "muted",
    "ok",
    "warning",
    "error",
    "info",
    "nonfinite",
    "cursor",
    *(
        f"{kind}-{tone}"
        for kind in ("spark", "flow", "status")
        for tone in ("ok", "warning", "error", "muted", "info")
    ),
)


class TableColumn(Widget):
    """One column of the table: ``render_line(y)`` draws the cell of row ``y``."""

    DEFAULT_CSS = """
    TableColumn { height: auto; }
    """

    def __init__(self, table: LayerTable, key: str) -> None:
        super().__init__(classes=f"col-{key}")
        self.table = table
        self.key = key

    def render_line(self, y: int) -> Strip:
        return self.table.render_cell(self.key, y, self.size.width)

    def on_click(self, event: Click) -> None:
        self.table.clicked(event.y, event.chain)


class LayerTable(VerticalScroll, can_focus=True):
    """Parameter tensors in the chosen order; Enter opens the detail of the highlighted one."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"layer-table--{tone}" for tone in TONES}

    DEFAULT_CSS = """
    LayerTable {
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        & > Horizontal { height: auto; width: 1fr; }
        & > .layer-table--muted { color: $text-muted; }
        & > .layer-table--ok { color: $text; }
        & > .layer-table--info { color: $text-primary; }
        & > .layer-table--warning { color: $text-warning; text-style: bold; }
        & > .layer-table--error { color: $text-error; text-style: bold; }
        & > .layer-table--nonfinite { color: $text-error; text-style: bold reverse; }
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

    class Selected(Message):
        """Enter (or a double click) on a row: show that parameter's detail."""

        def __init__(self, param_index: int) -> None:
            super().__init__()
            self.param_index = param_index

    class Resized(Message):
        """The table got a new size (after layout): the app redraws what depends on it
        (heading, table bar, compact panels) even when no new data will come."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[LayerRow] = []
        self.cursor = 0  # position of the highlighted row in the current order
        self.sort_label = "depth"
        self._spark: SparkFn = lambda _i, _w: ""
        self._flow = LogRange(-10.0, 2.0)
        self._plan: list[PlacedColumn] = []
        self._plan_key = (-1, -1)
        self._longest = 0  # widest layer name, in cells (sizes the name column)
        self._cells: dict[int, tuple[int, dict[str, Cell]]] = {}  # pos -> (param, cells)
        self._tones: dict[str, Style] = {}
        self._height = -1
        self._strip_cache: LRUCache[tuple[Cell, bool, int], Strip] = LRUCache(STRIP_CACHE)
        # The history sparkline is two widgets: its body only moves when a bin fills, its
        # newest glyph ("tip") changes almost every frame and is resent on its own.
        self._columns = {key: TableColumn(self, key) for key, _members in GROUPS}

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield from self._columns.values()

    # ------------------------------------------------------------------ data in

    def set_rows(
        self, rows: Sequence[LayerRow], spark: SparkFn, flow: LogRange, *, full: bool = False
    ) -> None:
        """Show ``rows``; repaint only changed cells unless ``full`` (order or filter changed)."""
        previous = self.cursor_param
        if full or len(rows) != len(self.rows):
            self._longest = max((cell_len(safe_text(r.name)) for r in rows), default=0)
        self.rows = list(rows)
        self._spark, self._flow = spark, flow
        self._layout_columns()
        if self._height != len(self.rows):  # setting a style always re-lays out
            self._height = len(self.rows)
            for column in self._columns.values():
                column.styles.height = self._height
        if previous is not None:
            for pos, row in enumerate(self.rows):
                if row.index == previous:
                    self.cursor = pos
                    break
        self.cursor = min(self.cursor, max(0, len(self.rows) - 1))
        if full:
            self._cells.clear()
            for column in self._columns.values():
                column.refresh()
            if previous is not None:
                self._scroll_to_cursor()
        else:
            self._repaint_changed()

    def _layout_columns(self) -> None:
        plan_key = (self.scrollable_content_region.width, self._longest)
        if plan_key == self._plan_key:
            return
        self._plan_key = plan_key
        self._plan = plan_columns(*plan_key)
        self._cells.clear()
        widths = self._widths()
        for key, column in self._columns.items():
            column.display = key in widths
            if key in widths:
                column.styles.width = widths[key]
            column.refresh()

    def _widths(self) -> dict[str, int]:
        """Screen width of each shown column widget (gaps travel with their column)."""
        placed = {col.spec.key: col.width for col in self._plan}
        widths: dict[str, int] = {}
        for key, members in GROUPS:
            if key == TIP:
                width = 2 if "spark" in placed else 0
            elif key == "spark":
                width = placed["spark"] - 1 if "spark" in placed else 0
            else:
                width = sum(placed[m] + 1 for m in members if m in placed)
            if width > 0:
                widths[key] = width
        return widths

    def _visible(self) -> range:
        top = int(self.scroll_offset.y)
        return range(top, min(len(self.rows), top + self.scrollable_content_region.height))

    def _repaint_changed(self) -> None:
        """Recompute visible rows; mark dirty only the cells whose text or tone changed."""
        visible = self._visible()
        widths = self._widths()
        for pos in visible:
            old = self._cells.get(pos)
            param, cells = self._compute(pos)
            for key, width in widths.items():
                if old is None or old[0] != param or old[1].get(key) != cells[key]:
                    self._columns[key].refresh(Region(0, pos, width, 1))
        for pos in [p for p in self._cells if p not in visible]:
            del self._cells[pos]  # scrolled away: recomputed if it comes back

    def _compute(self, pos: int) -> tuple[int, dict[str, Cell]]:
        row = self.rows[pos]
        spark_w = next((c.width for c in self._plan if c.spec.key == "spark"), 0)
        spark = self._spark(row.index, spark_w) if spark_w else ""
        cells = row_cells(row, self._plan, spark, self._flow)
        by_spec = {col.spec.key: cell for col, cell in zip(self._plan, cells, strict=True)}
        by_key: dict[str, Cell] = {}
        for key, members in GROUPS:
            parts: list[tuple[str, str]] = []
            for m in members:
                if m in by_spec:
                    parts += [*by_spec[m], GAP]
            by_key[key] = tuple(parts)
        if "spark" in by_spec:
            body, tip = _split_last(by_spec["spark"])
            by_key["spark"], by_key[TIP] = body, (*tip, GAP)
        entry = (row.index, by_key)
        self._cells[pos] = entry
        return entry

    # ------------------------------------------------------------------ drawing

    def heading(self) -> list[tuple[str, int]]:
        """Column titles with their x positions, for the heading line above the table."""
        self._layout_columns()
        return [(text, col.x) for col, text in heading_cells(self._plan, self.sort_label)]

    def render_cell(self, key: str, pos: int, width: int) -> Strip:
        """The strip column ``key`` shows for row ``pos`` (called by the column widgets)."""
        if pos >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        entry = self._cells.get(pos)
        if entry is None or entry[0] != self.rows[pos].index:
            entry = self._compute(pos)
        cell = entry[1].get(key, ())
        # Strips are cached by what they show, so scrolling and cursor moves reuse them.
        cache_key = (cell, pos == self.cursor, width)
        strip = self._strip_cache.get(cache_key)
        if strip is None:
            base = self.rich_style
            if pos == self.cursor:
                base = base + self._tone_style("cursor", with_background=True)
            segments = [Segment(t, base + self._tone_style(tone)) for t, tone in cell if t]
            strip = Strip(segments).crop_extend(0, width, base).simplify()
            self._strip_cache.set(cache_key, strip)
        return strip

    def row_text(self, pos: int) -> str:
        """The plain text of a row as shown (for tests and copy-paste)."""
        if not 0 <= pos < len(self.rows):
            return ""
        entry = self._cells.get(pos) or self._compute(pos)
        return "".join(t for key, _m in GROUPS for t, _ in entry[1].get(key, ())).rstrip()

    def _tone_style(self, tone: str, *, with_background: bool = False) -> Style:
        if not tone:
            return Style()
        key = f"{tone}/bg" if with_background else tone
        style = self._tones.get(key)
        if style is None:
            comp = self.get_component_rich_style(f"layer-table--{tone}")
            # Foreground and attributes only: the line keeps its own (cursor) background.
            style = Style(
                color=None if with_background else comp.color,
                bgcolor=comp.bgcolor if with_background else None,
                bold=comp.bold,
                reverse=comp.reverse,
                italic=comp.italic,
            )
            self._tones[key] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._tones.clear()
        self._strip_cache.clear()

    def on_resize(self) -> None:
        self._layout_columns()
        self.post_message(self.Resized())

    # ------------------------------------------------------------------ cursor

    @property
    def cursor_param(self) -> int | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor].index
        return None

    def move_cursor_to_param(self, param_index: int) -> bool:
        for pos, row in enumerate(self.rows):
            if row.index == param_index:
                self.move_cursor(pos)
                return True
        return False

    def move_cursor(self, pos: int, *, scroll: bool = True) -> None:
        if not self.rows:
            self.cursor = 0
            return
        old, self.cursor = self.cursor, max(0, min(pos, len(self.rows) - 1))
        for column in self._columns.values():
            column.refresh(Region(0, old, column.size.width, 1))
            column.refresh(Region(0, self.cursor, column.size.width, 1))
        if scroll:
            self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        self.scroll_to_region(Region(0, self.cursor, 1, 1), animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        self.move_cursor(self.cursor + direction * page)

    def action_jump(self, pos: int) -> None:
        self.move_cursor(len(self.rows) - 1 if pos < 0 else pos)

    def action_select(self) -> None:
        param = self.cursor_param
        if param is not None:
            self.post_message(self.Selected(param))

    def clicked(self, pos: int, chain: int) -> None:
        if 0 <= pos < len(self.rows):
            self.focus()
            self.move_cursor(pos, scroll=False)
            if chain >= 2:
                self.action_select()


def _split_last(cell: Cell) -> tuple[Cell, Cell]:
    """A cell of one-cell glyphs split into (all but the last glyph, the last glyph)."""
    if not cell:
        return cell, cell
    *head, (text, tone) = cell
    if len(text) > 1:
        head.append((text[:-1], tone))
    return tuple(head), ((text[-1:], tone),) if text else ()

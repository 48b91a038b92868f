"""Which layer-table columns fit a terminal width, and what each cell of a row says.

Pure: a plan of fixed-width columns and cells as (text, tone) fragments. The widget maps
tones to theme colours; everything a user reads (including the status word, so the
meaning survives NO_COLOR) is decided here, where it is unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len

from gradtop.text import safe_text
from gradtop.ui.format import ellipsize, fmt_frac, fmt_num, fmt_shape, shorten_name
from gradtop.ui.layers import LayerRow
from gradtop.ui.sparkline import NONFINITE, LogRange, flow_bar

Fragment = tuple[str, str]  # (text, tone)
Cell = tuple[Fragment, ...]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    key: str
    title: str
    short: str  # title when the column is narrower than ``title``
    min_width: int
    max_width: int
    priority: int  # lower survives longer when the terminal is narrow
    align: str = "left"


# Screen order. Priorities: status, name and the current norm always stay; the history
# sparkline and the depth bar next (they carry the pattern); details go first.
SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec("index", "#", "#", 3, 4, 3, "right"),
    ColumnSpec("name", "layer", "layer", 12, 64, 0),
    ColumnSpec("type", "type", "type", 8, 14, 6),
    ColumnSpec("shape", "shape", "shape", 7, 12, 7),
    ColumnSpec("spark", "grad norm history (log)", "history", 8, 32, 1),
    ColumnSpec("flow", "flow (log |grad|)", "flow", 6, 16, 2),
    ColumnSpec("grad", "|grad|", "|grad|", 9, 9, 0, "right"),
    ColumnSpec("update", "upd/w", "upd/w", 9, 9, 4, "right"),
    ColumnSpec("zero", "zero", "zero", 4, 5, 5, "right"),
    ColumnSpec("status", "status", "status", 10, 10, 0),
)
GAP = 1
NAME_COMFORT = 22


@dataclass(frozen=True, slots=True)
class PlacedColumn:
    spec: ColumnSpec
    x: int
    width: int


def plan_columns(width: int, longest_name: int = 64) -> list[PlacedColumn]:
    """Drop the least important columns until the rest fit, then share out the spare room.

    The name column never grows past ``longest_name`` (short names leave room for the
    history instead of blank space).
    """
    chosen = list(SPECS)
    name_cap = max(NAME_COMFORT, longest_name)

    def need(cols: list[ColumnSpec]) -> int:
        return sum(c.min_width for c in cols) + GAP * (len(cols) - 1)

    while need(chosen) > width and any(c.priority > 0 for c in chosen):
        chosen.remove(max(chosen, key=lambda c: c.priority))
    # Layer names are what a user reads first: give up details before starving them.
    name_min = next(c.min_width for c in SPECS if c.key == "name")
    while width - need(chosen) < NAME_COMFORT - name_min and any(c.priority >= 4 for c in chosen):
        chosen.remove(max(chosen, key=lambda c: c.priority))
    widths = {c.key: c.min_width for c in chosen}
    spare = max(0, width - need(chosen))
    # Grow in this order: name to a readable width, then history, then everything.
    for key, cap in (("name", 28), ("spark", 24), ("flow", 12), ("name", 64)):
        if key in widths and spare:
            spec = next(c for c in chosen if c.key == key)
            limit = min(cap, spec.max_width, name_cap if key == "name" else spec.max_width)
            grow = min(spare, limit - widths[key])
            if grow > 0:
                widths[key] += grow
                spare -= grow
    for spec in chosen:
        if not spare:
            break
        cap = min(spec.max_width, name_cap) if spec.key == "name" else spec.max_width
        grow = min(spare, cap - widths[spec.key])
        if grow > 0:
            widths[spec.key] += grow
            spare -= grow
    placed: list[PlacedColumn] = []
    x = 0
    for spec in chosen:
        placed.append(PlacedColumn(spec, x, widths[spec.key]))
        x += widths[spec.key] + GAP
    return placed


def _fit(text: str, width: int, align: str) -> str:
    text = ellipsize(text, width)
    pad = width - cell_len(text)
    return (" " * pad + text) if align == "right" else (text + " " * pad)


def heading_cells(plan: list[PlacedColumn], sort_key: str) -> list[tuple[PlacedColumn, str]]:
    """Column titles, with a marker on the one the table is sorted by."""
    marks = {"depth": "index", "grad norm": "grad", "severity": "status"}
    out = []
    for col in plan:
        title = col.spec.title if len(col.spec.title) <= col.width else col.spec.short
        if marks.get(sort_key) == col.spec.key:
            title += "▾"
        out.append((col, _fit(title, col.width, col.spec.align)))
    return out


def row_cells(
    row: LayerRow, plan: list[PlacedColumn], spark: str, flow_scale: LogRange
) -> tuple[Cell, ...]:
    """Every visible cell of one row. ``spark`` is the sparkline already sized to its column."""
    tone = row.status.tone
    name_tone = tone if row.status.sick else ""
    cells: list[Cell] = []
    for col in plan:
        key, w, align = col.spec.key, col.width, col.spec.align
        if key == "index":
            cells.append(((_fit(str(row.index), w, align), "muted"),))
        elif key == "name":
            name = shorten_name(safe_text(row.info.name), w)  # keeps the layer number
            cells.append(((_fit(name, w, align), name_tone),))
        elif key == "type":
            cells.append(((_fit(safe_text(row.info.module_type), w, align), "muted"),))
        elif key == "shape":
            cells.append(((_fit(fmt_shape(row.info.shape), w, align), "muted"),))
        elif key == "spark":
            cells.append(_spark_cell(_fit(spark, w, "right"), "spark-" + (tone or "ok")))
        elif key == "flow":
            bar = flow_bar(row.typical_norm, w, flow_scale)
            cells.append(_spark_cell(bar, "flow-" + (tone or "ok")))
        elif key == "grad":
            cells.append(((_fit(fmt_num(row.grad_norm), w, align), name_tone),))
        elif key == "update":
            cells.append(((_fit(fmt_num(row.update_ratio), w, align), ""),))
        elif key == "zero":
            cells.append(((_fit(fmt_frac(row.zero_frac), w, align), ""),))
        elif key == "status":
            cells.append(((_fit(row.status.label, w, align), "status-" + tone),))
    return tuple(cells)


def _spark_cell(text: str, tone: str) -> Cell:
    """Split a glyph string so non-finite marks get their own (alarm) tone."""
    out: list[Fragment] = []
    run = ""
    for ch in text:
        if ch == NONFINITE:
            if run:
                out.append((run, tone))
                run = ""
            out.append((ch, "nonfinite"))
        else:
            run += ch
    if run:
        out.append((run, tone))
    return tuple(out)

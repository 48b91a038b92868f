"""What the run list (``gradtop watch DIR``) shows: one line per run, like a process list.

Pure. ``run_rows`` takes each followed file's model (under its lock, briefly) and makes
frozen ``RunRow`` values, safe to draw after the lock is released; ``row_line`` and
``heading_line`` lay them out as (text, tone) fragments for a width, least useful columns
dropped first on a narrow terminal. Every state carries a word, not only a colour: live,
stalled, finished, dead (the writer process is gone: ``gradtop.session.liveness``), and
for a file without a run yet, waiting / deleted / cannot read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len

from gradtop.diagnosis.findings import Finding, Severity
from gradtop.history import LOSS, RunHistory
from gradtop.reader.ssh_source import parse_remote
from gradtop.session import WriterAlive, liveness
from gradtop.teaching.texts import kind as kind_name
from gradtop.text import safe_text
from gradtop.ui.compare_view import ellipsize_end
from gradtop.ui.findings_text import SEVERITY_MARK
from gradtop.ui.format import ellipsize, fmt_count, fmt_rate
from gradtop.ui.headline import age_text
from gradtop.ui.model import WatchModel
from gradtop.ui.sparkline import log_sparkline, step_bins

Fragment = tuple[str, str]
SPARK_WIDTH = 24  # loss glyphs computed per run; a narrow list shows the newest of them
MARKED = "*"


@dataclass(frozen=True, slots=True)
class FileInput:
    """One followed file as the list needs it: its model and the reader's state."""

    path: str
    model: WatchModel
    reader_state: str = ""  # ReaderStatus.state ("" before the first read)
    problem: str = ""  # the reader worker stopped (shown instead of a run)
    label: str = ""  # the file's short name in the list ("": ``file_label``)


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of the list; ``key`` (path, run id) names it across frames."""

    path: str
    run_id: str  # "" for a file with no run yet
    name: str
    model: str
    step: int | None
    rate: float | None
    state: str  # live, stalled, finished, dead, starting; waiting, deleted, error, reading
    age: float | None
    detail: str  # end reason, dead writer's pid, or the problem
    finding: Finding | None  # the worst active finding
    active: int  # active findings
    loss: str  # sparkline glyphs, newest right, SPARK_WIDTH wide

    @property
    def key(self) -> tuple[str, str]:
        return (self.path, self.run_id)


def file_label(path: str) -> str:
    """A file's short name: its stem, with the host for ``host:path`` (as the header)."""
    remote = parse_remote(path)
    base = os.path.basename(remote.path if remote is not None else path) or path
    stem = base[: -len(".jsonl")] if base.endswith(".jsonl") and len(base) > 6 else base
    return stem if remote is None else f"{remote.host}:{stem}"


def file_labels(paths: Sequence[str]) -> dict[str, str]:
    """Short names that tell the files apart: each path below the directory its group
    shares, without ``.jsonl`` (``exp1/gradtop`` and ``exp2/gradtop``, not two "gradtop").
    A group is the local files, or one host's; the host is named (``gpu7:exp1``) only
    when the list holds more than one group."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        remote = parse_remote(path)
        groups.setdefault(remote.host if remote is not None else "", []).append(path)
    out: dict[str, str] = {}
    for host, members in groups.items():
        inner = [_inner(p) for p in members]
        top = os.path.commonpath([os.path.dirname(p) for p in inner]) if inner else ""
        for path, full in zip(members, inner, strict=True):
            rel = os.path.relpath(full, top) if top else os.path.basename(full)
            if rel.endswith(".jsonl") and len(rel) > 6:
                rel = rel[: -len(".jsonl")]
            out[path] = f"{host}:{rel}" if host and len(groups) > 1 else rel
    return out


def _inner(path: str) -> str:
    """The path on its own machine, absolute where it can be (a remote one as typed)."""
    remote = parse_remote(path)
    if remote is None:
        return os.path.abspath(path)
    return os.path.join("/~", remote.path) if not remote.path.startswith("/") else remote.path


def worst_finding(findings: Sequence[Finding]) -> Finding | None:
    """The most severe active finding; among equals the first listed (listing order)."""
    active = [f for f in findings if f.active]
    return max(active, key=lambda f: f.severity) if active else None


def loss_glyphs(run: RunHistory, width: int = SPARK_WIDTH) -> str:
    """The loss over the run on a log scale (``sparkline.step_bins``: only the newest
    glyph changes between frames, so the list repaints little); NaN/Inf as ✖."""
    table = run.scalars.get(LOSS)
    if table is None or len(table) == 0:
        return " " * width
    col = table.column(0)
    values, flags = step_bins(col.last_step, col.high, col.any_nan, width)
    return log_sparkline(values, flags, width=width)


def run_rows(
    files: Iterable[FileInput], now: float, *, writer_alive: WriterAlive | None = None
) -> list[RunRow]:
    """Every run of every file, files in the order given, each file's runs oldest first;
    a file with no run yet gets one line saying why (waiting for it, deleted, unreadable)."""
    rows: list[RunRow] = []
    for file in files:
        model = file.model
        with model.lock:
            runs = list(model.history.runs.values())
            findings = dict(model.findings)
            clocks = dict(model.clocks)
            label = file.label or file_label(file.path)
            if not runs:
                rows.append(_no_run_row(file, label))
            for i, run in enumerate(runs):
                clock = clocks.get(run.run_id)
                live = liveness(run, clock, now, writer_alive=writer_alive)
                name = run.header.name or label
                if len(runs) > 1 and not run.header.name:
                    name = f"{label} ({i + 1}/{len(runs)})"
                found = findings.get(run.run_id, [])
                rows.append(
                    RunRow(
                        path=file.path,
                        run_id=run.run_id,
                        name=name,
                        model=run.header.model,
                        step=run.last_step,
                        rate=clock.steps_per_second() if clock is not None else None,
                        state=live.state,
                        age=live.age,
                        detail=live.detail,
                        finding=worst_finding(found),
                        active=sum(1 for f in found if f.active),
                        loss=loss_glyphs(run),
                    )
                )
    return rows


def _no_run_row(file: FileInput, label: str) -> RunRow:
    state = {"waiting": "waiting", "deleted": "deleted", "error": "error"}.get(
        file.reader_state, "reading"
    )
    if file.problem:
        state = "error"
    return RunRow(file.path, "", label, "", None, None, state, None, file.problem, None, 0, "")


# ---------------------------------------------------------------------------- layout

# (key, title, width, priority: the highest number is dropped first when space runs out)
COLUMNS: tuple[tuple[str, str, int, int], ...] = (
    ("mark", "", 1, 0),
    ("name", "RUN", 15, 0),
    ("model", "MODEL", 14, 4),
    ("step", "STEP", 8, 2),
    ("rate", "STEPS/S", 7, 3),
    ("state", "STATE", 19, 0),
    ("finding", "WORST FINDING", 0, 0),  # takes what is left (at least MIN_FINDING)
    ("loss", "LOSS", 12, 1),
)
MIN_FINDING = 20  # 80 columns keep the step and the loss: 1+15+8+19+20+12 and 5 spaces


def plan(width: int) -> list[tuple[str, int]]:
    """(column key, width) for a terminal ``width``: fixed columns, the finding gets the rest;
    the loss sparkline widens on a wide screen up to ``SPARK_WIDTH``."""
    cols = [(k, w, p) for k, _t, w, p in COLUMNS]
    while True:
        fixed = sum(w for _k, w, _p in cols) + len(cols) - 1
        if width - fixed >= MIN_FINDING or max(p for _k, _w, p in cols) == 0:
            break
        drop = max(cols, key=lambda c: c[2])
        cols.remove(drop)
    fixed = sum(w for _k, w, _p in cols) + len(cols) - 1
    spare = max(0, width - fixed - MIN_FINDING)
    out: list[tuple[str, int]] = []
    for key, w, _p in cols:
        grow = min(spare // 2, SPARK_WIDTH - w) if key == "loss" else 0
        spare -= grow
        out.append((key, w + grow))
    rest = width - sum(w for _k, w in out) - len(out) + 1
    return [(k, max(MIN_FINDING // 2, rest) if k == "finding" else w) for k, w in out]


def heading_line(width: int) -> list[Fragment]:
    titles = {k: t for k, t, _w, _p in COLUMNS}
    return _joined([(_fit(titles[k], w, right=k in ("step", "rate")), "") for k, w in plan(width)])


def state_cell(row: RunRow) -> Fragment:
    """The state word (and age), as the header says it, shortened for a column."""
    age = age_text(row.age)
    state = row.state
    if state == "live":
        return (f"● live {age} ago", "ok")
    if state == "starting":
        return (f"● started {age} ago", "muted")
    if state == "stalled":
        return (f"⚠ STALLED {age}", "warning-reverse")
    if state == "dead":
        return (f"✖ DEAD writer {age}", "error-reverse")
    if state == "finished":  # the end record's reason: "closed", or how it ended
        reason = safe_text(row.detail or "closed", 20)
        return ("■ finished", "ok") if reason == "closed" else (f"✖ ended: {reason}", "error")
    if state == "waiting":
        return ("… waiting for file", "warning")
    if state == "deleted":
        return ("✖ file deleted", "error")
    if state == "error":
        return ("✖ cannot read", "error")
    return ("… reading", "muted")


def finding_cell(row: RunRow, width: int) -> Fragment:
    f = row.finding
    if row.run_id == "":
        return (safe_text(row.detail, 200), "error") if row.detail else ("", "")
    if f is None:
        return ("✓ no active finding", "ok") if row.step is not None else ("no step yet", "muted")
    mark, tone = SEVERITY_MARK.get(f.severity, ("•", ""))
    name = kind_name("en", f.kind)
    more = f" +{row.active - 1}" if row.active > 1 else ""
    symbol = mark.split()[0]
    # Shortened in turn: the severity word to its symbol, the "+N" dropped, then the end
    # of the finding's name; its symbol and first words always stay.
    for text in (f"{mark} {name}{more}", f"{symbol} {name}{more}", f"{symbol} {name}"):
        if cell_len(text) <= width:
            break
    return (ellipsize_end(text, width), tone if f.severity >= Severity.WARNING else "info")


def row_line(row: RunRow, width: int, *, marked: bool = False) -> list[Fragment]:
    """One row laid out for ``width`` cells (the same plan as ``heading_line``)."""
    cells: list[Fragment] = []
    for key, w in plan(width):
        if key == "mark":
            cells.append((MARKED if marked else " ", "warning"))
        elif key == "name":
            cells.append((_fit(safe_text(row.name, 200), w), "bold"))
        elif key == "model":
            cells.append((_fit(safe_text(row.model, 200), w), "muted"))
        elif key == "step":
            step = "–" if row.step is None else fmt_count(row.step)
            cells.append((_fit(step, w, right=True), ""))
        elif key == "rate":  # a pace only while the run is being written
            live = row.state == "live" and row.rate is not None
            rate = fmt_rate(row.rate).removesuffix(" steps/s") if live else "–"
            cells.append((_fit(rate, w, right=True), "muted"))
        elif key == "state":
            text, tone = state_cell(row)
            cells.append((_fit(ellipsize_end(text, w), w), tone))
        elif key == "finding":
            text, tone = finding_cell(row, w)
            cells.append((_fit(ellipsize_end(text, w), w), tone))
        elif key == "loss":
            cells.append((_fit(row.loss[-w:] if row.loss else "", w, right=True), "info"))
    return _joined(cells)


def _fit(text: str, width: int, *, right: bool = False) -> str:
    text = ellipsize(text, width)
    pad = " " * max(0, width - cell_len(text))
    return pad + text if right else text + pad


def _joined(cells: list[Fragment]) -> list[Fragment]:
    out: list[Fragment] = []
    for i, cell in enumerate(cells):
        if i:
            out.append((" ", ""))
        out.append(cell)
    return out


def summary_line(rows: Sequence[RunRow], marked: int) -> list[Fragment]:
    """The bar above the list: how many runs, in which states, how many marked."""
    counts: dict[str, int] = {}
    for r in rows:
        if r.run_id:
            counts[r.state] = counts.get(r.state, 0) + 1
    files = len({r.path for r in rows})
    parts: list[Fragment] = [
        ("gradtop", "title"),
        (f"  {len([r for r in rows if r.run_id])} runs in {files} files", "bold"),
    ]
    for state, tone in (
        ("live", "ok"),
        ("starting", "muted"),
        ("stalled", "warning"),
        ("dead", "error"),
        ("finished", "muted"),
    ):
        if counts.get(state):
            parts.append((f"  {counts[state]} {state}", tone))
    if marked:
        parts.append((f"  {marked} marked", "warning"))
    return parts

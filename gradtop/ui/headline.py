"""The header lines: which file and run, how far it got, and whether it is still alive.

Pure: returns lines of (text, tone) fragments. Every state a user must notice (waiting
for the file, stalled, finished, paused, a refused newer format, skipped lines, a
truncated or replaced file) carries a word, not only a colour.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from rich.cells import cell_len

from gradtop.history import RunHistory
from gradtop.reader.ssh_source import parse_remote
from gradtop.text import safe_text
from gradtop.ui.format import ellipsize, fmt_bytes, fmt_count, fmt_duration, fmt_rate
from gradtop.ui.model import Liveness

Fragment = tuple[str, str]
SEP: Fragment = (" │ ", "muted")


@dataclass(frozen=True, slots=True)
class ReaderView:
    """The reader facts the header shows (a plain copy of the reader's status)."""

    state: str = "following"  # "waiting", "following", "deleted", "error"
    records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    truncations: int = 0
    rotations: int = 0
    offset: int = 0
    size: int = 0
    message: str = ""
    version_error: str = ""


@dataclass(frozen=True, slots=True)
class HeadlineInput:
    path: str
    run: RunHistory | None
    run_pos: int  # 1-based position of the shown run among the file's runs
    run_count: int
    following_newest: bool
    liveness: Liveness | None
    steps_per_second: float | None
    reader: ReaderView | None
    paused: bool = False
    # While paused (nothing read), what os.stat saw: bytes added since the pause (None:
    # not measured), and whether the file shrank or went (truncated, replaced, deleted).
    paused_grown: int | None = None
    paused_replaced: bool = False
    loading: str = ""  # "" or e.g. "reading history 34%"
    wakeup: str = ""  # "" (native) or "polling (nfs4 filesystem)"
    problem: str = ""  # worker or diagnosis failure to show
    logger_share: float | None = None  # RunHistory.logger_share(): None when not recorded
    label: str = ""  # the file's name in a run list (``exp3/gradtop``); "": its basename


def age_text(seconds: float | None) -> str:
    """Whole seconds below a minute: the header must not repaint ten times a second."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{int(seconds)}s"
    return fmt_duration(seconds)


def headline(data: HeadlineInput, width: int = 200) -> list[list[Fragment]]:
    """One status line that fits ``width`` (least useful parts dropped first), plus a
    notice line only when there is something to notice."""
    parts = _status_parts(data)
    while len(parts) > 1 and _width(parts) > width:
        parts.remove(max(parts, key=lambda p: p[0]))
    line: list[Fragment] = []
    for i, (_prio, frag) in enumerate(parts):
        if i:
            line.append(SEP)
        line.append(frag)
    lines = [line]
    notices = _notices(data)
    if notices:
        lines.append(notices)
    return lines


def _width(parts: list[tuple[int, Fragment]]) -> int:
    return sum(cell_len(text) for _p, (text, _t) in parts) + len(SEP[0]) * (len(parts) - 1)


def _file_label(path: str) -> str:
    """The file's name, and for ``host:path`` the host too: two hosts' run.jsonl differ."""
    remote = parse_remote(path)
    if remote is None:
        return os.path.basename(path) or path
    return f"{remote.host}:{os.path.basename(remote.path) or remote.path}"


def _status_parts(data: HeadlineInput) -> list[tuple[int, Fragment]]:
    """(priority, fragment) in screen order; a higher priority number is dropped first."""
    name = ellipsize(safe_text(data.label or _file_label(data.path)), 32)
    parts: list[tuple[int, Fragment]] = [(5, ("gradtop", "title")), (1, (name, "bold"))]
    reader, run = data.reader, data.run
    if reader is not None and reader.state == "waiting":
        parts.append((0, ("… waiting for file", "warning")))
    elif reader is not None and reader.state == "deleted":
        parts.append((0, ("✖ file deleted", "error")))
    if run is None:
        if reader is None or reader.state not in ("waiting", "deleted"):
            parts.append((0, ("… waiting for a run header", "muted")))
    else:
        # Logger(name=...) reads better than the id; the id is in the picker (r).
        who = f'"{safe_text(run.header.name)}"' if run.header.name else safe_text(run.run_id)
        run_label = "run " + ellipsize(who, 20)
        run_prio = 2
        if data.run_count > 1:
            pinned = "" if data.following_newest else " pinned"
            run_label += f" ({data.run_pos}/{data.run_count}{pinned})"
            run_prio = 0  # which of several runs is shown: kept before the file name
        parts.append((run_prio, (run_label, "")))
        if run.header.model:
            parts.append((4, (ellipsize(safe_text(run.header.model), 24), "")))
        step = run.last_step
        parts.append((0, ("step " + ("–" if step is None else fmt_count(step)), "bold")))
        # The pace is of the records read: while paused none are, so a number there would
        # pass the pace before the pause off as the pace now.
        if data.steps_per_second is not None and not data.paused:
            parts.append((3, (fmt_rate(data.steps_per_second), "")))
        if data.liveness is not None:
            parts.append((0, _liveness_fragment(data.liveness)))
        if data.logger_share is not None:
            # The Logger's own cost, measured by it over the newest logged steps (the same
            # figure and format as ``gradtop check``); the first part a narrow header drops.
            parts.append((6, (f"gradtop {data.logger_share:.1%} of step time", "muted")))
    if data.paused:
        parts.append((0, (_paused_text(data), "warning-reverse")))
    return parts


def _paused_text(data: HeadlineInput) -> str:
    """Paused is not stalled: say what the file did since, as measured (never guessed)."""
    if data.paused_replaced:
        return "⏸ PAUSED, file shrank or gone"
    grown = data.paused_grown
    if grown is None:
        return "⏸ PAUSED"
    if grown == 0:
        return "⏸ PAUSED, file unchanged"
    live = data.liveness is not None and data.liveness.state == "live"
    size = fmt_bytes(grown)
    return f"⏸ PAUSED, file growing (+{size})" if live else f"⏸ PAUSED (+{size} unread)"


def _liveness_fragment(live: Liveness) -> Fragment:
    age = age_text(live.age)
    if live.state == "finished":
        reason = safe_text(live.detail or "closed", 20)
        tone = "ok" if reason == "closed" else "error"
        return (f"■ finished ({reason}) {age} ago", tone)
    if live.state == "dead":
        # The writer process is gone (its host is this machine): no record is coming.
        return (
            f"✖ DEAD writer (pid {safe_text(live.detail, 12)} gone), silent {age}",
            "error-reverse",
        )
    if live.state == "stalled":
        return (f"⚠ STALLED, silent {age}", "warning-reverse")
    if live.state == "starting":
        return (f"● started {age} ago", "muted")
    return (f"● live {age} ago", "ok")


def _notices(data: HeadlineInput) -> list[Fragment]:
    parts: list[Fragment] = []
    reader = data.reader
    if reader is not None:
        if reader.version_error:
            parts.append(("✖ " + safe_text(reader.version_error, 120), "error"))
        skipped = {k: v for k, v in reader.skipped.items() if v}
        if skipped:
            total = sum(skipped.values())
            detail = ", ".join(f"{v} {safe_text(k, 20)}" for k, v in sorted(skipped.items()))
            parts.append((f"⚠ skipped {fmt_count(total)} bad lines ({detail})", "warning"))
        if reader.truncations:
            parts.append((f"⚠ file truncated {reader.truncations}×", "warning"))
        if reader.rotations:
            parts.append((f"⚠ file replaced {reader.rotations}×", "warning"))
        if reader.message and not reader.version_error:
            parts.append((safe_text(reader.message, 100), "muted"))
        if reader.state == "error":
            parts.append(("✖ cannot read the file", "error"))
    run = data.run
    if run is not None:
        if run.seq_gaps:
            parts.append((f"⚠ {run.seq_gaps} gaps in the record sequence", "warning"))
        if run.end is not None and run.end.dropped:
            parts.append((f"⚠ writer dropped {fmt_count(run.end.dropped)} records", "warning"))
    if data.loading:
        parts.append((data.loading, "info"))
    if data.wakeup:
        parts.append((safe_text(data.wakeup, 60), "muted"))
    if data.problem:
        parts.append(("✖ " + safe_text(data.problem, 160), "error"))
    out: list[Fragment] = []
    for i, part in enumerate(parts):
        if i:
            out.append(SEP)
        out.append(part)
    return out


def loading_text(offset: int, size: int) -> str:
    if size <= 0:
        return "reading history…"
    pct = min(100, int(100 * offset / size))
    return f"reading history {pct}% of {fmt_bytes(size)}"

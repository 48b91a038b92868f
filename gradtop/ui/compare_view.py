"""What the comparison of runs in ``gradtop watch`` shows, as data and lines: pure, no widgets.

A side is one run reduced to what runs are compared by (``check_compare.ComparedRun``: the
loss now, the depth profile and ratio R, the active findings) plus its loss curve, copied
out under the model's lock so the screen can draw it after the lock is released. The
verdict is ``check_compare.compare(...).verdict``, the very line ``gradtop check A B``
prints: with three or more runs, each run is judged against the first (said on screen).

Every value shown is one the file measured; what was not measured reads "n/a". Names
from the file go through ``safe_text``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rich.cells import cell_len

from gradtop.check_compare import ComparedRun, Comparison, compare, loss_text, ratio_text
from gradtop.check_summary import DEFAULT_FAIL_ON, FindingReport
from gradtop.diagnosis.depth_profile import RECENT
from gradtop.diagnosis.findings import Finding
from gradtop.history import LOSS, RunHistory
from gradtop.teaching.texts import kind as kind_name
from gradtop.text import safe_text
from gradtop.ui.format import ellipsize, fmt_count
from gradtop.ui.series import Series, table_series
from gradtop.ui.sparkline import LogRange, log_sparkline

Fragment = tuple[str, str]
Line = list[Fragment]

# One plotext marker per side, in order: the curves tell apart without colour (and a
# colour each as well, for those who see it). ASCII, so every terminal gives them one cell.
MARKERS = ("*", "x", "o", "+", "#", "%", "@", "=")
COLORS = ("cyan", "magenta", "yellow", "green", "blue", "red", "white", "orange")
LABEL_MAX = 16  # cells of a side's label in the rows
PROFILE_MAX = 32  # glyphs of a depth profile


@dataclass(frozen=True)
class CompareSide:
    """One run as compared: frozen, no reference to History (safe after the lock)."""

    label: str
    measured: ComparedRun
    loss: Series  # every stored loss point, copied; NaN/Inf steps in ``bad_steps``
    finished: bool


def compare_side(label: str, run: RunHistory, findings: Sequence[Finding]) -> CompareSide:
    """Call with the model's lock held: reads the run's tables."""
    return CompareSide(
        label=safe_text(label, 80),
        measured=ComparedRun.of(run, findings, file=label),
        loss=table_series(run.scalars.get(LOSS), 0),  # fresh arrays, never History's
        finished=run.end is not None,
    )


def side_label(index: int) -> str:
    """A, B, C ... (then A2, B2 ...): as ``gradtop check A B`` names its two files."""
    letter = chr(ord("A") + index % 26)
    return letter if index < 26 else f"{letter}{index // 26 + 1}"


def marker(index: int) -> str:
    return MARKERS[index % len(MARKERS)]


def color(index: int) -> str:
    return COLORS[index % len(COLORS)]


# ---------------------------------------------------------------------------- verdicts


def comparisons(sides: Sequence[CompareSide]) -> list[tuple[int, Comparison]]:
    """(index of the later side, its comparison with the first side), for every side after
    the first. ``fail_on`` only decides an exit code, which the view does not show."""
    if len(sides) < 2:
        return []
    first = sides[0].measured
    return [(i, compare(first, s.measured, DEFAULT_FAIL_ON)) for i, s in enumerate(sides[1:], 1)]


def verdict_lines(sides: Sequence[CompareSide], width: int) -> list[Line]:
    """``A → B: vanishing gradients gone; depth ratio 3.1e-7 -> 0.42; loss 2.3 -> 0.9``,
    wrapped between its clauses (a clause cut short could say something else)."""
    if len(sides) < 2:
        return [[("one run: nothing to compare it with", "muted")]]
    lines: list[Line] = []
    if len(sides) > 2:
        lines.append([(f"each run against the first ({sides[0].label}):", "muted")])
    for i, c in comparisons(sides):
        head = f"{sides[0].label} → {sides[i].label}: "
        lines.extend(_wrapped(head, c.verdict.split("; "), width))
    return lines


def _wrapped(head: str, clauses: Sequence[str], width: int) -> list[Line]:
    indent = " " * min(cell_len(head), 8)
    lines: list[Line] = []
    text = head
    first = True
    for clause in clauses:
        piece = clause if text in (head, indent) else "; " + clause
        # the clause and the ";" the next one would leave behind must fit
        if text not in (head, indent) and cell_len(text + piece) + 1 > width:
            lines.append([(text + ";", "bold" if first else "")])
            first = False
            text, piece = indent, clause
        text += piece
    lines.append([(ellipsize_end(text, width), "bold" if first else "")])
    return lines


def ellipsize_end(text: str, width: int) -> str:
    """Keep the start of ``text`` (a verdict and a list of findings read first first)."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    kept, used = "", 1
    for ch in text:
        w = cell_len(ch)
        if used + w > width:
            break
        kept += ch
        used += w
    return kept + "…"


# ---------------------------------------------------------------------------- the rows


def shared_scale(profiles: Iterable[Sequence[float]]) -> LogRange:
    """One log scale for every run's profile, so a starved layer looks starved next to a
    healthy run's (at least 3 decades, so noise never fills the height)."""
    logs = [math.log10(v) for p in profiles for v in p if math.isfinite(v) and v > 0]
    if not logs:
        return LogRange(-3.0, 0.0)
    lo, hi = min(logs), max(logs)
    if hi - lo < 3:
        lo = hi - 3
    return LogRange(lo, hi)


def profile_text(profile: Sequence[float], width: int, scale: LogRange) -> str:
    """Layers in depth order, input left; with more layers than cells each cell shows the
    smallest of its group (a starved layer must not be averaged away)."""
    if not profile or width <= 0:
        return " " * max(width, 0)
    arr = np.array(profile, dtype=np.float64)
    groups = min(width, len(arr))
    edges = np.linspace(0, len(arr), groups + 1).astype(int)
    picked = np.empty(groups)
    bad = np.zeros(groups, dtype=bool)
    for g in range(groups):
        chunk = arr[edges[g] : edges[g + 1]]
        bad[g] = bool(np.isinf(chunk).any())
        finite = chunk[np.isfinite(chunk)]
        picked[g] = finite.min() if finite.size else math.nan
    return log_sparkline(picked, bad, width=groups, scale=scale).ljust(width)


def _label_width(sides: Sequence[CompareSide]) -> int:
    return max(1, min(LABEL_MAX, max((cell_len(s.label) for s in sides), default=1)))


def legend_lines(sides: Sequence[CompareSide], width: int) -> list[Line]:
    """Which run each label and plot marker stands for: ``A *  run 1a2b "relu" (MLP), 200
    steps, finished``."""
    lw = _label_width(sides)
    lines: list[Line] = []
    for i, s in enumerate(sides):
        m = s.measured
        name = f' "{safe_text(m.name, 40)}"' if m.name else ""
        model = f" ({safe_text(m.model, 40)})" if m.model else ""
        state = "ended" if s.finished else "not ended"
        text = f"run {safe_text(m.run_id, 40)}{name}{model}, {fmt_count(m.steps)} steps, {state}"
        head = f"{_fit(s.label, lw)} {marker(i)}  "
        lines.append([(head, "bold"), (ellipsize_end(text, width - cell_len(head)), "")])
    return lines


def profile_lines(sides: Sequence[CompareSide], width: int) -> list[Line]:
    """A heading and one row per run: its gradient by depth on one shared log scale, R and
    the loss now (the numbers ``gradtop check A B`` quotes)."""
    if not sides:
        return []
    lw = _label_width(sides)
    scale = shared_scale(s.measured.profile for s in sides)
    layers = max((len(s.measured.profile) for s in sides), default=0)
    fixed = lw + 1 + 2 + 9 + 9 + 2  # label, marker, R and loss columns, spaces
    prof_w = max(4, min(PROFILE_MAX, max(layers, 15), width - fixed))
    head = f"{' ' * (lw + 2)} {_fit('|grad| by depth', prof_w)} {'R':>8} {'loss':>8}"
    lines: list[Line] = [[(ellipsize_end(head, width), "muted")]]
    for i, s in enumerate(sides):
        m = s.measured
        glyphs = profile_text(m.profile, prof_w, scale) if m.profile else _fit("n/a", prof_w)
        lines.append(
            [
                (f"{_fit(s.label, lw)} {marker(i)} ", "bold"),
                (glyphs + " ", "info" if m.profile else "muted"),
                (f"{ratio_text(m.depth_ratio):>8} {loss_text(m.loss):>8}", ""),
            ]
        )
    note = f"input left; R: g_rms first / last hidden layer; loss: median of {RECENT} steps"
    lines.append([(ellipsize_end(note, width), "muted")])
    return lines


def findings_lines(sides: Sequence[CompareSide], width: int) -> list[Line]:
    """Each run's active findings, worst mark first: ``✖`` critical, ``⚠`` warning,
    ``i`` info (marks that read without colour)."""
    lw = _label_width(sides)
    lines: list[Line] = []
    for s in sides:
        out: list[Fragment] = [(f"{_fit(s.label, lw)}   ", "bold")]
        m = s.measured
        if m.steps == 0:
            out.append(("no step yet: nothing measured", "muted"))
        elif not m.findings:
            out.append(("no active findings", "ok"))
        for j, f in enumerate(m.findings):
            if j:
                out.append((", ", "muted"))
            out.append(_finding(f))
        lines.append(clip(out, width))
    return lines


def _finding(f: FindingReport) -> Fragment:
    name = safe_text(kind_name("en", f.kind), 60)
    if f.severity == "critical":
        return ("✖ " + name, "error")
    if f.severity == "warning":
        return ("⚠ " + name, "warning")
    return ("i " + name, "info")


def clip(fragments: Sequence[Fragment], width: int) -> list[Fragment]:
    """Cut styled fragments to ``width`` cells, ending with "…" when something was cut."""
    out: list[Fragment] = []
    left = width
    for i, (text, tone) in enumerate(fragments):
        w = cell_len(text)
        rest = sum(cell_len(t) for t, _ in fragments[i + 1 :])
        if w + rest <= left:
            out.extend(fragments[i:])
            return out
        if w < left:
            out.append((text, tone))
            left -= w
            continue
        out.append((ellipsize_end(text, left), tone))
        return out
    return out


def _fit(text: str, width: int) -> str:
    text = ellipsize(text, width)
    return text + " " * max(0, width - cell_len(text))


def plot_title(sides: Sequence[CompareSide]) -> str:
    """What the plot shows and which marker is which: ``loss by step  A *  B x``."""
    keys = "  ".join(f"{s.label} {marker(i)}" for i, s in enumerate(sides))
    return f"loss by step  {keys}"


def nonfinite_notes(sides: Sequence[CompareSide]) -> list[str]:
    """``B: loss NaN/Inf from step 120`` for each side whose loss went non-finite (the plot
    draws finite points only)."""
    return [
        f"{s.label}: loss NaN/Inf from step {int(s.loss.bad_steps.min())}"
        for s in sides
        if len(s.loss.bad_steps)
    ]

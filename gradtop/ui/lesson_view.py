"""What the lesson of ``gradtop demo`` shows, as lines of (text, tone): pure, no widgets.

The comparison strip puts the runs of a session side by side: which fixes each had, its
gradient by depth on one shared log scale (so "before" and "after" can be compared at a
glance), its loss, its depth ratio R and what gradtop found. Every number comes from the
file through History and the Diagnoser, like everything else on the dashboard; the
profile, its shared scale and R are the comparison view's (``compare_view``, the numbers
``gradtop check A B`` quotes), so the strip is one more user of them. Labels
that come from the file (fix ids in the header's ``meta``) go through ``safe_text``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len

from gradtop.diagnosis.depth_profile import layer_profile, recent_loss
from gradtop.diagnosis.findings import Finding, Severity
from gradtop.history import RunHistory
from gradtop.teaching.lesson import worst_by_kind
from gradtop.text import safe_text
from gradtop.ui.compare_view import clip, profile_text, shared_scale
from gradtop.ui.format import ellipsize, fmt_loss, fmt_num

Fragment = tuple[str, str]
Line = list[Fragment]

DEMO_META = "gradtop_demo"  # the header meta key gradtop.teaching.lesson writes (tested)
PROFILE_MAX = 24  # glyphs of the depth profile
FIXED_CELLS = 32  # marker and number, loss, R, spaces: the strip's columns of fixed width


@dataclass(frozen=True)
class RunSummary:
    """One run of the session, reduced to what the strip compares."""

    run_id: str
    number: int  # 1-based position in the session
    fixes: tuple[str, ...]
    steps: int
    loss: float | None  # median of the recent losses; NaN once the loss went non-finite
    ratio: float | None  # depth ratio R = g_rms(first layer) / g_rms(last hidden layer)
    profile: tuple[float, ...]  # g_rms per weight layer, input to output (NaN: non-finite)
    worst: Mapping[str, int] = field(default_factory=dict)  # kind -> worst severity
    active: tuple[tuple[str, int], ...] = ()  # active (kind, severity), warning or worse
    earlier: tuple[str, ...] = ()  # warning or worse earlier in the run, cleared since
    finished: bool = False


def demo_meta(run: RunHistory) -> dict[str, object] | None:
    meta = run.header.meta.get(DEMO_META) if isinstance(run.header.meta, dict) else None
    return meta if isinstance(meta, dict) else None


def session_runs(runs: Sequence[RunHistory], session: str, demo: str) -> list[RunHistory]:
    """The runs this lesson wrote for ``demo``, oldest first (other runs in the file are not)."""
    out = []
    for run in runs:
        meta = demo_meta(run)
        if meta is not None and meta.get("session") == session and meta.get("demo") == demo:
            out.append(run)
    return out


def fixes_of(run: RunHistory) -> tuple[str, ...]:
    meta = demo_meta(run) or {}
    fixes = meta.get("fixes")
    if not isinstance(fixes, list):
        return ()
    return tuple(safe_text(f, 40) for f in fixes if isinstance(f, str))


def summarise(run: RunHistory, findings: Sequence[Finding], number: int) -> RunSummary:
    """Call with the model lock held: reads the run's tables."""
    profile, ratio = layer_profile(run)
    active = tuple(
        (f.kind, int(f.severity)) for f in findings if f.active and f.severity >= Severity.WARNING
    )
    loud = {kind for kind, _ in active}
    earlier = tuple(
        dict.fromkeys(
            f.kind
            for f in findings
            if not f.active and f.severity >= Severity.WARNING and f.kind not in loud
        )
    )
    return RunSummary(
        run_id=run.run_id,
        number=number,
        fixes=fixes_of(run),
        steps=run.steps,
        loss=recent_loss(run),
        ratio=ratio,
        profile=profile,
        worst=worst_by_kind(findings),
        active=active,
        earlier=earlier,
        finished=run.end is not None,
    )


# ---------------------------------------------------------------------------- the strip


def fit(text: str, width: int, *, right: bool = False) -> str:
    """``text`` in exactly ``width`` terminal cells (Chinese takes two cells a character)."""
    text = ellipsize(text, width)
    pad = " " * max(0, width - cell_len(text))
    return pad + text if right else text + pad


@dataclass(frozen=True)
class StripWords:
    """The strip's fixed words in the lesson's language."""

    run: str = "run"
    changes: str = "changes"
    profile: str = "|grad| by depth: input → output"
    loss: str = "loss"
    ratio: str = "R"
    findings: str = "findings"
    broken: str = "original net"
    none_found: str = "✓ none"
    cut_short: str = "stopped before it could be judged"
    earlier: str = "earlier:"


def _findings_cell(
    s: RunSummary, kind_names: Mapping[str, str], words: StripWords, young: bool
) -> list[Fragment]:
    out: list[Fragment] = []
    if not s.active:
        # A young run says nothing yet; one that ended young (restarted by a key) never
        # will: neither may pass for healthy.
        if not young:
            out.append((words.none_found, "ok"))
        else:
            out.append((words.cut_short if s.finished else "…", "muted"))
    for i, (kind, sev) in enumerate(s.active):
        if i:
            out.append((", ", "muted"))
        mark, tone = ("✖ ", "error") if sev >= int(Severity.CRITICAL) else ("⚠ ", "warning")
        out.append((mark + kind_names.get(kind, kind.replace("_", " ")), tone))
    if s.earlier:
        names = ", ".join(kind_names.get(k, k.replace("_", " ")) for k in s.earlier)
        out.append((f"  ({words.earlier} {names})", "muted"))
    return out


def strip_lines(
    summaries: Sequence[RunSummary],
    current: str | None,
    width: int,
    *,
    fix_labels: Mapping[str, str],
    kind_names: Mapping[str, str],
    words: StripWords,
    judge_steps: int = 100,
) -> list[Line]:
    """A heading and one line per run: ``▶ #3  ReLU + He init  ▁▃▅▇  2.26  5e-06  ⚠ …``."""
    if not summaries:
        return []
    scale = shared_scale(s.profile for s in summaries)
    layers = max((len(s.profile) for s in summaries), default=0)
    room = max(0, width - FIXED_CELLS)  # for changes + profile + findings
    prof_w = max(4, min(PROFILE_MAX, layers, room // 4))
    find_w = max(16, room // 2 - 4)
    change_w = max(8, min(30, room - prof_w - find_w))
    head = (
        f"{fit(words.run, 5)} {fit(words.changes, change_w)} {fit(words.profile, prof_w)} "
        f"{fit(words.loss, 7, right=True)} {fit(words.ratio, 8, right=True)}  {words.findings}"
    )
    lines: list[Line] = [[(head, "muted")]]
    for s in summaries:
        label = " + ".join(fix_labels.get(f, f) for f in s.fixes) or words.broken
        is_current = s.run_id == current
        mark = "▶" if is_current else " "
        loss = "NaN" if s.loss is not None and math.isnan(s.loss) else fmt_loss(s.loss)
        ratio = fmt_num(s.ratio, 1) if s.ratio is not None else "–"
        line: Line = [
            (f"{mark}#{s.number:<3} ", "bold" if is_current else "muted"),
            (fit(label, change_w) + " ", "bold" if is_current else ""),
            (profile_text(s.profile, prof_w, scale) + " ", "info"),
            (f"{loss:>7} {ratio:>8}  ", ""),
        ]
        used = sum(cell_len(text) for text, _ in line)
        line += clip(_findings_cell(s, kind_names, words, s.steps < judge_steps), width - used)
        lines.append(line)
    return lines

"""Findings as lines of (text, tone) fragments: severity first, evidence, then what to do.

Pure. All text that can come from the file (parameter names inside titles, evidence
names) goes through ``safe_text``; code snippets are sanitised line by line so their
newlines survive and nothing else does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gradtop.diagnosis.findings import Evidence, Finding, Severity
from gradtop.text import safe_text
from gradtop.ui.format import fmt_num, shorten_name

Fragment = tuple[str, str]
Line = list[Fragment]

SEVERITY_MARK: dict[Severity, Fragment] = {
    Severity.CRITICAL: ("✖ CRITICAL", "error-reverse"),
    Severity.WARNING: ("⚠ WARNING", "warning-reverse"),
    Severity.INFO: ("ℹ INFO", "info"),
}


def _steps(f: Finding) -> str:
    if f.cleared_step is not None:
        return f"steps {f.first_step}–{f.last_step}, cleared at {f.cleared_step}"
    if f.first_step == f.last_step:
        return f"step {f.first_step}"
    return f"since step {f.first_step}"


# The panel beside the table keeps each text short; ``f`` shows everything, capped only
# so that a hostile file cannot flood the screen (``safe_text``).
FULL_LIMIT = 20_000


def _evidence(e: Evidence, full: bool = False) -> str:
    value = fmt_num(e.value) if not isinstance(e.value, int) else str(e.value)
    threshold = fmt_num(e.threshold) if math.isfinite(e.threshold) else str(e.threshold)
    param = safe_text(e.param, FULL_LIMIT) if full else shorten_name(safe_text(e.param), 60)
    where = f" [{param}]" if e.param else ""
    metric = safe_text(e.metric, FULL_LIMIT if full else 80)
    return f"{metric}{where} = {value}  (threshold {e.comparison} {threshold})"


def finding_lines(
    f: Finding, *, detail: bool = True, max_fixes: int = 3, full: bool = False
) -> list[Line]:
    """One finding; ``detail`` adds evidence, explanation, and fixes with their code;
    ``full`` (the ``f`` screen) every fix and every word of each text."""

    def cap(limit: int) -> int:
        return FULL_LIMIT if full else limit

    mark, tone = SEVERITY_MARK.get(f.severity, ("•", ""))
    if not f.active:
        mark, tone = "✓ cleared", "muted"
    title = safe_text(f.title, cap(160))
    head: Line = [(mark, tone), (" ", ""), (title, "bold" if f.active else "")]
    steps = _steps(f)
    if steps not in f.title:  # "... broken since step 2" needs no "(since step 2)" again
        head.append((f"  ({steps})", "muted"))
    lines = [head]
    if not detail:
        if f.fixes and f.active:
            lines.append([("  → ", "muted"), (safe_text(f.fixes[0].title, 120), "ok")])
        return lines
    lines.extend([("  ", ""), (_evidence(e, full), "muted")] for e in f.evidence)
    if f.explanation and f.active:
        lines.append([("  ", ""), (safe_text(f.explanation, cap(600)), "")])
    if f.active:
        for n, fix in enumerate(f.fixes if full else f.fixes[:max_fixes], start=1):
            lines.append([(f"  {n}. ", "ok"), (safe_text(fix.title, cap(160)), "ok")])
            if fix.why:
                lines.append([("     ", ""), (safe_text(fix.why, cap(400)), "muted")])
            lines.extend(
                [("       ", ""), (safe_text(code_line, cap(160)), "code")]
                for code_line in fix.code.splitlines()
                if code_line.strip()
            )
        cut = 0 if full else len(f.fixes) - max_fixes
        if cut > 0:  # three fixes of five must not read as all there is
            lines.append([(f"  + {cut} more fix{'es' if cut > 1 else ''} (press f)", "muted")])
    return lines


def findings_lines(
    findings: Sequence[Finding],
    *,
    detail: bool = True,
    limit: int | None = None,
    error: str = "",
    no_data: bool = False,
    full: bool = False,
) -> list[Line]:
    """Active findings first (the Diagnoser orders them); cleared ones dimmed at the end.

    ``error`` (the diagnosis failed) comes first: the findings are then unknown, so the
    panel must not say the gradients look healthy; nor may it before any step was read
    (``no_data``).
    """
    if no_data and not error:
        return [[("… no steps yet", "muted"), (": findings appear as the run logs", "muted")]]
    if error:
        head: list[Line] = [
            [("✖ ", "error"), (safe_text(error, 300), "error")],
            [("  the findings below may be stale or missing: this is not a healthy run", "muted")],
        ]
        rest = findings_lines(findings, detail=detail, limit=limit, full=full) if findings else []
        return head + rest
    if not findings:
        return [[("✓ no findings", "ok"), (": gradients look healthy so far", "muted")]]
    active = [f for f in findings if f.active]
    cleared = [f for f in findings if not f.active]
    shown = active + cleared
    out: list[Line] = []
    for i, f in enumerate(shown[:limit] if limit is not None else shown):
        if i and detail:
            out.append([("", "")])
        out.extend(finding_lines(f, detail=detail, full=full))
    hidden = len(shown) - (limit if limit is not None and limit < len(shown) else len(shown))
    if hidden > 0:
        out.append([(f"  + {hidden} more finding{'s' if hidden > 1 else ''} (press f)", "muted")])
    return out


def summary(findings: Sequence[Finding], error: str = "", no_data: bool = False) -> str:
    """Counts for a panel title: '2 critical, 1 warning'."""
    active = [f for f in findings if f.active]
    if not active:
        if error:
            return "diagnosis failed"
        return "waiting for data" if no_data else "healthy"
    parts = []
    for sev in (Severity.CRITICAL, Severity.WARNING, Severity.INFO):
        n = sum(1 for f in active if f.severity == sev)
        if n:
            parts.append(f"{n} {sev.label}")
    return ", ".join(parts)

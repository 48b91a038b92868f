"""The text form of ``gradtop check``: a summary a human reads in a CI log.

It renders the same ``CheckSummary`` (``gradtop.check_summary``) that ``--json``
prints, so text and ``--json`` can never disagree. Every string from the file goes through ``safe``;
colour is opt-in (the caller decides: a terminal, and no NO_COLOR).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from typing import Any

import click

from gradtop.check_summary import READ, CheckSummary, FindingReport, RunReport
from gradtop.reader.status import ERROR, FOLLOWING, SKIP_REASONS, WAITING
from gradtop.text import safe_text

MAX_NAMES = 4
_SEVERITY_STYLE: dict[str, dict[str, Any]] = {
    "critical": {"fg": "red", "bold": True},
    "warning": {"fg": "yellow", "bold": True},
    "info": {"fg": "cyan"},
}


def safe(value: object, limit: int = 200) -> str:
    """File-borne text as inert, printable characters (see ``gradtop.text``)."""
    return safe_text("" if value is None else value, limit)


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _number(value: Any) -> str:
    if isinstance(value, str):  # "NaN", "Inf", "-Inf" as encoded in the summary
        return value
    if value is None:
        return "n/a"
    return f"{value:.3e}"


def _short(value: Any) -> str:
    """A user scalar as a person wrote it down (accuracy 0.9125, not 9.125e-01)."""
    return value if isinstance(value, str) else "n/a" if value is None else f"{value:.4g}"


def skipped_text(skipped: Mapping[str, int]) -> str:
    """``"; 3 skipped (invalid_json 2, nul 1)"`` or "" when nothing was skipped."""
    total = sum(skipped.values())
    if not total:
        return ""
    order = [r for r in SKIP_REASONS if r in skipped] + sorted(set(skipped) - set(SKIP_REASONS))
    parts = ", ".join(f"{safe(r, 40)} {skipped[r]:,}" for r in order)
    return f"; {total:,} skipped ({parts})"


def _names(names: list[str]) -> str:
    shown = ", ".join(safe(n, 120) for n in names[:MAX_NAMES])
    more = len(names) - MAX_NAMES
    return shown + (f", +{more} more" if more > 0 else "")


def _style(text: str, severity: str, color: bool, active: bool = True) -> str:
    if not color:
        return text
    if not active:
        return click.style(text, dim=True)
    return click.style(text, **_SEVERITY_STYLE.get(severity, {}))


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float) or ts <= 0:
        return ""
    try:
        return time.strftime(", started %Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return ""


def format_finding(f: FindingReport, color: bool) -> list[str]:
    label = f"{f.severity.upper():<9}"
    steps = f"steps {_n(f.first_step)} to {_n(f.last_step)}"
    if not f.active:
        steps += f", cleared at step {_n(f.cleared_step)}"
    head = f"  {_style(label, f.severity, color, f.active)} "
    lines = [f"{head}{safe(f.title, 300)} ({steps})"]
    pad = " " * 12
    if f.params:
        lines.append(f"{pad}layers: {_names(list(f.params))}")
    for e in f.evidence[:3]:
        where = f" [{safe(e.param, 120)}]" if e.param else ""
        lines.append(
            f"{pad}evidence: {safe(e.metric, 120)}{where} = {_number(e.value)}"
            f" (threshold {safe(e.comparison, 4)} {_number(e.threshold)})"
        )
    lines.extend(f"{pad}fix: {safe(fix.get('title'), 200)}" for fix in f.fixes[:2])
    return lines


def _findings_line(findings: Sequence[FindingReport], color: bool) -> str:
    active = [f for f in findings if f.active]
    if not active:
        healthy = click.style("none", fg="green") if color else "none"
        cleared = f" active ({len(findings)} cleared)" if findings else ""
        return f"  findings  {healthy}{cleared}"
    counts: dict[str, int] = {}
    for f in active:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    parts = ", ".join(f"{counts[s]} {s}" for s in ("critical", "warning", "info") if s in counts)
    return f"  findings  {len(active)} active: {parts}"


def _file_notes(s: CheckSummary) -> list[str]:
    notes = []
    if s.truncations:
        notes.append(f"truncated {_n(s.truncations)}x")
    if s.rotations:
        notes.append(f"replaced {_n(s.rotations)}x")
    if s.runs_continued:
        notes.append(f"run header repeated {_n(s.runs_continued)}x (run continued)")
    if s.runs_restarted:
        notes.append(f"run restarted {_n(s.runs_restarted)}x (same run id, other parameter list)")
    if s.partial_bytes:
        notes.append(f"last line incomplete ({_n(s.partial_bytes)} bytes)")
    if s.state not in ("", FOLLOWING, READ):
        notes.append(f"file {safe(s.state, 20)}")
    return notes


def _run_lines(run: RunReport | None) -> list[str]:
    """The selected run: who wrote it, its size and steps (zeros when there is none)."""
    r = run or RunReport(run_id="")
    model = f" ({safe(r.model, 80)})" if r.model else ""
    host = f" on {safe(r.host, 80)}" if r.host else ""
    started = _when(r.started) if run is not None else ""
    name = f' "{safe(r.name, 80)}"' if r.name else ""
    lines = [f"  run       {safe(run and r.run_id, 80)}{name}{model}{host}{started}"]
    if r.argv:
        lines.append(f"  command   {safe(shlex.join(r.argv), 300)}")
    lines.append(f"  layers    {_n(r.params)} parameter tensors in {_n(r.modules)} modules")
    steps = f"  steps     {_n(r.steps)} logged"
    if r.steps:
        steps += f" (step {_n(r.first_step)} to {_n(r.last_step)})"
        steps += f"; last loss {_number(r.last_loss)}"
    lines.append(steps)
    if r.scalars:
        shown = ", ".join(f"{safe(k, 40)} {_short(v)}" for k, v in r.scalars[:8])
        more = f" (+{len(r.scalars) - 8} more in --json)" if len(r.scalars) > 8 else ""
        lines.append(f"  scalars   {shown}{more} (newest)")
    if r.logger_share is not None:
        lines.append(
            f"  cost      gradtop took {r.logger_share:.1%} of the step time (newest steps)"
        )
    return lines


def format_summary(s: CheckSummary, color: bool = False) -> str:
    """The human summary: one block for the selected run, findings, then earlier runs."""
    run = s.run
    lines = [f"gradtop check  {safe(s.file, 300)}", *_run_lines(run)]
    lines.append(f"  records   {_n(s.records)} read{skipped_text(s.skipped)}")
    file_notes = _file_notes(s)
    if file_notes:
        lines.append(f"  file      {'; '.join(file_notes)}")
    if s.ignored:
        parts = ", ".join(f"{safe(k, 40)} {_n(v)}" for k, v in sorted(s.ignored.items()))
        lines.append(f"  ignored   {parts} (values in steps that were not kept)")
    if run is not None:
        if run.ended:
            dropped = f", {_n(run.dropped)} records dropped" if run.dropped else ""
            lines.append(f"  end       {safe(run.end_reason, 40)}{dropped}")
        else:
            lines.append("  end       none yet: still running, or the writer stopped")
        if run.first_nonfinite:
            nonfinite = run.first_nonfinite
            where = _names(list(nonfinite.params))
            lines.append(f"  nonfinite first at step {_n(nonfinite.step)} in {where}")
    if s.version_error:
        lines.append(f"  warning   {safe(s.version_error, 300)}")
    lines.append(_findings_line(s.findings, color))
    for f in s.findings:
        lines.extend(format_finding(f, color))
    earlier = [r for r in s.runs if r.run_id != s.run_id]
    if earlier:
        lines.append(f"other runs read from this path ({len(earlier)}):")
        for r in earlier:
            span = f", step {_n(r.first_step)} to {_n(r.last_step)}" if r.steps else ""
            ended = ", ended" if r.ended else ""
            model = f" ({safe(r.model, 80)})" if r.model else ""
            name = f' "{safe(r.name, 80)}"' if r.name else ""
            lines.append(f"  {safe(r.run_id, 80)}{name}{model}  {_n(r.steps)} steps{span}{ended}")
    return "\n".join(lines)


def describe_changes(
    prev: CheckSummary | None, cur: CheckSummary, color: bool = False
) -> list[str]:
    """Text lines for what changed between two summaries (the whole summary at first)."""
    if prev is None or (prev.run is None and cur.run is not None):
        if cur.run is not None:
            return [format_summary(cur, color)]
        if cur.state == WAITING:
            return [f"waiting for {safe(cur.file, 300)} to appear"]
        if cur.state == ERROR:
            message = safe(cur.message, 200)
            again = "" if "retrying" in message else "; retrying"  # ssh says when itself
            return [f"cannot read {safe(cur.file, 300)} yet: {message}{again}"]
        skipped = skipped_text(cur.skipped)
        return [f"no gradtop run yet in {safe(cur.file, 300)}{skipped}"]
    lines: list[str] = []
    if cur.message != prev.message and cur.message:
        lines.append(safe(cur.message, 200))
    elif cur.state != prev.state:
        lines.append(f"file {safe(cur.state, 20)}")
    if cur.version_error and cur.version_error != prev.version_error:
        lines.append(f"warning: {safe(cur.version_error, 300)}")
    run, before = cur.run, prev.run
    if run is not None:
        lines.extend(_run_changes(before, run))
    if run is not None and run.ended and not (before is not None and before.ended):
        lines.append(f"run ended ({safe(run.end_reason, 40)})")
    grown = {
        reason: n - prev.skipped.get(reason, 0)
        for reason, n in cur.skipped.items()
        if n > prev.skipped.get(reason, 0)
    }
    if grown:
        parts = ", ".join(f"{safe(r, 40)} +{n:,}" for r, n in sorted(grown.items()))
        lines.append(f"skipped +{sum(grown.values()):,} lines ({parts})")
    lines.extend(_finding_changes(prev.findings, cur.findings, color))
    return lines


def _run_changes(before: RunReport | None, run: RunReport) -> list[str]:
    """Another run than before, and the steps it gained."""
    lines: list[str] = []
    same = before is not None and before.run_id == run.run_id
    if not same:
        model = f" ({safe(run.model, 80)})" if run.model else ""
        name = f' "{safe(run.name, 80)}"' if run.name else ""
        lines.append(
            f"run {safe(run.run_id, 80)}{name}{model}: {run.params:,} parameter tensors "
            f"in {run.modules:,} modules"
        )
    new_steps = run.steps - (before.steps if same and before is not None else 0)
    if new_steps > 0:
        loss = run.last_loss
        loss_text = loss if isinstance(loss, str) or loss is None else f"{loss:.3e}"
        last_step = run.last_step if run.last_step is not None else 0
        lines.append(
            f"step {last_step:,}  loss {loss_text}  (+{new_steps:,} "
            f"step{'s' if new_steps > 1 else ''}, "
            f"{run.steps:,} in this run)"
        )
    return lines


def _finding_changes(
    prev: Sequence[FindingReport], cur: Sequence[FindingReport], color: bool
) -> list[str]:
    # A finding that changes severity (info -> warning) is news, as --json shows it.
    before = {(f.key, f.active, f.severity) for f in prev}
    lines: list[str] = []
    for f in cur:
        if (f.key, f.active, f.severity) in before:
            continue
        if f.active:
            lines.extend(format_finding(f, color))
        else:
            lines.append(f"cleared: {safe(f.title, 300)} at step {f.cleared_step}")
    return lines

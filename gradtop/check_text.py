"""The text form of ``gradtop check``: a summary a human reads in a CI log.

It renders the JSON-ready summary dict (``gradtop.check.summarise``), so text and
``--json`` can never disagree. Every string from the file goes through ``safe``;
colour is opt-in (the caller decides: a terminal, and no NO_COLOR).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import click

from gradtop.reader.status import ERROR, SKIP_REASONS, WAITING
from gradtop.text import safe_text

MAX_NAMES = 4
_SEVERITY_STYLE = {
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


def format_finding(f: Mapping[str, Any], color: bool) -> list[str]:
    severity = f.get("severity", "info")
    label = f"{severity.upper():<9}"
    steps = f"steps {_n(f.get('first_step'))} to {_n(f.get('last_step'))}"
    if not f.get("active", True):
        steps += f", cleared at step {_n(f.get('cleared_step'))}"
    head = f"  {_style(label, severity, color, f.get('active', True))} "
    lines = [f"{head}{safe(f.get('title'), 300)} ({steps})"]
    pad = " " * 12
    if f.get("params"):
        lines.append(f"{pad}layers: {_names(list(f['params']))}")
    for e in f.get("evidence", [])[:3]:
        where = f" [{safe(e.get('param'), 120)}]" if e.get("param") else ""
        lines.append(
            f"{pad}evidence: {safe(e.get('metric'), 120)}{where} = {_number(e.get('value'))}"
            f" (threshold {safe(e.get('comparison'), 4)} {_number(e.get('threshold'))})"
        )
    lines.extend(f"{pad}fix: {safe(fix.get('title'), 200)}" for fix in f.get("fixes", [])[:2])
    return lines


def _findings_line(findings: list[Mapping[str, Any]], color: bool) -> str:
    active = [f for f in findings if f.get("active", True)]
    if not active:
        healthy = click.style("none", fg="green") if color else "none"
        cleared = f" active ({len(findings)} cleared)" if findings else ""
        return f"  findings  {healthy}{cleared}"
    counts: dict[str, int] = {}
    for f in active:
        counts[f.get("severity", "info")] = counts.get(f.get("severity", "info"), 0) + 1
    parts = ", ".join(f"{counts[s]} {s}" for s in ("critical", "warning", "info") if s in counts)
    return f"  findings  {len(active)} active: {parts}"


def format_summary(s: Mapping[str, Any], color: bool = False) -> str:
    """The human summary: one block for the selected run, findings, then earlier runs."""
    lines = [f"gradtop check  {safe(s['file'], 300)}"]
    model = f" ({safe(s.get('model'), 80)})" if s.get("model") else ""
    host = f" on {safe(s.get('host'), 80)}" if s.get("host") else ""
    lines.append(f"  run       {safe(s.get('run_id'), 80)}{model}{host}{_when(s.get('started'))}")
    lines.append(f"  layers    {_n(s['params'])} parameter tensors in {_n(s['modules'])} modules")
    steps = f"  steps     {_n(s['steps'])} logged"
    if s["steps"]:
        steps += f" (step {_n(s.get('first_step'))} to {_n(s.get('last_step'))})"
        steps += f"; last loss {_number(s.get('last_loss'))}"
    lines.append(steps)
    lines.append(f"  records   {_n(s['records'])} read{skipped_text(s['skipped'])}")
    file_notes = []
    if s["truncations"]:
        file_notes.append(f"truncated {_n(s['truncations'])}x")
    if s["rotations"]:
        file_notes.append(f"replaced {_n(s['rotations'])}x")
    if s.get("runs_continued"):
        file_notes.append(f"run header repeated {_n(s['runs_continued'])}x (run continued)")
    if s.get("runs_restarted"):
        file_notes.append(
            f"run restarted {_n(s['runs_restarted'])}x (same run id, other parameter list)"
        )
    if s.get("partial_bytes"):
        file_notes.append(f"last line incomplete ({_n(s['partial_bytes'])} bytes)")
    if s.get("state") not in (None, "following"):
        file_notes.append(f"file {safe(s['state'], 20)}")
    if file_notes:
        lines.append(f"  file      {'; '.join(file_notes)}")
    ignored = s.get("ignored") or {}
    if ignored:
        parts = ", ".join(f"{safe(k, 40)} {_n(v)}" for k, v in sorted(ignored.items()))
        lines.append(f"  ignored   {parts} (values in steps that were not kept)")
    if s.get("run_id") is not None:
        if s.get("ended"):
            dropped = f", {_n(s.get('dropped'))} records dropped" if s.get("dropped") else ""
            lines.append(f"  end       {safe(s.get('end_reason'), 40)}{dropped}")
        else:
            lines.append("  end       none yet: still running, or the writer stopped")
    nonfinite = s.get("first_nonfinite")
    if nonfinite:
        where = _names(nonfinite.get("params", []))
        lines.append(f"  nonfinite first at step {_n(nonfinite.get('step'))} in {where}")
    if s.get("version_error"):
        lines.append(f"  warning   {safe(s['version_error'], 300)}")
    findings = s.get("findings", [])
    lines.append(_findings_line(findings, color))
    for f in findings:
        lines.extend(format_finding(f, color))
    earlier = [r for r in s.get("runs", []) if r.get("run_id") != s.get("run_id")]
    if earlier:
        lines.append(f"other runs read from this path ({len(earlier)}):")
        for r in earlier:
            span = f", step {_n(r.get('first_step'))} to {_n(r.get('last_step'))}"
            span = span if r.get("steps") else ""
            ended = ", ended" if r.get("ended") else ""
            model = f" ({safe(r.get('model'), 80)})" if r.get("model") else ""
            lines.append(
                f"  {safe(r.get('run_id'), 80)}{model}  {_n(r.get('steps'))} steps{span}{ended}"
            )
    return "\n".join(lines)


def describe_changes(
    prev: Mapping[str, Any] | None, cur: Mapping[str, Any], color: bool = False
) -> list[str]:
    """Text lines for what changed between two summaries (the whole summary at first)."""
    if prev is None or (prev.get("run_id") is None and cur.get("run_id") is not None):
        if cur.get("run_id") is not None:
            return [format_summary(cur, color)]
        if cur["state"] == WAITING:
            return [f"waiting for {safe(cur['file'], 300)} to appear"]
        if cur["state"] == ERROR:
            message = safe(cur["message"], 200)
            return [f"cannot read {safe(cur['file'], 300)} yet: {message}; retrying"]
        skipped = skipped_text(cur["skipped"])
        return [f"no gradtop run yet in {safe(cur['file'], 300)}{skipped}"]
    lines: list[str] = []
    if cur["message"] != prev["message"] and cur["message"]:
        lines.append(safe(cur["message"], 200))
    elif cur["state"] != prev["state"]:
        lines.append(f"file {safe(cur['state'], 20)}")
    if cur.get("version_error") and cur["version_error"] != prev.get("version_error"):
        lines.append(f"warning: {safe(cur['version_error'], 300)}")
    if cur.get("run_id") != prev.get("run_id") and cur.get("run_id") is not None:
        model = f" ({safe(cur.get('model'), 80)})" if cur.get("model") else ""
        lines.append(
            f"run {safe(cur['run_id'], 80)}{model}: {cur['params']:,} parameter tensors "
            f"in {cur['modules']:,} modules"
        )
    new_steps = cur["steps"] - (prev["steps"] if cur.get("run_id") == prev.get("run_id") else 0)
    if new_steps > 0:
        loss = cur.get("last_loss")
        loss_text = loss if isinstance(loss, str) or loss is None else f"{loss:.3e}"
        lines.append(
            f"step {cur['last_step']:,}  loss {loss_text}  (+{new_steps:,} "
            f"step{'s' if new_steps > 1 else ''}, "
            f"{cur['steps']:,} in this run)"
        )
    if cur.get("ended") and not prev.get("ended"):
        lines.append(f"run ended ({safe(cur.get('end_reason'), 40)})")
    grown = {
        reason: n - prev["skipped"].get(reason, 0)
        for reason, n in cur["skipped"].items()
        if n > prev["skipped"].get(reason, 0)
    }
    if grown:
        parts = ", ".join(f"{safe(r, 40)} +{n:,}" for r, n in sorted(grown.items()))
        lines.append(f"skipped +{sum(grown.values()):,} lines ({parts})")
    lines.extend(_finding_changes(prev.get("findings", []), cur.get("findings", []), color))
    return lines


def _finding_changes(prev: list[dict], cur: list[dict], color: bool) -> list[str]:
    before = {(f["key"], f.get("active", True)): f for f in prev}
    lines: list[str] = []
    for f in cur:
        if (f["key"], f.get("active", True)) in before:
            continue
        if f.get("active", True):
            lines.extend(format_finding(f, color))
        else:
            lines.append(f"cleared: {safe(f['title'], 300)} at step {f.get('cleared_step')}")
    return lines

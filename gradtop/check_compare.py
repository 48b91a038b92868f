"""``gradtop check A B``: the run before a fix beside the run after it, and what changed.

Each file is read by the one-shot check's own pipeline (``gradtop.check.Check``) and its
newest run is reduced to what runs are compared by: the loss now, the depth ratio R and
the profile it comes from (``gradtop.diagnosis.depth_profile``, the demo strip's numbers)
and the active findings. The verdict is built from those measurements only: a kind is
"gone" when A has it active and B does not, a number is quoted as read, and nothing is
said of what was not measured. The exit code is the worse of the two checks' own.

``ComparedRun.of`` builds a side from a RunHistory and its findings, so the comparison in
``gradtop watch`` (``gradtop.ui.compare_view``) says the same verdict as this command.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gradtop.check import (
    EXIT_UNREADABLE,
    Check,
    CheckOptions,
    Echo,
    exit_code,
    read_all,
    why_unreadable,
)
from gradtop.check_summary import FindingReport, json_number
from gradtop.check_text import format_finding, safe
from gradtop.diagnosis import Finding, Severity, Thresholds
from gradtop.diagnosis.depth_profile import RECENT, layer_profile, recent_loss
from gradtop.history import RunHistory
from gradtop.teaching.texts import kind as kind_name


@dataclass(frozen=True)
class ComparedRun:
    """One side of the comparison: the newest run of one file, as measured."""

    file: str
    run_id: str
    name: str
    model: str
    steps: int
    last_step: int | None
    loss: float | None  # median of the recent finite losses; NaN once it went non-finite
    depth_ratio: float | None  # g_rms(first layer) / g_rms(last hidden layer)
    profile: tuple[float, ...]  # g_rms per weight layer, depth order
    findings: tuple[FindingReport, ...]  # the active ones, the Diagnoser's order
    exit_code: int = 0  # the one-file check's exit code (0 where no check ran: watch)
    warning: str = ""  # the reader's version note (lines of a newer major skipped)

    @classmethod
    def of(
        cls,
        run: RunHistory,
        findings: Sequence[Finding],
        *,
        file: str,
        exit_code: int = 0,
        warning: str = "",
    ) -> ComparedRun:
        """The run as measured (call with the run's lock held, if it has one: this reads
        its tables); the result holds no reference to the run."""
        profile, ratio = layer_profile(run)
        return cls(
            file=file,
            run_id=run.run_id,
            name=run.header.name,
            model=run.header.model,
            steps=run.steps,
            last_step=run.last_step,
            loss=recent_loss(run),
            depth_ratio=ratio,
            profile=profile,
            findings=tuple(FindingReport.of(f, run) for f in findings if f.active),
            exit_code=exit_code,
            warning=warning,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "run_id": self.run_id,
            "name": self.name,
            "model": self.model,
            "steps": self.steps,
            "last_step": self.last_step,
            "loss": json_number(self.loss),
            "depth_ratio": json_number(self.depth_ratio),
            "profile": [json_number(v) for v in self.profile],
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class Comparison:
    before: ComparedRun
    after: ComparedRun
    gone: tuple[str, ...]  # kinds active before, not after
    new: tuple[str, ...]  # kinds active after, not before
    changed: tuple[tuple[str, str, str], ...]  # (kind, severity before, after)
    still: tuple[str, ...]  # kinds active in both at the same worst severity
    fail_on: str

    @property
    def verdict(self) -> str:
        """One line of what changed, every word from the two runs' measurements."""
        parts = [f"{_kind(k)} gone" for k in self.gone]
        if self.new:
            parts.append("new: " + ", ".join(_kind(k) for k in self.new))
        parts.extend(f"{_kind(k)} {a} -> {b}" for k, a, b in self.changed)
        if self.still:
            parts.append("still: " + ", ".join(_kind(k) for k in self.still))
        if not parts:
            parts.append("no active findings in either run")
        a, b = self.before.depth_ratio, self.after.depth_ratio
        if a is not None or b is not None:
            parts.append(f"depth ratio {ratio_text(a)} -> {ratio_text(b)}")
        if self.before.loss is not None or self.after.loss is not None:
            parts.append(f"loss {loss_text(self.before.loss)} -> {loss_text(self.after.loss)}")
        return "; ".join(parts)

    @property
    def exit_code(self) -> int:
        return max(self.before.exit_code, self.after.exit_code)

    def to_json(self) -> dict[str, Any]:
        return {
            "compare": [self.before.to_json(), self.after.to_json()],
            "verdict": self.verdict,
            "gone": list(self.gone),
            "new": list(self.new),
            "changed": [{"kind": k, "before": a, "after": b} for k, a, b in self.changed],
            "still": list(self.still),
            "fail_on": self.fail_on,
        }


def _kind(kind: str) -> str:
    return safe(kind_name("en", kind), 60)


def ratio_text(value: float | None) -> str:
    """A depth ratio as people quote it: two digits, ``3.1e-7`` or ``0.42``."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Inf"
    if value != 0 and not 1e-3 <= abs(value) < 10:
        mantissa, _, exponent = f"{value:.1e}".partition("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.2g}"


def loss_text(value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isnan(value):
        return "NaN"
    return f"{value:.4g}"


def _worst(findings: Sequence[FindingReport]) -> dict[str, str]:
    """Each active kind's worst severity label, in the order the findings came."""
    worst: dict[str, str] = {}
    for f in findings:
        if f.kind not in worst or Severity.parse(f.severity) > Severity.parse(worst[f.kind]):
            worst[f.kind] = f.severity
    return worst


def compare(before: ComparedRun, after: ComparedRun, fail_on: str) -> Comparison:
    a, b = _worst(before.findings), _worst(after.findings)
    return Comparison(
        before,
        after,
        gone=tuple(k for k in a if k not in b),
        new=tuple(k for k in b if k not in a),
        changed=tuple((k, a[k], b[k]) for k in a if k in b and a[k] != b[k]),
        still=tuple(k for k in a if k in b and a[k] == b[k]),
        fail_on=fail_on,
    )


def measure(options: CheckOptions, path: str) -> ComparedRun | str:
    """The newest run of ``path`` as measured, or the one-line reason it cannot be."""
    check = Check(
        path,
        None,
        fail_on=options.fail_on,
        thresholds=Thresholds.from_overrides(options.thresholds),
    )
    status = read_all(check)
    reason = why_unreadable(check, status)
    run = check.selected()
    if reason is not None or run is None:
        return reason or f"no gradtop run found in {safe(path, 300)}"
    summary = check.summary(status)
    return ComparedRun.of(
        run,
        check.findings(run),
        file=path,
        exit_code=exit_code(summary),
        warning=status.version_error,
    )


def format_comparison(c: Comparison, color: bool = False) -> str:
    lines = ["gradtop check  compare the newest run of each file"]
    for label, run in (("A", c.before), ("B", c.after)):
        name = f' "{safe(run.name, 80)}"' if run.name else ""
        model = f" ({safe(run.model, 80)})" if run.model else ""
        lines.append(f"  {label}  {safe(run.file, 300)}")
        lines.append(f"     run       {safe(run.run_id, 80)}{name}{model}, {run.steps:,} steps")
        lines.append(
            f"     loss      {loss_text(run.loss)} (median of the last {RECENT} logged steps)"
        )
        lines.append(
            f"     depth     ratio {ratio_text(run.depth_ratio)} "
            f"(g_rms of the first layer / the last hidden layer, over {len(run.profile)} layers)"
        )
        if not run.findings:
            lines.append("     findings  none active")
        for f in run.findings:
            lines.extend("   " + line for line in format_finding(f, color)[:1])
    lines.append(f"  verdict   {c.verdict}")
    return "\n".join(lines)


def compare_files(options: CheckOptions, echo: Echo, echo_err: Echo) -> int:
    """Read both files once, print the comparison, return the worse exit code."""
    sides: list[ComparedRun] = []
    for path in (options.path, *options.others):
        side = measure(options, path)
        if isinstance(side, str):
            echo_err(f"gradtop check: {side}")
            return EXIT_UNREADABLE
        sides.append(side)
    comparison = compare(sides[0], sides[1], options.fail_on)
    if options.as_json:
        out = comparison.to_json()
        echo(json.dumps(out, ensure_ascii=True, allow_nan=False, separators=(",", ":")))
    else:
        echo(format_comparison(comparison, options.color))
    for side in sides:  # as a one-file check says it: after the report, on stderr
        if side.warning:
            echo_err(f"gradtop check: warning: {safe(side.file, 300)}: {safe(side.warning, 300)}")
    return comparison.exit_code

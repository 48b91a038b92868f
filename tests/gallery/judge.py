"""What gradtop's diagnosis says about a case's file, and whether that fits the case's label.

The file is read the way ``gradtop watch`` reads it (``gradtop.teaching.scorecard.diagnose_file``:
the real reader in small batches, the Diagnoser updated after every batch). The label
(``Case.expected`` and friends) comes from the case's own evidence, never from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from gradtop.diagnosis import Evidence, Finding, Severity
from gradtop.teaching.scorecard import diagnose_file
from tests.gallery.cases import Case


@dataclass(frozen=True)
class Seen:
    """One finding, with its parameter indices turned into names."""

    kind: str
    severity: Severity
    active: bool
    first_step: int
    cleared_step: int | None
    layers: tuple[str, ...]
    fixes: tuple[str, ...]
    title: str
    evidence: tuple[Evidence, ...] = ()

    @property
    def loud(self) -> bool:
        return self.severity >= Severity.WARNING

    def short(self) -> str:
        state = "active" if self.active else f"cleared@{self.cleared_step}"
        return f"{self.kind}[{self.severity.label},{state},@{self.first_step}]"


def seen_findings(path: str | os.PathLike[str]) -> list[Seen]:
    run, findings = diagnose_file(path)
    names = [p.name for p in run.params]
    return [_seen(f, names) for f in findings]


def _seen(f: Finding, names: list[str]) -> Seen:
    layers = tuple(names[i] for i in f.params if 0 <= i < len(names))
    return Seen(
        f.kind,
        f.severity,
        f.active,
        f.first_step,
        f.cleared_step,
        layers,
        tuple(fix.key for fix in f.fixes),
        f.title,
        f.evidence,
    )


# A broken run's finding must come this early (logged steps; the runs are 60-300 long).
DEADLINE = 60
_HOLDS = {
    "<": lambda v, t: v < t,
    "<=": lambda v, t: v <= t,
    ">": lambda v, t: v > t,
    ">=": lambda v, t: v >= t,
}


def untrue_evidence(f: Seen) -> list[str]:
    """Evidence lines whose number does not pass the threshold printed beside it: a
    finding must never show a number that contradicts it."""
    bad = []
    for e in f.evidence:
        holds = _HOLDS.get(e.comparison)
        if holds is not None and not holds(e.value, e.threshold):
            bad.append(
                f"{f.kind}: {e.metric} = {e.value:.3g}, not {e.comparison} {e.threshold:.3g}"
            )
    return bad


def _finding_problems(case: Case, f: Seen) -> list[str]:
    problems = [
        f"{f.kind} does not name a '{want}' parameter (names {list(f.layers)})"
        for want in case.expected_layers
        if not any(want in name for name in f.layers)
    ]
    bad = [name for name in f.layers if any(no in name for no in case.forbidden_layers)]
    if bad:
        problems.append(f"{f.kind} names layers it should not: {bad}")
    wrong_fixes = [k for k in f.fixes if k in case.forbidden_fixes]
    if wrong_fixes:
        problems.append(f"{f.kind} offers fixes that do not fit: {wrong_fixes}")
    if f.first_step > DEADLINE:
        problems.append(f"{f.kind} came late: step {f.first_step} > {DEADLINE}")
    return problems


def allowed_warnings(case: Case, evidence: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The case's allowed warnings, plus grad_spike when the run measured a spike itself.

    A healthy run may have real, isolated gradient spikes (> 10x its median norm, by the
    run's own ``p.grad.norm()``) that its clipping contains: saying so is not a false alarm.
    """
    allowed = case.allowed_warnings
    if evidence and evidence.get("grad_spikes") and "grad_spike" not in allowed:
        allowed = (*allowed, "grad_spike")
    return allowed


def judge(case: Case, findings: list[Seen], evidence: dict[str, Any] | None = None) -> list[str]:
    """Everything gradtop got wrong about ``case``; [] when its diagnosis fits the label."""
    problems: list[str] = [line for f in findings for line in untrue_evidence(f)]
    loud = [f for f in findings if f.loud]
    allowed = allowed_warnings(case, evidence)
    if not case.expected_kinds:
        false = [f.short() for f in loud if f.active and f.kind not in allowed]
        if false:
            problems.append(f"healthy run, yet active warnings: {false}")
        for f in loud:  # an allowed warning must still not offer advice that cannot fit
            wrong = [k for k in f.fixes if k in case.forbidden_fixes]
            if f.kind in allowed and wrong:
                problems.append(f"{f.kind} offers fixes that do not fit: {wrong}")
        return list(dict.fromkeys(problems))
    hits = [f for f in loud if f.kind in case.expected_kinds]
    if not hits:
        got = [f.short() for f in findings] or "nothing"
        problems.append(f"expected {'/'.join(case.expected_kinds)} at warning+, got {got}")
        return problems
    # the best-fitting finding of an expected kind must satisfy every condition
    best = min((_finding_problems(case, f) for f in hits), key=len)
    problems.extend(best)
    return problems


def describe(findings: list[Seen]) -> list[str]:
    """Warning-or-worse findings, one line each, for tables and assertion messages."""
    out = []
    for f in findings:
        if not f.loud:
            continue
        layers = _short_layers(f.layers)
        out.append(f"{f.short()} layers={layers} fixes={list(f.fixes)}")
    return out


def _short_layers(layers: tuple[str, ...], limit: int = 4) -> str:
    if not layers:
        return "-"
    shown = ",".join(layers[:limit])
    return shown + (f",+{len(layers) - limit}" if len(layers) > limit else "")

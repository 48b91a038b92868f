"""The per-layer rows the table shows: values, a status word, sorting and filtering.

Pure (numpy and the shared vocabulary only) so the rules that decide what a user sees
first are unit-tested without a terminal. Thresholded judgements (vanishing, exploding,
dead units...) come from the Diagnoser's findings; the only statuses decided here are
plain facts read off the newest step: a non-finite gradient, a missing gradient, a
parameter that does not require grad.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from gradtop.diagnosis.findings import Finding, Severity
from gradtop.diagnosis.kinds import FINDING_KINDS
from gradtop.diagnosis.series import nanmedian_rows
from gradtop.history import RunHistory
from gradtop.records import ParamInfo


@dataclass(frozen=True, slots=True)
class LayerStatus:
    """What the status column says. ``label`` carries a symbol and a word so the meaning
    survives NO_COLOR and monochrome terminals; ``tone`` picks the colour when there is one."""

    key: str
    label: str
    tone: str  # "error", "warning", "muted", "ok", "info"
    rank: int  # higher = more urgent (severity sort)

    @property
    def sick(self) -> bool:
        return self.tone in ("error", "warning")


OK = LayerStatus("ok", "✓ ok", "ok", 0)
UNKNOWN = LayerStatus("unknown", "? unknown", "muted", 0)  # no diagnosis: never "ok"
WAITING = LayerStatus("waiting", "… waiting", "muted", 0)  # no step measured yet: not "ok"
# The word a layer row shows for each finding kind that has one (gradtop.diagnosis.kinds).
KIND_STATUS: dict[str, LayerStatus] = {
    k.id: LayerStatus(k.id, k.row.label, k.row.tone, k.row.rank)
    for k in FINDING_KINDS
    if k.row is not None
}
# Plain facts of the newest step show the same words as the findings that report them.
FROZEN = KIND_STATUS["frozen"]
NO_GRAD = KIND_STATUS["no_grad"]
NONFINITE = KIND_STATUS["nonfinite"]


def status_for_finding(finding: Finding) -> LayerStatus:
    """The row status a finding gives the layers it names (unknown kinds still show)."""
    known = KIND_STATUS.get(finding.kind)
    if known is not None:
        if finding.severity < Severity.WARNING and known.tone == "error":
            return LayerStatus(known.key, known.label, "warning", known.rank - 10)
        return known
    tone = {Severity.CRITICAL: "error", Severity.WARNING: "warning"}.get(finding.severity, "info")
    word = finding.kind.replace("_", " ")[:9]
    return LayerStatus(finding.kind, f"! {word}", tone, 30 + 10 * int(finding.severity))


@dataclass(slots=True)
class LayerRow:
    """One parameter tensor as the table shows it at the newest step."""

    index: int
    info: ParamInfo
    grad_norm: float | None = None
    weight_norm: float | None = None
    update_ratio: float | None = None
    zero_frac: float | None = None
    nonfinite: float | None = None
    typical_norm: float | None = None  # median |grad| of the last few steps (flow bar)
    status: LayerStatus = OK
    kinds: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.info.name


def _last(run: RunHistory, stat: str, n: int, lookback: int = 1) -> list[float | None]:
    """The newest value of ``stat`` per parameter; None where missing or never logged.

    ``lookback`` > 1: the newest row of the last ``lookback`` that was measured at all,
    for statistics the logger writes only on detail steps (null in between), so the
    table shows the last measurement instead of blinking empty between them.
    """
    table = run.stats.get(stat)
    if table is None or len(table) == 0:
        return [None] * n
    _steps, values = table.recent(max(1, lookback))
    missing = table.recent_missing(max(1, lookback))
    measured = np.flatnonzero(~missing.all(axis=1))
    k = int(measured[-1]) if len(measured) else len(values) - 1
    row, miss = values[k], missing[k]
    return [None if m else float(v) for v, m in zip(row.tolist(), miss.tolist(), strict=True)]


FLOW_STEPS = 8  # steps the flow bar's median looks back over


def _typical(run: RunHistory, n: int) -> list[float | None]:
    """Median grad norm of the last FLOW_STEPS steps per parameter: the depth pattern
    without step-to-step noise. A non-finite newest value wins (never smoothed away)."""
    table = run.stats.get("grad_norm")
    if table is None or len(table) == 0:
        return [None] * n
    _steps, values = table.recent(FLOW_STEPS)
    missing = table.recent_missing(FLOW_STEPS)
    finite = np.where(np.isfinite(values) & ~missing, values, np.nan)
    med = nanmedian_rows(finite.T)  # NaN for an all-NaN column, and no RuntimeWarning
    newest, newest_missing = values[-1], missing[-1]
    out: list[float | None] = []
    for m, v, miss in zip(med.tolist(), newest.tolist(), newest_missing.tolist(), strict=True):
        if miss:
            out.append(None)
        elif not math.isfinite(v):
            out.append(v)
        else:
            out.append(None if math.isnan(m) else m)
    return out


def build_rows(
    run: RunHistory, findings: Sequence[Finding] = (), *, diagnosed: bool = True
) -> list[LayerRow]:
    """Rows in depth order with the worst status each parameter has earned.

    Without a diagnosis (``diagnosed=False``: it failed) a row that shows no fact of its
    own is "unknown", not "ok": a broken diagnosis must not pass for a healthy model.
    """
    params = run.params
    n = len(params)
    grad = _last(run, "grad_norm", n)
    detail = max(1, run.header.detail_every)  # measured only every detail_every steps
    weight = _last(run, "weight_norm", n, detail)
    update = _last(run, "update_ratio", n, detail)
    zeros = _last(run, "zero_frac", n, detail)
    nonfinite = _last(run, "nonfinite", n)
    typical = _typical(run, n)
    rows = [
        LayerRow(i, p, grad[i], weight[i], update[i], zeros[i], nonfinite[i], typical[i])
        for i, p in enumerate(params)
    ]
    has_data = run.steps > 0
    for row in rows:
        row.status = _fact_status(row, has_data)
        if row.status is OK and not diagnosed:
            row.status = UNKNOWN
    for finding in findings:
        if not finding.active:
            continue
        status = status_for_finding(finding)
        for i in finding.params:
            if 0 <= i < n:
                rows[i].kinds = (*rows[i].kinds, finding.kind)
                if status.rank > rows[i].status.rank:
                    rows[i].status = status
    _share_module_status(rows)
    return rows


def _share_module_status(rows: list[LayerRow]) -> None:
    """A bias (or norm gain) the rules leave out on purpose must not read "✓ ok" right
    under its own module's "▼ VANISH" weight: it shows the module's word, muted (not
    sick itself, so ``n`` skips it and the severity sort keeps it below the weight)."""
    worst: dict[str, LayerStatus] = {}
    for row in rows:
        best = worst.get(row.info.module)
        if row.status.sick and (best is None or row.status.rank > best.rank):
            worst[row.info.module] = row.status
    for row in rows:
        module_status = worst.get(row.info.module)
        if row.status is OK and module_status is not None:
            row.status = LayerStatus(
                module_status.key, module_status.label, "muted", module_status.rank - 1
            )


def _fact_status(row: LayerRow, has_data: bool) -> LayerStatus:
    if not row.info.requires_grad:
        return FROZEN
    g = row.grad_norm
    if (g is not None and not math.isfinite(g)) or (row.nonfinite or 0) > 0:
        return NONFINITE
    if not has_data:
        return WAITING  # nothing measured: "ok" would be a claim without a number
    if g is None:
        return NO_GRAD
    return OK


class SortKey(str, Enum):
    """Table orders; depth is the natural one (gradient flow reads top to bottom)."""

    DEPTH = "depth"
    GRAD_NORM = "grad norm"
    SEVERITY = "severity"

    def next(self) -> SortKey:
        order = list(SortKey)
        return order[(order.index(self) + 1) % len(order)]


def _norm_key(row: LayerRow) -> tuple[int, float, int]:
    """Largest first; non-finite above everything, missing below everything."""
    g = row.grad_norm
    if g is None:
        return (2, 0.0, row.index)
    if not math.isfinite(g):
        return (0, 0.0, row.index)
    return (1, -g, row.index)


def sort_rows(rows: Iterable[LayerRow], key: SortKey) -> list[LayerRow]:
    if key is SortKey.GRAD_NORM:
        return sorted(rows, key=_norm_key)
    if key is SortKey.SEVERITY:
        return sorted(rows, key=lambda r: (-r.status.rank, r.index))
    return sorted(rows, key=lambda r: r.index)


def filter_rows(rows: Iterable[LayerRow], text: str) -> list[LayerRow]:
    """Case-insensitive substring match on the name, the module type or the status word."""
    needle = text.strip().lower()
    if not needle:
        return list(rows)
    return [
        r
        for r in rows
        if needle in r.info.name.lower()
        or needle in r.info.module_type.lower()
        or needle in r.status.label.lower()
    ]


def next_sick(rows: Sequence[LayerRow], after: int) -> int | None:
    """Position of the next sick row after position ``after``, wrapping; None if none."""
    n = len(rows)
    for k in range(1, n + 1):
        pos = (after + k) % n
        if rows[pos].status.sick:
            return pos
    return None

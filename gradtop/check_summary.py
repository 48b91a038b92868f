"""What ``gradtop check`` reports, as data: the text and the ``--json`` output render this.

Typed fields instead of a dict of string keys, so a renamed field is an error where it
is used, not a silent ``None``. Numbers are kept JSON-safe (NaN and Inf as the strings
the record format uses): two summaries of the same state compare equal, which is how
``check --follow`` tells that something changed. ``to_json`` is the stable object that CI
scripts parse (key order included): change it only on purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gradtop.history import LOSS, History, RunHistory
from gradtop.reader.status import FOLLOWING

if TYPE_CHECKING:  # types only: a summary is built from what was read, never reads
    from gradtop.diagnosis import Finding
    from gradtop.reader import ReaderStatus

DEFAULT_FAIL_ON = "critical"

Number = float | int | str | None  # a JSON-safe number: NaN/Inf as strings


def json_number(value: float | int | None) -> Number:
    """JSON-safe number: NaN/Inf as the strings the record format uses, never bare."""
    if value is None or isinstance(value, int) or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Inf" if value > 0 else "-Inf"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def _fix_fields(fix: Any) -> dict[str, Any]:
    fields = ("key", "title", "why", "code", "when")
    return {name: getattr(fix, name) for name in fields if hasattr(fix, name)}


# The state of a file a one-shot check read to its end: "following" would claim a watch
# that never happened (``--follow`` keeps the reader's own word).
READ = "read"


@dataclass(frozen=True)
class EvidenceReport:
    metric: str
    value: Number
    threshold: Number
    comparison: str
    param: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "comparison": self.comparison,
            "param": self.param,
        }


@dataclass(frozen=True)
class FindingReport:
    """One finding, with parameter names instead of indices (the indices kept too)."""

    kind: str
    key: str
    severity: str  # "info", "warning" or "critical"
    active: bool
    title: str
    params: tuple[str, ...] = ()
    param_indices: tuple[int, ...] = ()
    first_step: int | None = None
    last_step: int | None = None
    cleared_step: int | None = None
    evidence: tuple[EvidenceReport, ...] = ()
    explanation: str = ""
    fixes: tuple[dict[str, Any], ...] = ()  # JSON-ready: key, title, why, code, when
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, f: Finding, run: RunHistory) -> FindingReport:
        params = run.params
        return cls(
            kind=f.kind,
            key=f.key,
            severity=f.severity.label,
            active=f.active,
            title=f.title,
            params=tuple(params[i].name for i in f.params if 0 <= i < len(params)),
            param_indices=tuple(f.params),
            first_step=f.first_step,
            last_step=f.last_step,
            cleared_step=f.cleared_step,
            evidence=tuple(
                EvidenceReport(
                    e.metric, json_number(e.value), json_number(e.threshold), e.comparison, e.param
                )
                for e in f.evidence
            ),
            explanation=f.explanation,
            fixes=tuple(_jsonable(_fix_fields(fix)) for fix in f.fixes),
            extra=_jsonable(f.extra),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "severity": self.severity,
            "active": self.active,
            "title": self.title,
            "params": list(self.params),
            "param_indices": list(self.param_indices),
            "first_step": self.first_step,
            "last_step": self.last_step,
            "cleared_step": self.cleared_step,
            "evidence": [e.to_json() for e in self.evidence],
            "explanation": self.explanation,
            "fixes": [dict(fix) for fix in self.fixes],
            "extra": self.extra,
        }


@dataclass(frozen=True)
class RunLine:
    """A run read from the file, in one line (every run, the reported one included)."""

    run_id: str
    model: str
    steps: int
    first_step: int | None
    last_step: int | None
    ended: bool
    name: str = ""  # the Logger's name= (format 1.4)

    @classmethod
    def of(cls, run: RunHistory) -> RunLine:
        return cls(
            run.run_id,
            run.header.model,
            run.steps,
            run.first_step,
            run.last_step,
            run.end is not None,
            run.header.name,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "steps": self.steps,
            "first_step": self.first_step,
            "last_step": self.last_step,
            "ended": self.ended,
            "name": self.name,
        }


@dataclass(frozen=True)
class FirstNonFinite:
    step: int
    params: tuple[str, ...]  # names, depth order, at most 20


@dataclass(frozen=True)
class RunReport:
    """The reported run: ``--run`` when given, else the newest."""

    run_id: str
    model: str = ""
    host: str = ""
    started: float = 0.0
    world_size: int = 1
    steps: int = 0
    first_step: int | None = None
    last_step: int | None = None
    last_loss: Number = None
    params: int = 0  # parameter tensors
    modules: int = 0
    ended: bool = False
    end_reason: str | None = None
    dropped: int = 0
    seq_gaps: int = 0
    first_nonfinite: FirstNonFinite | None = None
    findings: tuple[FindingReport, ...] = ()
    # The newest value of each log(**scalars) series, in the order the run logged them.
    scalars: tuple[tuple[str, Number], ...] = ()
    logger_share: float | None = None  # the Logger's share of step time (format 1.3)
    name: str = ""  # the Logger's name= and the command that ran (format 1.4)
    argv: tuple[str, ...] = ()

    @classmethod
    def of(cls, run: RunHistory, findings: list[Finding]) -> RunReport:
        header = run.header
        loss = run.scalars.get(LOSS)
        last_loss = loss.last() if loss is not None else None
        nonfinite = run.first_nonfinite
        return cls(
            run_id=run.run_id,
            model=header.model,
            host=header.host,
            started=header.time,
            world_size=header.world_size,
            steps=run.steps,
            first_step=run.first_step,
            last_step=run.last_step,
            last_loss=None if last_loss is None else json_number(float(last_loss[0])),
            params=len(header.params),
            modules=len(run.modules()),
            ended=run.end is not None,
            end_reason=run.end.reason if run.end is not None else None,
            dropped=run.end.dropped if run.end is not None else 0,
            seq_gaps=run.seq_gaps,
            first_nonfinite=None
            if nonfinite is None
            else FirstNonFinite(
                nonfinite.step, tuple(header.params[i].name for i in nonfinite.params[:20])
            ),
            findings=tuple(FindingReport.of(f, run) for f in findings),
            scalars=tuple((k, json_number(v)) for k, v in run.user_scalars().items()),
            logger_share=run.logger_share(),
            name=header.name,
            argv=header.argv,
        )


@dataclass(frozen=True)
class WatchMode:
    """How ``--follow`` learns of changes: file events ("native") or polling, and why."""

    mode: str
    reason: str = ""


@dataclass(frozen=True)
class CheckSummary:
    """Everything ``check`` reports about a file and its selected run."""

    file: str
    state: str = ""
    records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_total: int = 0
    truncations: int = 0
    rotations: int = 0
    # Repeated headers: the same run going on (a Logger reopening a rotated path), or
    # the same id with another parameter list, which dropped that run's history.
    runs_continued: int = 0
    runs_restarted: int = 0
    # Values inside accepted steps that the bounded history did not keep, by reason:
    # unknown statistic names, user scalars past the per-run limit, bad histograms.
    ignored: dict[str, int] = field(default_factory=dict)
    partial_bytes: int = 0
    message: str = ""
    version_error: str = ""
    runs: tuple[RunLine, ...] = ()
    run: RunReport | None = None
    fail_on: str = DEFAULT_FAIL_ON
    watch: WatchMode | None = None  # with --follow only

    @classmethod
    def of(
        cls,
        path: str,
        status: ReaderStatus,
        history: History,
        run: RunHistory | None,
        findings: list[Finding],
        *,
        fail_on: str = DEFAULT_FAIL_ON,
        watch: WatchMode | None = None,
    ) -> CheckSummary:
        return cls(
            file=path,
            state=READ if watch is None and status.state == FOLLOWING else status.state,
            records=status.records,
            skipped=dict(status.skipped),
            skipped_total=status.skipped_total,
            truncations=status.truncations,
            rotations=status.rotations,
            runs_continued=history.continued,
            runs_restarted=history.restarted,
            ignored=dict(history.ignored),
            partial_bytes=status.partial,
            message=status.message,
            version_error=status.version_error,
            runs=tuple(RunLine.of(r) for r in history.runs.values()),
            run=None if run is None else RunReport.of(run, findings),
            fail_on=fail_on,
            watch=watch,
        )

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else self.run.run_id

    @property
    def findings(self) -> tuple[FindingReport, ...]:
        return () if self.run is None else self.run.findings

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object, key for key and in its historical order."""
        run = self.run
        out: dict[str, Any] = {
            "file": self.file,
            "state": self.state,
            "records": self.records,
            "skipped": dict(self.skipped),
            "skipped_total": self.skipped_total,
            "truncations": self.truncations,
            "rotations": self.rotations,
            "runs_continued": self.runs_continued,
            "runs_restarted": self.runs_restarted,
            "ignored": dict(self.ignored),
            "partial_bytes": self.partial_bytes,
            "message": self.message,
            "version_error": self.version_error,
            "run_id": None if run is None else run.run_id,
            "model": None if run is None else run.model,
            "steps": 0 if run is None else run.steps,
            "params": 0 if run is None else run.params,
            "modules": 0 if run is None else run.modules,
            "last_step": None if run is None else run.last_step,
            "last_loss": None if run is None else run.last_loss,
            "findings": [f.to_json() for f in self.findings],
            "runs": [r.to_json() for r in self.runs],
        }
        if run is not None:
            nonfinite = run.first_nonfinite
            out.update(
                host=run.host,
                started=run.started,
                world_size=run.world_size,
                first_step=run.first_step,
                ended=run.ended,
                end_reason=run.end_reason,
                dropped=run.dropped,
                seq_gaps=run.seq_gaps,
                first_nonfinite=None
                if nonfinite is None
                else {"step": nonfinite.step, "params": list(nonfinite.params)},
                scalars=dict(run.scalars),
                logger_share=run.logger_share,
                name=run.name,
                argv=list(run.argv),
            )
        out["fail_on"] = self.fail_on
        if self.watch is not None:
            out["watch"] = {"mode": self.watch.mode, "reason": self.watch.reason}
        return out

"""``gradtop check FILE``: the same pipeline as the live view, as a report for CI and job logs.

FileReader -> History -> diagnosis, exactly what ``gradtop watch`` runs, so a CI check
and a human at a terminal see the same findings. The output is plain text (colour only
on a terminal, never with NO_COLOR) or JSON; every string that came from the file goes
through ``safe_text`` (text) or JSON escaping (json), so a hostile layer name cannot
drive the terminal that prints it.

Exit codes: 0 healthy, 1 active findings at or above ``--fail-on`` (default: critical),
2 unreadable input or usage error (with a one-line reason on stderr). Never a traceback.

The Diagnoser is fed while the file is read (every ``DIAGNOSE_EVERY`` logged steps of a
run), so its persistence rules see the run unfold as ``gradtop watch`` would and report
the step at which a live viewer would have raised each finding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gradtop.check_text import format_summary, safe, skipped_text
from gradtop.diagnosis import Diagnoser, Finding, Severity, Thresholds
from gradtop.diagnosis.diagnoser import REPLAY_EVERY
from gradtop.history import LOSS, History, RunHistory
from gradtop.reader import READ_BYTES, FileReader, ReaderStatus
from gradtop.reader.status import ERROR, WAITING
from gradtop.records import Header, Step

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2
DIAGNOSE_EVERY = REPLAY_EVERY  # logged steps of a run between Diagnoser updates while reading
FAIL_ON = ("info", "warning", "critical", "never")
DEFAULT_FAIL_ON = "critical"

Echo = Callable[[str], None]


class Unreadable(Exception):
    """The input cannot be checked; the message is the one-line reason (exit code 2)."""


@dataclass
class CheckOptions:
    path: str
    as_json: bool = False
    follow: bool = False
    idle_exit: float | None = None
    poll: bool | None = None
    run_id: str | None = None
    color: bool = False
    tick: float = 0.5
    fail_on: str = DEFAULT_FAIL_ON
    thresholds: tuple[str, ...] = ()  # "name=value" overrides of diagnosis Thresholds


# ---------------------------------------------------------------------------- reading


class CheckSession:
    """Records in, summary out: what both one-shot and ``--follow`` runs are built on."""

    def __init__(
        self,
        path: str,
        run_id: str | None = None,
        *,
        fail_on: str = DEFAULT_FAIL_ON,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.path = path
        self.run_id = run_id
        self.history = History()
        self.headers_seen = 0
        self.fail_on = fail_on
        self.diagnoser = Diagnoser(thresholds)
        self._diagnosed: dict[str, int] = {}  # run_id -> steps at its last update

    @classmethod
    def for_options(cls, options: CheckOptions) -> CheckSession:
        """A session with the options' --fail-on and --threshold (already validated)."""
        return cls(
            options.path,
            options.run_id,
            fail_on=options.fail_on,
            thresholds=Thresholds.from_overrides(options.thresholds),
        )

    def feed(self, records: list[Any]) -> None:
        history = self.history
        for record in records:
            history.add(record)
            if isinstance(record, Step):
                self._diagnose_as_read(record.run_id)
            elif isinstance(record, Header):
                for gone in set(self._diagnosed) - set(history.runs):
                    self.diagnoser.forget(gone)
                    del self._diagnosed[gone]
        self.headers_seen = len(history.runs)

    def _diagnose_as_read(self, run_id: str) -> None:
        run = self.history.runs.get(run_id)
        if run is not None and run.steps - self._diagnosed.get(run_id, 0) >= DIAGNOSE_EVERY:
            self.diagnoser.update(run, force=True)
            self._diagnosed[run_id] = run.steps

    def findings(self, run: RunHistory) -> list[Finding]:
        self._diagnosed[run.run_id] = run.steps
        return self.diagnoser.update(run, force=True)

    def selected(self) -> RunHistory | None:
        """The run to report: ``--run`` when given, else the newest."""
        if self.run_id is not None:
            return self.history.runs.get(self.run_id)
        return self.history.current

    def summary(self, status: ReaderStatus) -> dict[str, Any]:
        run = self.selected()
        findings = self.findings(run) if run is not None else []
        out = summarise(self.path, status, self.history, run, findings)
        out["fail_on"] = self.fail_on
        return out


def read_all(path: str, session: CheckSession) -> ReaderStatus:
    """Read ``path`` to its current end into ``session``; the reader's final status."""
    with FileReader(path) as reader:
        while True:
            batch = reader.read(READ_BYTES)
            session.feed(batch.records)
            if batch.status.at_eof:
                return batch.status


def why_unreadable(session: CheckSession, status: ReaderStatus) -> str | None:
    """The one-line reason this check cannot report on a run, or None if it can."""
    name = safe(session.path, 300)
    if status.state == WAITING:
        return f"no such file: {name}"
    if status.state == ERROR:
        return f"{name}: {status.message}"
    if session.run_id is not None and session.selected() is None:
        runs = ", ".join(safe(r, 40) for r in session.history.runs) or "none"
        return f"run {safe(session.run_id, 80)} not found in {name} (runs: {runs})"
    if session.history.current is None:
        if status.version_error:
            return f"{name}: {safe(status.version_error, 300)}"
        skipped = skipped_text(status.skipped)
        return f"no gradtop run found in {name} ({status.records} records{skipped})"
    return None


# ---------------------------------------------------------------------------- JSON


def _num(value: float | int | None) -> float | int | str | None:
    """JSON-safe number: NaN/Inf as the strings the record format uses, never bare."""
    if value is None or isinstance(value, int) or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Inf" if value > 0 else "-Inf"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def finding_to_json(f: Finding, run: RunHistory) -> dict[str, Any]:
    """One finding as JSON, with parameter names instead of indices (``param_indices`` kept)."""
    params = run.params
    return {
        "kind": f.kind,
        "key": f.key,
        "severity": f.severity.label,
        "active": f.active,
        "title": f.title,
        "params": [params[i].name for i in f.params if 0 <= i < len(params)],
        "param_indices": list(f.params),
        "first_step": f.first_step,
        "last_step": f.last_step,
        "cleared_step": f.cleared_step,
        "evidence": [
            {
                "metric": e.metric,
                "value": _num(e.value),
                "threshold": _num(e.threshold),
                "comparison": e.comparison,
                "param": e.param,
            }
            for e in f.evidence
        ],
        "explanation": f.explanation,
        "fixes": [_jsonable(_fix_fields(fix)) for fix in f.fixes],
        "extra": _jsonable(f.extra),
    }


def _fix_fields(fix: Any) -> dict[str, Any]:
    fields = ("key", "title", "why", "code", "when")
    return {name: getattr(fix, name) for name in fields if hasattr(fix, name)}


def _run_json(run: RunHistory) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "model": run.header.model,
        "steps": run.steps,
        "first_step": run.first_step,
        "last_step": run.last_step,
        "ended": run.end is not None,
    }


def summarise(
    path: str,
    status: ReaderStatus,
    history: History,
    run: RunHistory | None,
    findings: list[Finding],
) -> dict[str, Any]:
    """Everything ``check`` reports, as one JSON-ready dict (the text output renders this)."""
    out: dict[str, Any] = {
        "file": path,
        "state": status.state,
        "records": status.records,
        "skipped": dict(status.skipped),
        "skipped_total": status.skipped_total,
        "truncations": status.truncations,
        "rotations": status.rotations,
        # Repeated headers: the same run going on (a Logger reopening a rotated path), or
        # the same id with another parameter list, which dropped that run's history.
        "runs_continued": history.continued,
        "runs_restarted": history.restarted,
        # Values inside accepted steps that the bounded history did not keep, by reason:
        # unknown statistic names, user scalars past the per-run limit, bad histograms.
        "ignored": dict(history.ignored),
        "partial_bytes": status.partial,
        "message": status.message,
        "version_error": status.version_error,
        "run_id": None,
        "model": None,
        "steps": 0,
        "params": 0,
        "modules": 0,
        "last_step": None,
        "last_loss": None,
        "findings": [],
        "runs": [_run_json(r) for r in history.runs.values()],
    }
    if run is None:
        return out
    header = run.header
    loss = run.scalars.get(LOSS)
    last_loss = loss.last() if loss is not None else None
    nonfinite = run.first_nonfinite
    out.update(
        run_id=run.run_id,
        model=header.model,
        host=header.host,
        started=header.time,
        world_size=header.world_size,
        steps=run.steps,
        first_step=run.first_step,
        last_step=run.last_step,
        last_loss=None if last_loss is None else _num(float(last_loss[0])),
        params=len(header.params),
        modules=len(run.modules()),
        ended=run.end is not None,
        end_reason=run.end.reason if run.end is not None else None,
        dropped=run.end.dropped if run.end is not None else 0,
        seq_gaps=run.seq_gaps,
        first_nonfinite=None
        if nonfinite is None
        else {
            "step": nonfinite.step,
            "params": [header.params[i].name for i in nonfinite.params[:20]],
        },
        findings=[finding_to_json(f, run) for f in findings],
    )
    return out


def to_json_line(summary: dict[str, Any]) -> str:
    """One line of strict, ASCII-only JSON (controls and bidi characters escaped)."""
    return json.dumps(summary, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


# ---------------------------------------------------------------------------- entry point


def run_check(options: CheckOptions, echo: Echo, echo_err: Echo) -> int:
    """Run ``gradtop check`` and return its exit code; output goes through the echo functions."""
    try:
        Thresholds.from_overrides(options.thresholds)
    except ValueError as exc:
        echo_err(f"gradtop check: {exc}")
        return EXIT_UNREADABLE
    if options.fail_on not in FAIL_ON:
        echo_err(f"gradtop check: --fail-on must be one of {', '.join(FAIL_ON)}")
        return EXIT_UNREADABLE
    if options.follow:
        from gradtop.check_follow import follow_check

        return follow_check(options, echo, echo_err)
    session = CheckSession.for_options(options)
    status = read_all(options.path, session)
    reason = why_unreadable(session, status)
    if reason is not None:
        echo_err(f"gradtop check: {reason}")
        return EXIT_UNREADABLE
    summary = session.summary(status)
    echo(to_json_line(summary) if options.as_json else format_summary(summary, options.color))
    if status.version_error:
        echo_err(f"gradtop check: warning: {safe(status.version_error, 300)}")
    return exit_code(summary)


def exit_code(summary: dict[str, Any]) -> int:
    """1 when an ACTIVE finding is at or above the summary's ``fail_on`` severity, else 0.

    Cleared findings never fail a check: the problem happened and went away.
    """
    fail_on = summary.get("fail_on", DEFAULT_FAIL_ON)
    if fail_on == "never":
        return EXIT_OK
    floor = Severity.parse(fail_on)
    for f in summary.get("findings", []):
        if f.get("active") and Severity.parse(f.get("severity", "info")) >= floor:
            return EXIT_FINDINGS
    return EXIT_OK

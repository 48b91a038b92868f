"""``gradtop check FILE``: the same pipeline as the live view, as a report for CI and job logs.

FileReader -> History -> diagnosis, exactly what ``gradtop watch`` runs, so a CI check
and a human at a terminal see the same findings. The output is plain text (colour only
on a terminal, never with NO_COLOR) or JSON; every string that came from the file goes
through ``safe_text`` (text) or JSON escaping (json), so a hostile layer name cannot
drive the terminal that prints it.

Exit codes: 0 healthy, 1 active findings at or above ``--fail-on`` (default: critical),
2 unreadable input or usage error (with a one-line reason on stderr). Never a traceback.

The file is read into a ``gradtop.session.Session``, the viewer's: the Diagnoser is fed
while the file is read (every ``DIAGNOSE_EVERY`` logged steps of a run), so its
persistence rules see the run unfold as ``gradtop watch`` would and report the step at
which a live viewer would have raised each finding.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from gradtop.check_summary import DEFAULT_FAIL_ON, CheckSummary, WatchMode
from gradtop.check_text import format_summary, safe, skipped_text
from gradtop.diagnosis import Diagnoser, Finding, Severity, Thresholds
from gradtop.history import History, RunHistory
from gradtop.reader import READ_BYTES, TICK, FileReader, ReaderStatus, open_source
from gradtop.reader.status import ERROR, WAITING
from gradtop.records import Record
from gradtop.session import Session

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_UNREADABLE = 2
FAIL_ON = ("info", "warning", "critical", "never")

Echo = Callable[[str], None]


@dataclass
class CheckOptions:
    path: str
    as_json: bool = False
    follow: bool = False
    idle_exit: float | None = None
    poll: bool | None = None
    run_id: str | None = None
    color: bool = False
    tick: float = TICK
    fail_on: str = DEFAULT_FAIL_ON
    thresholds: tuple[str, ...] = ()  # "name=value" overrides of diagnosis Thresholds
    others: tuple[str, ...] = ()  # FILE... after the first: compared with it (check_compare)


# ---------------------------------------------------------------------------- reading


class Check:
    """One file checked: a Session reading it (the path is its source) and what to report.

    The reading, the per-run Diagnosers and their cadence are the Session's, the same
    as ``gradtop watch``'s; this adds the check's choices: which run, which --fail-on.
    """

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
        self.fail_on = fail_on
        self.session = Session(partial(Diagnoser, thresholds))

    @classmethod
    def for_options(cls, options: CheckOptions) -> Check:
        """A check with the options' --run, --fail-on and --threshold (already validated)."""
        return cls(
            options.path,
            options.run_id,
            fail_on=options.fail_on,
            thresholds=Thresholds.from_overrides(options.thresholds),
        )

    @property
    def history(self) -> History:
        return self.session.history(self.path)

    def feed(self, records: Iterable[Record]) -> None:
        self.session.feed(self.path, records)

    def findings(self, run: RunHistory) -> list[Finding]:
        """The run's findings, up to date."""
        return self.session.findings(self.path, run.run_id)

    def selected(self) -> RunHistory | None:
        """The run to report: ``--run`` (an id, a name, or a unique start or end of the id
        or start of the name: ``Session.runs_matching``) when given, else the newest."""
        if self.run_id is None:
            return self.session.run(self.path)
        matches = self.session.runs_matching(self.path, self.run_id)
        return self.session.run(self.path, matches[0]) if len(matches) == 1 else None

    def summary(self, status: ReaderStatus, watch: WatchMode | None = None) -> CheckSummary:
        run = self.selected()
        findings = self.findings(run) if run is not None else []
        return CheckSummary.of(
            self.path, status, self.history, run, findings, fail_on=self.fail_on, watch=watch
        )


def read_all(check: Check) -> ReaderStatus:
    """Read the check's file to its current end into it; the reader's final status."""
    with FileReader(open_source(check.path, follow=False)) as reader:
        status = reader.status
        for batch in reader.read_to_end(READ_BYTES):
            check.feed(batch.records)
            status = batch.status
    return status


def why_unreadable(check: Check, status: ReaderStatus) -> str | None:
    """The one-line reason this check cannot report on a run, or None if it can."""
    name = safe(check.path, 300)
    if status.state == WAITING:
        return f"no such file: {name}"
    if status.state == ERROR:
        return f"{name}: {status.message}"
    if check.run_id is not None and check.selected() is None:
        matches = check.session.runs_matching(check.path, check.run_id)
        if len(matches) > 1:
            which = ", ".join(safe(r, 40) for r in matches)
            return f"run {safe(check.run_id, 80)} is ambiguous in {name}: it names {which}"
        runs = ", ".join(_run_ref(r) for r in check.history.runs.values()) or "none"
        return f"run {safe(check.run_id, 80)} not found in {name} (runs: {runs})"
    if check.history.current is None:
        if status.version_error:
            return f"{name}: {safe(status.version_error, 300)}"
        skipped = skipped_text(status.skipped)
        return f"no gradtop run found in {name} ({status.records} records{skipped})"
    return None


def _run_ref(run: RunHistory) -> str:
    """A run as --run takes it: its id, and its name when it has one."""
    name = f' "{safe(run.header.name, 40)}"' if run.header.name else ""
    return f"{safe(run.run_id, 40)}{name}"


def to_json_line(summary: CheckSummary) -> str:
    """One line of strict, ASCII-only JSON (controls and bidi characters escaped)."""
    return json.dumps(summary.to_json(), ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def exit_code(summary: CheckSummary) -> int:
    """1 when an ACTIVE finding is at or above the summary's ``fail_on`` severity, else 0.

    Cleared findings never fail a check: the problem happened and went away.
    """
    if summary.fail_on == "never":
        return EXIT_OK
    floor = Severity.parse(summary.fail_on)
    for f in summary.findings:
        if f.active and Severity.parse(f.severity) >= floor:
            return EXIT_FINDINGS
    return EXIT_OK


def check_once(options: CheckOptions, echo: Echo, echo_err: Echo) -> int:
    """Read the file to its end once, report, and return the exit code."""
    check = Check.for_options(options)
    status = read_all(check)
    reason = why_unreadable(check, status)
    if reason is not None:
        echo_err(f"gradtop check: {reason}")
        return EXIT_UNREADABLE
    summary = check.summary(status)
    echo(to_json_line(summary) if options.as_json else format_summary(summary, options.color))
    if status.version_error:
        echo_err(f"gradtop check: warning: {safe(status.version_error, 300)}")
    return exit_code(summary)

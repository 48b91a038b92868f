"""Did gradtop catch what a scenario teaches? Reads a scenario's file the way a viewer does.

The file goes through the real reader (FileReader, in small batches) into the viewer's
``Session``, diagnosing every few logged steps as a live view does, so persistence rules
see the run unfold as ``gradtop watch`` would. Used by the scenario tests, benchmark and demos.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from gradtop.diagnosis import Diagnoser, Finding, Severity, Thresholds
from gradtop.history import RunHistory
from gradtop.session import Session

BATCH_BYTES = 32 * 1024  # a few records per read, like a live view


class Expected(Protocol):
    """What a scenario should raise; ``gradtop.demos.scenarios.Scenario`` is one.

    A protocol, so this pure module never imports the torch-side scenario list.
    """

    name: str
    expect: Sequence[str]  # kinds raised at warning or worse
    expect_info: Sequence[str]  # kinds raised at info or worse
    allow: Sequence[str]  # other kinds that are right too


@dataclass(frozen=True)
class Score:
    scenario: str
    found: dict[str, Finding]  # kind -> its first finding (active or cleared)
    missed: tuple[str, ...]  # expected kinds not raised (at their expected severity)
    false_alarms: tuple[str, ...]  # warning-or-worse kinds neither expected nor allowed
    first_nonfinite_loss: int | None
    lead: int | None  # steps between the exploding warning and the first NaN/Inf loss

    @property
    def ok(self) -> bool:
        return not self.missed and not self.false_alarms


def diagnose_file(
    path: str | os.PathLike[str],
    thresholds: Thresholds | None = None,
    batch_bytes: int = BATCH_BYTES,
) -> tuple[RunHistory, list[Finding]]:
    """The newest run in ``path`` and every finding the Diagnoser raised while reading it."""
    from gradtop.reader import FileReader  # viewer side: never loaded by a training script

    source = os.fspath(path)
    # A live viewer that keeps up diagnoses every few steps, not at the bulk-read cadence:
    # a finding is reported at the step a person watching would have seen it.
    every = (thresholds or Thresholds()).eval_every
    session = Session(partial(Diagnoser, thresholds), diagnose_every=every)
    with FileReader(path) as reader:
        for batch in reader.read_to_end(batch_bytes):
            session.feed(source, batch.records)
    run = session.run(source)
    if run is None:
        raise ValueError(f"no gradtop run in {source}")
    return run, session.findings(source, run.run_id)


def score(
    scenario: Expected, path: str | os.PathLike[str], thresholds: Thresholds | None = None
) -> Score:
    """Compare the findings in ``path`` with what ``scenario`` should raise."""
    run, findings = diagnose_file(path, thresholds)
    found: dict[str, Finding] = {}
    for f in sorted(findings, key=lambda f: f.first_step):
        found.setdefault(f.kind, f)
    worst = {kind: max(f.severity for f in findings if f.kind == kind) for kind in found}
    missed = tuple(
        k
        for k in scenario.expect
        if worst.get(k, Severity.INFO) < Severity.WARNING or k not in found
    )
    missed += tuple(k for k in scenario.expect_info if k not in found)
    allowed = set(scenario.expect) | set(scenario.expect_info) | set(scenario.allow)
    false_alarms = tuple(
        sorted(k for k, sev in worst.items() if sev >= Severity.WARNING and k not in allowed)
    )
    nan_step = run.first_nonfinite_loss
    boom = found.get("exploding")
    lead = None if nan_step is None or boom is None else nan_step - boom.first_step
    return Score(scenario.name, found, missed, false_alarms, nan_step, lead)

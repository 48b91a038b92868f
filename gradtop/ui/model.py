"""What the viewer knows about a file: a Session over one source, shared by two threads.

The reader worker is the only writer: it feeds records in, runs the diagnosis and bumps
``generation``; the UI thread only reads, under ``lock``, when it redraws. A backfill
builds a fresh model privately and hands it over whole, so the UI never sees a half-read
history. The reading, diagnosis cadence and run bookkeeping are ``gradtop.session``'s;
this adds only what two threads and a redraw-when-changed UI need. No Textual here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from gradtop.diagnosis.findings import Finding
from gradtop.history import History, RunHistory
from gradtop.records import Record
from gradtop.session import DiagnoserLike, Liveness, RunClock, Session, liveness

__all__ = ["DiagnoserLike", "Liveness", "RunClock", "WatchModel", "liveness"]


class WatchModel:
    """The runs of one file (``source``), their findings and pace, for the viewer.

    ``add`` records (diagnosing at the session's cadence in logged steps); ``diagnose``
    brings every run that grew up to date before a redraw. The worker calls it about once
    a second, not per record: a diagnosis of hundreds of layers costs tens of milliseconds.
    """

    def __init__(
        self, make_diagnoser: Callable[[], DiagnoserLike] | None = None, source: str = ""
    ) -> None:
        # A rule's bug is shown in the findings panel; it must not take the view down.
        self.session = Session(make_diagnoser, contain_errors=True)
        self.source = source
        self.generation = 0
        self.lock = threading.RLock()

    @property
    def history(self) -> History:
        return self.session.history(self.source)

    @property
    def findings(self) -> Mapping[str, list[Finding]]:
        """Each run's findings as of its last diagnosis (absent: not diagnosed yet)."""
        return self.session.diagnosed(self.source)

    @property
    def clocks(self) -> Mapping[str, RunClock]:
        return self.session.clocks(self.source)

    @property
    def diagnosis_error(self) -> str:
        return self.session.diagnosis_error

    def add(self, records: Iterable[Record]) -> set[str]:
        """Feed records in file order; returns the run ids that changed."""
        touched = set(self.session.feed(self.source, records).runs)
        if touched:
            self.generation += 1
        return touched

    @property
    def diagnosis_due(self) -> bool:
        return self.session.due(self.source)

    def diagnose(self) -> None:
        """Bring the findings of every run that grew since the last call up to date."""
        if self.session.refresh(self.source):
            self.generation += 1

    def run(self, run_id: str | None) -> RunHistory | None:
        """The run with this id, or the newest run when ``run_id`` is None or gone."""
        return self.session.run(self.source, run_id) or self.session.run(self.source)

"""Which logged steps are detail steps, decided on one thread from reports of two.

Detail steps measure the slow statistics (weight norm, zero fraction, update ratio):
the first logged step, every ``detail_every``-th, and the one after a step with NaN/Inf
gradients. The decision is the training thread's, taken from what every rank agrees on
(the logged-step count; NaN/Inf in the *reduced* statistics when sharded), so that the
ranks' packed vectors keep one shape.

NaN/Inf is known on the training thread when the statistics were computed on the CPU,
but only on the writer thread when only the device knew (fused or sparse statistics,
read after the one device-to-host copy). The writer reports through a counter that only
it writes; the training thread remembers the count it last acted on. One writer per
field: no report is lost between the threads, and no lock is taken on the hot path.
"""

from __future__ import annotations


class DetailCadence:
    """The detail-step decision; see the module docstring for which thread calls what."""

    def __init__(self, every: int) -> None:
        self.every = every
        self._forced = False  # training thread only
        self._writer_reports = 0  # writer thread only
        self._reports_acted_on = 0  # training thread only

    def decide(self, logged: int) -> bool:
        """Training thread: is the ``logged``-th logged step (counting from 1) a detail step?"""
        reports = self._writer_reports  # one read: a report arriving now counts next time
        detail = self._forced or reports != self._reports_acted_on
        self._reports_acted_on = reports
        self._forced = False
        return detail or (logged - 1) % self.every == 0

    def peek(self, logged: int) -> bool:
        """Training thread: what ``decide(logged)`` would answer now, deciding nothing (a
        report that arrives before ``decide`` can only add a detail step, never take one)."""
        reports = self._writer_reports
        return self._forced or reports != self._reports_acted_on or (logged - 1) % self.every == 0

    def nonfinite_on_training_thread(self) -> None:
        """Training thread: this step had NaN/Inf; the next logged step is a detail step."""
        self._forced = True

    def nonfinite_on_writer_thread(self) -> None:
        """Writer thread: a step that only the device had checked held NaN/Inf."""
        self._writer_reports += 1

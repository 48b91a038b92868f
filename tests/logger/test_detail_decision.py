"""The detail-step decision: the training thread decides, the writer thread only reports.

End to end (a real Logger, NaN found by the writer thread) this is in
test_detail_cadence.py; here the decision's own contract, with a real second thread.
"""

from __future__ import annotations

import threading

from gradtop.logger.cadence import DetailCadence


def _decisions(cadence: DetailCadence, logged: range) -> list[bool]:
    return [cadence.decide(n) for n in logged]


def test_the_first_and_every_nth_logged_step_are_detail_steps() -> None:
    assert _decisions(DetailCadence(3), range(1, 8)) == [
        True,
        False,
        False,
        True,
        False,
        False,
        True,
    ]


def test_nonfinite_on_the_training_thread_makes_only_the_next_step_a_detail_step() -> None:
    cadence = DetailCadence(10)
    assert cadence.decide(1)
    cadence.nonfinite_on_training_thread()
    assert _decisions(cadence, range(2, 5)) == [True, False, False]


def test_a_report_from_another_thread_makes_the_next_decision_a_detail_step() -> None:
    cadence = DetailCadence(10)
    assert _decisions(cadence, range(1, 3)) == [True, False]
    for _ in range(2):  # two reports before one decision: one detail step, not two
        writer = threading.Thread(target=cadence.nonfinite_on_writer_thread)
        writer.start()
        writer.join()
    assert _decisions(cadence, range(3, 6)) == [True, False, False]


def test_each_report_from_the_writer_thread_is_acted_on_once() -> None:
    """Fifty rounds in lockstep: the writer thread reports, then the training thread
    decides twice; the first decision after each report is a detail step, the second not."""
    cadence = DetailCadence(10**9)
    assert cadence.decide(1)
    reported = threading.Event()
    acted = threading.Event()
    rounds = 50

    def writer() -> None:
        for _ in range(rounds):
            cadence.nonfinite_on_writer_thread()
            reported.set()
            acted.wait(timeout=30)
            acted.clear()

    thread = threading.Thread(target=writer)
    thread.start()
    decisions = []
    for n in range(rounds):
        assert reported.wait(timeout=30), f"no report in round {n}"
        reported.clear()
        decisions.append((cadence.decide(2 * n + 2), cadence.decide(2 * n + 3)))
        acted.set()
    thread.join(timeout=30)
    assert decisions == [(True, False)] * rounds

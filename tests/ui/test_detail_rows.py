"""The layer table between detail steps: the last measurement, not an empty cell.

With ``Logger(detail_every=N)`` weight_norm, update_ratio and zero_frac are null on the
steps in between; the table keeps showing the newest measured row (at most N back).
"""

from __future__ import annotations

import dataclasses

import pytest

from gradtop.history import History
from gradtop.records import Header, ParamInfo, Step
from gradtop.ui.layers import build_rows


def _run(detail_every: int, measured: set[int], last: int) -> History:
    params = (ParamInfo("fc.weight", "fc", "Linear", "weight", (4, 4), 16, True, True),)
    header = Header(run_id="r", time=0.0, params=params)
    h = History()
    h.add(dataclasses.replace(header, detail_every=detail_every))
    for s in range(1, last + 1):
        slow = [float(s)] if s in measured else [None]
        stats = {
            "grad_norm": [1.0],
            "weight_norm": slow,
            "update_ratio": [1e-3 * s] if s in measured else [None],
            "zero_frac": [0.0] if s in measured else [None],
        }
        h.add(Step(run_id="r", seq=s, step=s, time=float(s), stats=stats))  # type: ignore[arg-type]
    return h


def test_rows_show_the_last_detail_step_between_detail_steps() -> None:
    run = _run(5, {1, 6}, last=9).current
    assert run is not None
    (row,) = build_rows(run, [])
    assert row.weight_norm == 6.0 and row.update_ratio == pytest.approx(6e-3)
    assert row.zero_frac == 0.0 and row.grad_norm == 1.0


def test_a_measurement_older_than_detail_every_is_not_shown() -> None:
    run = _run(5, {1}, last=9).current  # the detail step at 6 never arrived (dropped)
    assert run is not None
    (row,) = build_rows(run, [])
    assert row.weight_norm is None and row.update_ratio is None


def test_every_step_runs_show_the_newest_row_as_before() -> None:
    run = _run(1, {1, 2}, last=3).current  # a format 1.0 run with a null newest value
    assert run is not None
    (row,) = build_rows(run, [])
    assert row.weight_norm is None

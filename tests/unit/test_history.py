"""History keeps memory bounded while spikes, NaN and missing values stay visible."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gradtop.history import History, Table
from gradtop.records import End, Header, ParamInfo, Step


def test_recent_rows_are_exact_and_ordered() -> None:
    table = Table(2, recent=4, archive=4)
    for s in range(3):
        table.append(s, [float(s), None])
    steps, values = table.recent()
    assert steps.tolist() == [0, 1, 2]
    assert values[:, 0].tolist() == [0.0, 1.0, 2.0]
    assert table.recent_missing()[:, 1].all() and not table.recent_missing()[:, 0].any()


def test_memory_is_bounded_and_a_spike_survives_decimation() -> None:
    table = Table(1, recent=8, archive=8)
    for s in range(10_000):
        table.append(s, [1e6 if s == 1234 else 1.0])
    assert table.total_rows == 10_000
    assert table._values.nbytes + table._a_high.nbytes < 1024  # fixed-size arrays
    col = table.column(0, width=10)
    assert len(col) <= 10
    assert col.high.max() == 1e6, "a spike deep in the archive must survive downsampling"
    assert col.first_step[0] == 0 and col.last_step[-1] == 9_999


def test_nan_is_flagged_and_missing_is_not() -> None:
    table = Table(2, recent=2, archive=4)
    table.append(0, [math.nan, None])
    for s in range(1, 50):
        table.append(s, [1.0, None])
    col = table.column(0, width=5)
    assert col.any_nan[0] and not col.any_nan[1:].any()
    assert not table.column(1).any_nan.any()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=400), st.integers(1, 30))
def test_resampled_extremes_match_the_raw_series(values: list[float], width: int) -> None:
    table = Table(1, recent=16, archive=8)
    for s, v in enumerate(values):
        table.append(s, [v])
    col = table.column(0, width=width)
    assert len(col) <= width
    assert np.nanmax(col.high) == max(values)
    assert np.nanmin(col.low) == min(values)
    assert col.last[-1] == values[-1]


def _header(run_id: str, n: int = 2) -> Header:
    params = tuple(
        ParamInfo(f"l{i}.weight", f"l{i}", "Linear", "weight", (2, 2), 4, True) for i in range(n)
    )
    return Header(run_id=run_id, time=0.0, params=params)


def test_runs_are_kept_apart_and_first_nonfinite_is_recorded() -> None:
    history = History()
    history.add(_header("a"))
    history.add(
        Step("a", 1, 1, 1.0, loss=1.0, stats={"grad_norm": [1.0, 2.0], "nonfinite": [0, 0]})
    )
    history.add(
        Step(
            "a", 2, 2, 2.0, loss=math.inf, stats={"grad_norm": [1.0, math.inf], "nonfinite": [0, 3]}
        )
    )
    history.add(End("a", 3, 3.0, 2))
    history.add(_header("b", n=3))
    history.add(Step("b", 1, 1, 4.0, loss=0.5, stats={"grad_norm": [1.0, 1.0, 1.0]}))
    history.add(Step("zzz", 1, 1, 4.0))
    a, b = history.runs["a"], history.runs["b"]
    assert history.current is b and history.orphans == 1
    assert a.steps == 2 and a.end is not None and b.steps == 1
    assert a.first_nonfinite is not None and a.first_nonfinite.step == 2
    assert a.first_nonfinite.params == (1,) and a.first_nonfinite_loss == 2
    assert b.stats["grad_norm"].n_cols == 3
    assert history.n_params_for("b") == 3


def _steps(run: str, start: int, count: int, n: int = 2) -> list[Step]:
    return [
        Step(run, s, s, float(s), loss=1.0 / s, stats={"grad_norm": [float(s)] * n})
        for s in range(start, start + count)
    ]


def test_the_same_header_again_continues_its_run() -> None:
    """What a Logger writes after a rotation: its own header, unchanged, then more steps."""
    history = History()
    history.extend([_header("r1"), *_steps("r1", 1, 100), _header("other")])
    history.extend([_header("r1"), *_steps("r1", 101, 3)])
    run = history.runs["r1"]
    assert (run.steps, run.first_step, run.last_step) == (103, 1, 103)
    assert run.stats["grad_norm"].total_rows == 103 and run.scalars["loss"].total_rows == 103
    assert history.current is run, "the run whose header came last is the current one"
    assert (history.continued, history.restarted) == (1, 0)


def test_the_same_run_id_with_other_parameters_starts_afresh_and_is_counted() -> None:
    history = History()
    history.extend([_header("r1", n=2), *_steps("r1", 1, 10, n=2)])
    history.extend([_header("r1", n=3), *_steps("r1", 1, 2, n=3)])
    run = history.runs["r1"]
    assert (run.steps, run.last_step, run.stats["grad_norm"].n_cols) == (2, 2, 3)
    assert (history.continued, history.restarted) == (0, 1)

"""History keeps memory bounded while spikes, NaN and missing values stay visible."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gradtop import records
from gradtop.history import (
    COMPACT_ROWS,
    FULL_RUNS,
    HIST_MAX_VALUES,
    HIST_ROWS,
    MAX_HIST_BINS,
    MAX_SCALARS,
    History,
    Table,
)
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


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=700),
    st.integers(2, 100),
    st.integers(2, 40),
    st.integers(1, 30),
)
def test_growing_storage_keeps_recent_rows_exact_and_extremes(
    values: list[float], recent: int, archive: int, width: int
) -> None:
    table = Table(1, recent=recent, archive=archive)
    for s, v in enumerate(values):
        table.append(s, [v])
    steps, rows = table.recent()
    kept = min(recent, len(values))
    assert steps.tolist() == list(range(len(values) - kept, len(values)))
    assert rows[:, 0].tolist() == values[-kept:]
    col = table.column(0, width=width)
    assert np.nanmax(col.high) == max(values) and np.nanmin(col.low) == min(values)
    assert table._alloc <= recent and len(table._a_first) <= archive


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=700), st.integers(2, 20))
def test_compacting_keeps_the_whole_range_in_a_few_rows(values: list[float], keep: int) -> None:
    table = Table(1, recent=64, archive=32)
    for s, v in enumerate(values):
        table.append(s, [v])
    table.compact(recent=keep, archive=keep)
    col = table.column(0)
    assert len(col) <= 2 * keep and table.total_rows == len(values)
    assert np.nanmax(col.high) == max(values) and np.nanmin(col.low) == min(values)
    assert col.first_step[0] == 0 and col.last_step[-1] == len(values) - 1
    assert table.recent()[1][-1, 0] == values[-1]
    table.append(len(values), [1e12])  # an old run can still grow, within its bounds
    assert table.column(0).high.max() == 1e12 and len(table.column(0)) <= 2 * keep


def test_storage_follows_the_rows_read_not_the_width_claimed() -> None:
    """16 runs x 500 tensors x 3 steps once held 870 MB: every table full-size at creation."""
    history = History()
    for r in range(16):
        history.add(_header(f"r{r}", n=500))
        for s in range(1, 4):
            history.add(Step(f"r{r}", s, s, float(s), loss=1.0, stats=_stats(500, s)))
    assert len(history.runs) == 16 and all(run.steps == 3 for run in history.runs.values())
    assert history.nbytes < 16 * 6 * 16 * 500 * 9 * 1.2  # about 16 rows per table, no more


def _stats(n: int, s: int) -> dict[str, list[float | None]]:
    return {name: [float(s)] * n for name in records.PARAM_STATS}


def test_only_the_newest_runs_keep_full_tables() -> None:
    history = History()
    for r in range(FULL_RUNS + 2):
        history.add(_header(f"r{r}", n=50))
        for s in range(1, 3001):
            spike = 1e9 if s == 777 else 1.0
            history.add(Step(f"r{r}", s, s, float(s), loss=spike, stats=_stats(50, s)))
    runs = list(history.runs.values())
    old, new = runs[:2], runs[2:]
    assert all(run.compacted for run in old) and not any(run.compacted for run in new)
    for run in old:
        assert run.steps == 3000 and len(run.stats["grad_norm"].recent()[0]) <= COMPACT_ROWS
        assert run.scalars["loss"].column(0).high.max() == 1e9, "a spike survives compaction"
        assert run.nbytes < new[0].nbytes / 10
    history.add(_header("r0", n=50))  # the oldest run's writer reopened its file: full again
    history.add(Step("r0", 3001, 3001, 3001.0, loss=1.0, stats=_stats(50, 3001)))
    assert not history.runs["r0"].compacted and history.runs["r1"].compacted
    assert history.runs["r0"].steps == 3001


def test_unknown_statistics_get_no_tables_and_are_counted() -> None:
    history = History()
    history.add(_header("r1", n=2))
    stats: dict[str, list[float | None]] = {f"invented_{i}": [1.0, 2.0] for i in range(20_000)}
    stats["grad_norm"] = [1.0, 2.0]
    history.add(Step("r1", 1, 1, 1.0, stats=stats))
    run = history.runs["r1"]
    assert set(run.stats) == {"grad_norm"} and run.ignored == {"unknown_stat": 20_000}
    assert history.ignored == {"unknown_stat": 20_000}


def test_user_scalars_are_capped_per_run_and_builtin_names_refused() -> None:
    history = History()
    history.add(_header("r1", n=2))
    scalars: dict[str, float | None] = {f"s{i}": float(i) for i in range(MAX_SCALARS + 500)}
    scalars["loss"] = 5.0  # would add a second loss row for this step
    scalars["never_set"] = None
    history.add(Step("r1", 1, 1, 1.0, loss=1.0, scalars=scalars))
    history.add(Step("r1", 2, 2, 2.0, loss=1.0, scalars={"s0": 1.0, "late": 2.0}))
    run = history.runs["r1"]
    user = set(run.scalars) - {"loss"}
    assert user == {f"s{i}" for i in range(MAX_SCALARS)}
    assert run.scalars["loss"].total_rows == 2 and run.scalars["s0"].total_rows == 2
    assert run.ignored == {"scalar_limit": 501, "scalar_name": 1}


def test_histograms_are_checked_and_bounded() -> None:
    history = History()
    history.add(_header("r1", n=2))
    bad: list[object] = [
        [[1, 2]],  # one entry for two parameters
        [[1, 2], [1, 2, 3]],  # ragged
        [[1, -2], None],  # negative count
        [["x"], None],
        [[1.5], None],
        [[True], None],
        [[0] * (MAX_HIST_BINS + 1), None],
        "not a list",
    ]
    for s, hist in enumerate(bad, start=1):
        history.add(Step("r1", s, s, float(s), hist=hist))  # type: ignore[arg-type]
    run = history.runs["r1"]
    assert run.hist == [] and run.ignored == {"hist": len(bad)}
    wide = [[1] * MAX_HIST_BINS, None]
    for s in range(100, 100 + HIST_ROWS + 50):
        history.add(Step("r1", s, s, float(s), hist=wide))
    assert sum(len(c) for _, row in run.hist for c in row if c is not None) <= HIST_MAX_VALUES
    assert run.hist[-1][0] == 100 + HIST_ROWS + 49 and len(run.hist) <= HIST_ROWS
    history.add(Step("r1", 999, 999, 999.0, hist=[[3, 4], None]))
    assert run.hist[-1] == (999, [[3, 4], None])


def test_the_same_header_with_steps_starting_over_is_a_new_run() -> None:
    """Not a rotation: the steps after the repeated header go back, so history restarts."""
    history = History()
    history.extend([_header("r1"), *_steps("r1", 1, 100)])
    history.extend([_header("r1"), *_steps("r1", 1, 3)])
    run = history.runs["r1"]
    assert (run.steps, run.first_step, run.last_step) == (3, 1, 3)
    assert run.stats["grad_norm"].total_rows == 3
    assert (history.continued, history.restarted) == (0, 1)

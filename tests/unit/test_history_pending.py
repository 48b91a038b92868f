"""Rows appended as lists are converted later, in blocks: nothing a reader sees may differ.

The reference is the same Table fed the same rows as tuples, which it converts and stores
one at a time, as every row was before lists were kept pending. Every read is compared
bit for bit (NaN, -0.0 and missing flags included), after any mix of appends, reads,
compaction and expansion.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gradtop.history import PENDING_ROWS, History, Table
from gradtop.records import Header, ParamInfo, Step

VALUES = st.one_of(
    st.none(),
    st.sampled_from([0.0, -0.0, 1.0, math.nan, math.inf, -math.inf, 0, 3]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**64), 2**64),
)


def _rows(n_cols: int) -> st.SearchStrategy[list[float | None]]:
    row = st.lists(VALUES, min_size=n_cols, max_size=n_cols)
    return st.one_of(row, st.just([None] * n_cols), st.just([1.5] * n_cols))


def _ops(n_cols: int) -> st.SearchStrategy[list[tuple]]:
    op = st.one_of(
        st.tuples(st.just("append"), _rows(n_cols)),
        st.tuples(st.just("append_many"), st.integers(1, 3 * PENDING_ROWS), _rows(n_cols)),
        st.tuples(st.just("read"), st.integers(0, 40)),
        st.tuples(st.just("compact"), st.integers(2, 20), st.integers(2, 20)),
        st.tuples(st.just("expand")),
    )
    return st.lists(op, max_size=40)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _reads(table: Table, k: int) -> list[object]:
    out: list[object] = [table.total_rows, len(table), table.last_step(), table.nbytes]
    out += [*table.recent(k), table.recent_steps(), table.recent_missing(k)]
    last = table.last()
    out.append(None if last is None else last.copy())
    if table.total_rows:
        out += [a.copy() for a in table.newest()]
    for col in range(table.n_cols):
        for width in (None, 3):
            c = table.column(col, width)
            out += [c.first_step, c.last_step, c.low, c.high, c.last, c.any_nan]
    return out


def _equal(a: list[object], b: list[object]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and _same(x, y)):
                return False
        elif x != y:
            return False
    return True


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 4).flatmap(lambda c: st.tuples(st.just(c), _ops(c))),
    st.integers(2, 40),
    st.integers(2, 12),
)
def test_pending_rows_read_as_rows_stored_one_at_a_time(
    case: tuple[int, list[tuple]], recent: int, archive: int
) -> None:
    n_cols, ops = case
    lazy, eager = Table(n_cols, recent, archive), Table(n_cols, recent, archive)
    step = 0
    for op in ops:
        if op[0] in ("append", "append_many"):
            count, row = (1, op[1]) if op[0] == "append" else (op[1], op[2])
            for _ in range(count):
                lazy.append(step, list(row))
                eager.append(step, tuple(row))
                step += 1
        elif op[0] == "read":
            assert _equal(_reads(lazy, op[1]), _reads(eager, op[1]))
        elif op[0] == "compact":
            lazy.compact(op[1], op[2])
            eager.compact(op[1], op[2])
        else:
            lazy.expand()
            eager.expand()
    assert _equal(_reads(lazy, 1 << 20), _reads(eager, 1 << 20))


def _header(n: int) -> Header:
    params = tuple(
        ParamInfo(f"l{i}.weight", f"l{i}", "Linear", "weight", (2,), 2, True) for i in range(n)
    )
    return Header(run_id="r", time=0.0, params=params)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(_rows(n), _rows(n), st.booleans()), min_size=1, max_size=150),
        )
    )
)
def test_first_nonfinite_is_found_from_pending_rows(case: tuple[int, list[tuple]]) -> None:
    """The step and parameters of the first non-finite gradient, with nonfinite counts and
    with norms only, whether the rows are pending lists or rows stored at once."""
    n, rows = case
    lazy, eager = History(), History()
    for history in (lazy, eager):
        history.add(_header(n))
    for s, (counts, norms, with_counts) in enumerate(rows, start=1):
        for history, kind in ((lazy, list), (eager, tuple)):
            stats = {"grad_norm": kind(norms)}
            if with_counts:
                stats["nonfinite"] = kind(counts)
            history.add(Step("r", s, s, float(s), loss=1.0, stats=stats))  # type: ignore[arg-type]
    a, b = lazy.runs["r"].first_nonfinite, eager.runs["r"].first_nonfinite
    assert (a is None) == (b is None) and (a is None or (a.step, a.params) == (b.step, b.params))
    steps_a, rows_a = lazy.runs["r"].stats["grad_norm"].recent()
    steps_b, rows_b = eager.runs["r"].stats["grad_norm"].recent()
    assert _same(steps_a, steps_b) and _same(rows_a, rows_b)

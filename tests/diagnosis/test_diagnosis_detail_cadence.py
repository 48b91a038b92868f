"""Rules on runs logged with ``Logger(detail_every=N)``: the slow statistics are null
between detail steps, and the diagnosis must neither miss a problem for it nor read the
nulls as NaN weights.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from gradtop.diagnosis import Diagnoser, Finding, Severity
from gradtop.diagnosis.series import hold_last
from gradtop.history import History
from gradtop.records import Header
from tests.diagnosis.synth import diagnose, feed, header, kinds, mlp_specs, only

N = 8  # parameters of mlp_specs(4)
EVERY = 10


def _detail(s: int) -> bool:
    return (s - 1) % EVERY == 0


def _sparse(value: object) -> object:
    """A series that is ``value`` on detail steps and null on the others."""
    return lambda s: value if _detail(s) else None


def _header(**kw: object) -> Header:
    return dataclasses.replace(header(mlp_specs(4), **kw), detail_every=EVERY)  # type: ignore[arg-type]


def test_hold_last_is_causal_and_bounded() -> None:
    x = np.array([[1.0, 5.0], [np.nan, np.nan], [np.nan, np.nan], [2.0, np.nan], [np.nan, 7.0]])
    fill = np.array([False, True, True, False, True])
    held = hold_last(x, fill, limit=1)
    # Row 1 holds row 0; row 2 is two rows past it (beyond the limit); row 3 is measured
    # (its NaN stays: a measured NaN is data); row 4 holds row 3.
    want = np.array([[1.0, 5.0], [1.0, 5.0], [np.nan, np.nan], [2.0, np.nan], [2.0, np.nan]])
    np.testing.assert_array_equal(held, want)
    assert np.isnan(hold_last(np.array([np.nan, 3.0]), np.array([True, False]), 5)[0])


def test_nulls_between_detail_steps_are_not_nan_weights() -> None:
    run = feed(
        History(),
        _header(),
        range(1, 120),
        grad=lambda s: 1.0,
        weight=_sparse(4.0),  # type: ignore[arg-type]
        update=_sparse(1e-3),  # type: ignore[arg-type]
        zero=_sparse(0.0),  # type: ignore[arg-type]
    )
    assert kinds(diagnose(run), at_least=Severity.WARNING) == set()


def test_a_nan_weight_on_a_detail_step_is_still_critical() -> None:
    run = feed(
        History(),
        _header(),
        range(1, 60),
        grad=lambda s: 1.0,
        weight=lambda s: (math.nan if s > 30 else 4.0) if _detail(s) else None,
        update=_sparse(1e-3),  # type: ignore[arg-type]
        zero=_sparse(0.0),  # type: ignore[arg-type]
    )
    f = only(diagnose(run), "nonfinite")
    assert f.severity == Severity.CRITICAL and f.first_step == 31
    assert f.title.startswith("NaN/Inf weights")


def test_dead_units_are_caught_from_sparse_zero_fractions() -> None:
    zero = np.zeros(N)
    zero[2:4] = 0.5  # net.1: half of its units dead
    run = feed(
        History(),
        _header(),
        range(1, 80),
        grad=lambda s: 1.0,
        weight=_sparse(4.0),  # type: ignore[arg-type]
        update=_sparse(1e-3),  # type: ignore[arg-type]
        zero=_sparse(zero),  # type: ignore[arg-type]
    )
    f = only(diagnose(run), "dead_units")
    assert f.severity == Severity.WARNING and f.extra["layers"] == ["net.1"]
    assert f.first_step == 20  # as with every-step zero fractions: dead_persist rows


def test_lr_too_low_is_caught_from_sparse_update_ratios() -> None:
    run = feed(
        History(),
        _header(optimizer="Adam"),
        range(1, 201),
        grad=lambda s: 1.0,
        weight=_sparse(4.0),  # type: ignore[arg-type]
        update=_sparse(1e-6),  # type: ignore[arg-type]
        zero=_sparse(0.0),  # type: ignore[arg-type]
        loss=lambda s: 2.3 + 0.01 * math.sin(s),
        lr=lambda s: 1e-5,
    )
    f = only(diagnose(run), "lr_too_low")
    assert f.severity == Severity.WARNING
    assert f.first_step == 51 + 29  # the same step as with every-step update ratios


def test_row_by_row_feeding_gives_the_same_findings_as_one_pass() -> None:
    """A live viewer re-evaluates only new rows plus a margin (widened by detail_every
    in build_view); held values must give the findings of one pass over the file."""
    zero = np.zeros(N)
    zero[2:4] = 0.5

    def grow(h: History, steps: range) -> object:
        return feed(
            h,
            _header(),
            steps,
            grad=lambda s: 1.0,
            weight=_sparse(4.0),  # type: ignore[arg-type]
            update=_sparse(1e-3),  # type: ignore[arg-type]
            zero=lambda s: (zero if s > 90 else np.zeros(N)) if _detail(s) else None,
        )

    once = diagnose(grow(History(), range(1, 200)))  # type: ignore[arg-type]
    h, d = History(), Diagnoser()
    for s in range(1, 200):
        d.update(grow(h, range(s, s + 1)))  # type: ignore[arg-type]
    live = d.update(h.runs["run"], force=True)

    def summary(findings: list[Finding]) -> list[tuple[object, ...]]:
        return [(f.kind, f.severity, f.first_step, f.active) for f in findings]

    assert summary(live) == summary(once)
    assert only(once, "dead_units").first_step == 110

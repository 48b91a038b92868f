"""The tiered cadence: cheap statistics every logged step, the slow ones on detail steps.

``Logger(detail_every=N)`` measures weight_norm, zero_frac and update_ratio on every N-th
logged step, on the first, and on the one right after a step whose gradients held
NaN/Inf; the other steps carry them as null. Real models, real files, read back strictly.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch

import gradtop
from gradtop.diagnosis.thresholds import Thresholds
from gradtop.diagnosis.view import roles_for
from gradtop.records import Step
from tests.logger.logger_support import backward, mlp
from tests.reference_support import naive_stats
from tests.support import assert_close, headers, read_records, steps

SLOW = ("weight_norm", "zero_frac", "update_ratio")
FAST = ("grad_norm", "grad_max", "nonfinite")


def _is_detail(step: Step) -> bool:
    return any(v is not None for v in step.stats["weight_norm"])


def test_slow_statistics_only_on_every_nth_logged_step(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    expected = []
    path = tmp_path / "run.jsonl"
    with gradtop.Logger(path, model, optimizer=opt, detail_every=3) as log:
        for i in range(7):
            opt.zero_grad()
            backward(model, seed=i)
            expected.append(naive_stats(model))
            log.log(1.0)
            opt.step()
    records = read_records(path)
    assert headers(records)[0].detail_every == 3
    logged = steps(records)
    assert [_is_detail(s) for s in logged] == [True, False, False, True, False, False, True]
    n = len(logged[0].stats["grad_norm"])
    for record, want in zip(logged, expected, strict=True):
        for name in FAST:  # every step
            assert_close(record.stats[name], want[name])  # type: ignore[arg-type]
        assert record.total_grad_norm is not None
        if _is_detail(record):
            for name in ("weight_norm", "zero_frac"):
                assert_close(record.stats[name], want[name])  # type: ignore[arg-type]
            assert None not in record.stats["update_ratio"]
        else:  # not measured: null (missing), never 0, and the key is still there
            for name in SLOW:
                assert record.stats[name] == [None] * n


def _nan_then_clean(path: Path, *, fused: bool) -> list[Step]:
    """Step 2's gradients hold a NaN (its optimizer step is skipped, as a GradScaler
    would); steps 1, 3, 4 are clean. detail_every is large: only the rule can fire."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    log = gradtop.Logger(path, model, optimizer=opt, detail_every=100)
    if fused:
        # The accelerator path, on CPU: only the device knows about the NaN, so the
        # writer thread reports it after it has read the step back.
        log._engine.sync_free = True
    for i in range(4):
        opt.zero_grad()
        backward(model, seed=i)
        if i == 1:
            first = next(model.parameters()).grad
            assert first is not None
            first[0, 0] = math.nan
        log.log(1.0)
        if i != 1:
            opt.step()
        if fused and i == 2:
            # A logged step goes out after its optimizer step (the step norm is measured
            # there), or at the next log() when none came: step 2's record left at step 3's
            # log(). Once the writer has read it, step 4 is detailed at the latest.
            _wait_for_lines(path, 4)  # header + 3 steps
    log.close()
    return steps(read_records(path))


def _wait_for_lines(path: Path, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"{path} did not reach {n} lines within {timeout} s")


@pytest.mark.parametrize("fused", [False, True], ids=["cpu", "fused"])
def test_the_step_after_nonfinite_gradients_is_a_detail_step(tmp_path: Path, fused: bool) -> None:
    logged = _nan_then_clean(tmp_path / "run.jsonl", fused=fused)
    detail = [_is_detail(s) for s in logged]
    if fused:
        # Only the writer thread knows of the NaN, once it has read step 2's record, which
        # leaves at step 3's log() (no optimizer step followed step 2): step 3 is detailed
        # if the writer was that quick, else step 4 (the test waits for it before step 4).
        assert detail[:2] == [True, False] and detail[2:] in ([True, False], [False, True])
    else:  # CPU: the logger sees the NaN itself, at once
        assert detail == [True, False, True, False]
    expected = detail
    assert logged[1].stats["nonfinite"][0] == 1
    assert logged[1].total_grad_norm is not None and math.isnan(logged[1].total_grad_norm)
    # The forced step is complete: weights, zero fractions and its own update.
    forced = logged[expected.index(True, 1)]
    assert None not in forced.stats["weight_norm"]
    assert None not in forced.stats["update_ratio"]


def test_detail_every_one_measures_everything_every_step(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1) as log:
        for i in range(3):
            opt.zero_grad()
            backward(model, seed=i)
            log.log(1.0)
            opt.step()
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert all(None not in s.stats[name] for s in logged for name in SLOW)


def test_bad_detail_every_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="detail_every"):
        gradtop.Logger(tmp_path / "run.jsonl", mlp(), detail_every=0)


def test_optimizer_hyperparameters_reach_the_diagnosis(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, eps=1e-6, betas=(0.8, 0.95))
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, meta={"betas": "mine"}):
        pass
    (header,) = headers(read_records(tmp_path / "run.jsonl"))
    assert header.meta["eps"] == 1e-6
    assert header.meta["weight_decay"] == pytest.approx(0.01)
    assert header.meta["betas"] == "mine"  # the user's own key wins
    assert roles_for(header, Thresholds()).eps == 1e-6  # the key the diagnosis reads

"""``log()`` called after ``optimizer.step()``: each record describes the step it follows.

``backward(); opt.step(); log.log(loss)`` is a common loop. Before the Logger told that
order apart, every record was completed at the *next* step: its step norm and update
ratio were the following step's, silently. Each test runs the real Logger in a real
loop and compares the records with what the test measures itself around each step (its
own pre- and post-step hooks), or with the same training logged in the documented order.
"""

from __future__ import annotations

import math
import warnings
import weakref
from pathlib import Path

import pytest
import torch
from torch import nn

import gradtop
from gradtop.logger.writer import GradtopWarning
from tests.support import read_records, steps


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1)
    )


class _Truth:
    """What each optimizer step really used and did, measured by the test's own hooks."""

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer) -> None:
        self.params = list(model.parameters())
        self.step_norms: list[float] = []
        self.ratios: list[list[float]] = []  # ||w_after - w_before|| / ||w_before||
        self._before: list[torch.Tensor] = []
        opt.register_step_pre_hook(self._pre)
        opt.register_step_post_hook(self._post)

    def _pre(self, *_: object) -> None:
        grads = [p.grad.double().norm() ** 2 for p in self.params if p.grad is not None]
        self.step_norms.append(math.sqrt(float(sum(grads))))
        self._before = [p.detach().clone() for p in self.params]

    def _post(self, *_: object) -> None:
        self.ratios.append(
            [
                float((p.detach().double() - b.double()).norm() / b.double().norm())
                for p, b in zip(self.params, self._before, strict=True)
            ]
        )


def _train(
    path: Path,
    *,
    order: str,
    n: int = 8,
    clip: float | None = None,
    zero: bool = True,
    every: int = 1,
    detail_every: int = 1,
) -> tuple[list[gradtop.records.Step], _Truth, list[str]]:
    """``order``: "after" (log after opt.step()) or "before" (the documented order)."""
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    truth = _Truth(model, opt)
    gen = torch.Generator().manual_seed(1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GradtopWarning)
        with gradtop.Logger(
            path, model, optimizer=opt, every=every, detail_every=detail_every
        ) as log:
            for _ in range(n):
                if zero:
                    opt.zero_grad()
                x = torch.randn(16, 8, generator=gen)
                loss = (model(x) - x.sum(dim=1, keepdim=True)).pow(2).mean()
                loss.backward()
                if order == "before":
                    log.log(loss)
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                opt.step()
                if order == "after":
                    log.log(loss)
    messages = [str(w.message) for w in caught if w.category is GradtopWarning]
    return steps(read_records(path)), truth, messages


@pytest.mark.parametrize("clip", [None, 0.05])
def test_each_record_has_the_step_norm_and_update_of_the_step_it_follows(
    tmp_path: Path, clip: float | None
) -> None:
    logged, truth, _ = _train(tmp_path / "run.jsonl", order="after", clip=clip)
    assert [s.step for s in logged] == list(range(1, 9))
    # The first record: the Logger learnt the order only at that log(), after the step,
    # so what it did not measure before the step is written as unknown, not guessed.
    assert logged[0].step_grad_norm is None
    assert all(v is None for v in logged[0].stats["update_ratio"])
    for s, norm, ratios in zip(logged[1:], truth.step_norms[1:], truth.ratios[1:], strict=True):
        assert s.step_grad_norm == pytest.approx(norm, rel=1e-5)
        # log() read the very gradients the step used: after clipping, when there is any.
        assert s.total_grad_norm == pytest.approx(norm, rel=1e-5)
        assert s.stats["update_ratio"] == pytest.approx(ratios, rel=1e-4)
    if clip is not None:
        assert all(s.step_grad_norm == pytest.approx(clip, rel=1e-4) for s in logged[1:])


def test_both_orders_record_the_same_training_alike(tmp_path: Path) -> None:
    before, _, quiet = _train(tmp_path / "before.jsonl", order="before")
    after, _, told = _train(tmp_path / "after.jsonl", order="after")
    fields = ("step", "loss", "total_grad_norm", "step_grad_norm", "grads_stale")
    for b, a in zip(before[1:], after[1:], strict=True):
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
        assert a.stats == b.stats
    assert not [m for m in quiet if "after optimizer.step()" in m]
    assert len([m for m in told if "after optimizer.step()" in m]) == 1


@pytest.mark.parametrize("zero", [True, False])
def test_stale_gradients_are_told_after_the_step_too(tmp_path: Path, zero: bool) -> None:
    """A forgotten zero_grad() is found in this order as well (it was never, before)."""
    logged, _, _ = _train(tmp_path / "run.jsonl", order="after", zero=zero)
    assert [s.grads_stale for s in logged] == [None] + [not zero] * (len(logged) - 1)


@pytest.mark.parametrize(("every", "detail_every"), [(1, 3), (2, 2)])
def test_detail_steps_measure_the_update_of_their_own_step(
    tmp_path: Path, every: int, detail_every: int
) -> None:
    logged, truth, _ = _train(
        tmp_path / "run.jsonl", order="after", n=12, every=every, detail_every=detail_every
    )
    calls = list(range(1, 13))[::every]  # the logged calls; the k-th follows step k
    assert [s.step for s in logged] == calls
    for i, (s, call) in enumerate(zip(logged, calls, strict=True)):
        ratios = s.stats["update_ratio"]
        if i % detail_every or i == 0:
            assert all(v is None for v in ratios)  # not a detail step / not foreseen
        else:
            assert ratios == pytest.approx(truth.ratios[call - 1], rel=1e-4)
            assert s.step_grad_norm == pytest.approx(truth.step_norms[call - 1], rel=1e-5)


@pytest.mark.parametrize("skipped", [(2,), (2, 3), (2, 4)])
def test_a_skipped_step_is_not_paired_with_the_next_one(
    tmp_path: Path, skipped: tuple[int, ...]
) -> None:
    """A GradScaler skips ``optimizer.step()`` on an overflow; here the loop skips it."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    truth = _Truth(model, opt)
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1) as log:
        for i in range(7):
            opt.zero_grad()
            model(torch.randn(16, 8)).pow(2).mean().backward()
            if i not in skipped:
                opt.step()
            log.log(1.0)
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.step for s in logged] == list(range(1, 8))
    for i in skipped:  # no step followed that backward: nothing of a step is claimed
        assert logged[i].step_grad_norm is None
        assert all(v is None for v in logged[i].stats["update_ratio"])
    stepped = [s for i, s in enumerate(logged) if i not in skipped]
    # After a skipped step the Logger learns the order again at the next log(), as it
    # did at the first: that record has no step norm, then each is its own step's.
    known = [s for s in stepped if s.step_grad_norm is not None]
    assert len(known) >= len(stepped) - 1 - len(skipped)
    by_step = dict(
        zip(
            [s.step for s in stepped], zip(truth.step_norms, truth.ratios, strict=True), strict=True
        )
    )
    for s in known:
        norm, ratios = by_step[s.step]
        assert s.step_grad_norm == pytest.approx(norm, rel=1e-5)
        assert s.stats["update_ratio"] == pytest.approx(ratios, rel=1e-4)


def test_lr_and_loss_scale_are_those_the_step_used(tmp_path: Path) -> None:
    """``scaler.step(opt); scaler.update(); sched.step(); log()``: the scheduler and the
    scaler change both before log() runs; the record keeps the step's own."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: (k + 1) / 4)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=2)
    used: list[tuple[float, float]] = []
    opt.register_step_pre_hook(
        lambda *_: used.append((opt.param_groups[0]["lr"], float(scaler.get_scale())))
    )
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, scaler=scaler) as log:
        for _ in range(6):
            opt.zero_grad()
            loss = model(torch.randn(16, 8)).pow(2).mean()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            log.log(loss)
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert len(used) == len(logged) == 6
    assert [(s.lr[0], s.loss_scale) for s in logged] == pytest.approx(used)
    assert len({scale for _, scale in used}) > 1 and len({lr for lr, _ in used}) > 1


def test_zero_grad_before_log_leaves_nothing_to_log_and_pairs_nothing(tmp_path: Path) -> None:
    """``backward(); step(); zero_grad(); log()``: log() sees no gradient at all. The
    records say so (null), and the update each carries is its own step's."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    truth = _Truth(model, opt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GradtopWarning)
        with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1) as log:
            for _ in range(5):
                model(torch.randn(16, 8)).pow(2).mean().backward()
                opt.step()
                opt.zero_grad()
                log.log(1.0)
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert all(s.total_grad_norm is None and s.step_grad_norm is None for s in logged)
    for s, ratios in zip(logged[1:], truth.ratios[1:], strict=True):
        assert s.stats["update_ratio"] == pytest.approx(ratios, rel=1e-4)
    told = [str(w.message) for w in caught if w.category is GradtopWarning]
    assert len([m for m in told if "found no gradients" in m]) == 1
    assert not [m for m in told if "each record describes" in m]


def test_a_loop_that_logs_some_steps_claims_nothing_of_other_steps(tmp_path: Path) -> None:
    """``step(); if i % 3 == 0: log()``: no record carries another step's numbers, and
    no gradient outlives the zero_grad() after an unlogged step."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    truth = _Truth(model, opt)
    freed: list[bool] = []
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1) as log:
        for i in range(12):
            opt.zero_grad()
            model(torch.randn(16, 8)).pow(2).mean().backward()
            opt.step()
            if i % 3 == 0:
                log.log(1.0)
            else:
                gone = weakref.ref(model[0].weight.grad)
                opt.zero_grad()
                freed.append(gone() is None)
    assert all(freed)
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.step for s in logged] == [1, 2, 3, 4]  # the Logger counts log() calls
    for s, i in zip(logged, range(0, 12, 3), strict=True):
        if s.step_grad_norm is not None:
            assert s.step_grad_norm == pytest.approx(truth.step_norms[i], rel=1e-5)
        ratios = s.stats["update_ratio"]
        if any(v is not None for v in ratios):
            assert ratios == pytest.approx(truth.ratios[i], rel=1e-4)

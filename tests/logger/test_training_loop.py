"""The Logger inside real training loops: update ratio, every=N, accumulation, AMP, scalars."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import gradtop
from tests.logger.logger_support import backward, mlp
from tests.reference_support import naive_stats
from tests.support import assert_close, ends, read_records, steps


def _param_list(model: nn.Module) -> list[torch.Tensor]:
    return [p for _, p in model.named_parameters()]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_update_ratio_matches_a_manual_snapshot(tmp_path: Path, opt_name: str) -> None:
    model = mlp()
    params = _param_list(model)
    opt = (
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        if opt_name == "SGD"
        else torch.optim.Adam(model.parameters(), lr=1e-2)
    )
    expected: list[list[float]] = []
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1) as log:
        for i in range(4):
            opt.zero_grad()
            backward(model, seed=i)
            log.log(1.0)
            before = [p.detach().clone() for p in params]
            opt.step()
            pairs = zip(params, before, strict=True)
            expected.append([(p.detach() - b).norm().item() / b.norm().item() for p, b in pairs])
    records = steps(read_records(tmp_path / "run.jsonl"))
    assert len(records) == 4
    for record, want in zip(records, expected, strict=True):
        assert_close(record.stats["update_ratio"], want, rel=1e-4)  # type: ignore[arg-type]


def test_update_ratio_is_null_when_the_step_is_skipped_or_not_owned(tmp_path: Path) -> None:
    model = mlp()
    first = _param_list(model)[:2]
    opt = torch.optim.SGD(first, lr=0.1)  # the optimizer owns only the first layer
    weights = []
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1) as log:
        backward(model)
        weights.append(naive_stats(model)["weight_norm"])
        log.log(1.0)
        opt.step()
        backward(model)
        weights.append(naive_stats(model)["weight_norm"])
        log.log(1.0)  # no opt.step() after this one (e.g. GradScaler skipped it)
    stepped, skipped = steps(read_records(tmp_path / "run.jsonl"))
    # Weight norms come from the snapshot (owned) and from log() (the rest), or, for the
    # step that never came, from a direct measurement; all in header order.
    assert_close(stepped.stats["weight_norm"], weights[0])  # type: ignore[arg-type]
    assert_close(skipped.stats["weight_norm"], weights[1])  # type: ignore[arg-type]
    ratios = stepped.stats["update_ratio"]
    assert ratios[0] is not None and ratios[0] > 0 and ratios[1] is not None
    assert ratios[2:] == [None] * (len(ratios) - 2)
    assert skipped.stats["update_ratio"] == [None] * len(ratios)


def test_update_ratio_can_be_switched_off(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, update_ratio=False) as log:
        backward(model)
        log.log(1.0)
        opt.step()
    records = read_records(tmp_path / "run.jsonl")
    assert "update_ratio" not in records[0].stats  # type: ignore[union-attr]
    assert "update_ratio" not in steps(records)[0].stats


def test_every_n_logs_every_nth_call_with_its_own_update(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    with gradtop.Logger(
        tmp_path / "run.jsonl", model, optimizer=opt, every=3, detail_every=1
    ) as log:
        for i in range(10):
            opt.zero_grad()
            loss = backward(model, seed=i)
            losses.append(loss.item())
            log.log(loss)
            opt.step()
    records = read_records(tmp_path / "run.jsonl")
    logged = steps(records)
    assert [s.step for s in logged] == [1, 4, 7, 10]
    assert [s.loss for s in logged] == pytest.approx([losses[0], losses[3], losses[6], losses[9]])
    assert all(None not in s.stats["update_ratio"] for s in logged)
    assert records[0].every == 3  # type: ignore[union-attr]
    assert ends(records)[0].steps == 4


def test_gradient_accumulation_reads_gradients_only_when_logging(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    expected = []
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1) as log:
        for step in range(2):
            opt.zero_grad()
            for micro in range(4):
                backward(model, seed=10 * step + micro)  # grads accumulate
            expected.append(naive_stats(model))
            log.log(0.0)
            opt.step()
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.step for s in logged] == [1, 2]
    for record, want in zip(logged, expected, strict=True):
        for name in ("grad_norm", "grad_max", "zero_frac"):
            assert_close(record.stats[name], want[name])  # type: ignore[arg-type]


def test_amp_grad_scaler_records_the_scale_and_unscaled_norms(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scales, expected = [], []
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, scaler=scaler) as log:
        for _ in range(3):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                x = torch.randn(6, 8)
                loss = model(x).float().pow(2).mean()
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            expected.append(naive_stats(model))
            scales.append(scaler.get_scale())
            log.log(loss)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.loss_scale for s in logged] == scales
    for record, want in zip(logged, expected, strict=True):
        assert_close(record.stats["grad_norm"], want["grad_norm"])  # type: ignore[arg-type]


def test_amp_overflow_step_shows_inf_and_null_update(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, scaler=scaler) as log:
        loss = model(torch.randn(6, 8)).pow(2).mean()
        scaler.scale(loss).backward()
        grad = _param_list(model)[0].grad
        assert grad is not None
        grad[0, 0] = float("inf")  # an fp16-style overflow
        scaler.unscale_(opt)
        log.log(loss)
        scaler.step(opt)  # skipped: found inf
        scaler.update()
    (record,) = steps(read_records(tmp_path / "run.jsonl"))
    assert record.stats["nonfinite"][0] == 1
    assert record.total_grad_norm == math.inf
    assert record.stats["update_ratio"] == [None] * len(record.stats["update_ratio"])


def test_scalars_lr_step_time_and_user_step(tmp_path: Path) -> None:
    model = mlp()
    opt = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2:].parameters()}],
        lr=0.01,
    )
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, meta={"p": Path("x")}) as log:
        backward(model)
        log.log(loss=torch.tensor([2.0, 4.0]), acc=0.75, tokens=torch.tensor(12), step=100)
        backward(model)
        with pytest.warns(gradtop.logger.GradtopWarning, match="non-numeric value for 'bad'"):
            log.log(torch.tensor(1.5), acc=float("nan"), bad="text")
    records = read_records(tmp_path / "run.jsonl")
    first, second = steps(records)
    assert first.step == 100 and first.loss == 3.0  # a non-scalar loss is averaged
    assert first.scalars == {"acc": 0.75, "tokens": 12.0}
    assert first.lr == [0.1, 0.01]
    assert first.step_time is None and second.step_time is not None and second.step_time > 0
    assert second.step == 2 and math.isnan(second.scalars["acc"])  # type: ignore[arg-type]
    assert second.scalars["bad"] is None
    # The optimizer's hyper-parameters join the user's metadata (SGD has no eps or betas).
    assert records[0].meta == {"p": "x", "momentum": 0.0, "weight_decay": 0.0}  # type: ignore[union-attr]


def test_context_manager_marks_an_exception_and_close_is_idempotent(tmp_path: Path) -> None:
    model = mlp()
    with pytest.raises(KeyError), gradtop.Logger(tmp_path / "run.jsonl", model) as log:
        backward(model)
        log.log(1.0)
        raise KeyError("training crashed")
    log.close()
    log.log(2.0)  # after close: ignored, no error
    records = read_records(tmp_path / "run.jsonl")
    (end,) = ends(records)
    assert end.reason == "exception" and end.steps == 1 and end.dropped == 0
    assert [r.seq for r in records[1:]] == [1, 2]  # type: ignore[union-attr]


def test_internal_failure_warns_once_and_training_continues(tmp_path: Path) -> None:
    """Model surgery after construction breaks the update snapshot: skipped, not raised."""
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    log = gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1)
    backward(model)
    log.log(1.0)
    opt.step()
    first = _param_list(model)[0]
    with pytest.warns(gradtop.logger.GradtopWarning, match="logging failed") as caught:
        first.data = torch.randn(7, 8)  # no longer the shape of the snapshot buffer
        first.grad = None
        for _ in range(3):
            log.log(1.0)
            opt.step()  # the pre-step hook fails inside gradtop; the step still happens
    log.close()
    assert len([w for w in caught if "logging failed" in str(w.message)]) == 1
    records = read_records(tmp_path / "run.jsonl")
    logged = steps(records)
    assert len(logged) == 4  # every step is still recorded, only its update is missing
    assert logged[0].stats["update_ratio"][0] is not None
    assert all(s.stats["update_ratio"][0] is None for s in logged[1:])
    assert ends(records)[0].dropped == 0

"""The silent bugs of PyTorch training, each in a real loop, each with a healthy twin.

Every run trains a small MLP on a learnable regression task with the real Logger and is
diagnosed through the real reader. The label of each run is fixed by what the test
itself measures (weights unchanged, the learning rate's path, weight norms, the loss),
never by gradtop's output; the finding must then name the cause.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from torch import nn

import gradtop
from gradtop.diagnosis import Finding, Severity
from gradtop.teaching.scorecard import diagnose_file


@dataclass
class Loop:
    """One training recipe; hooks change exactly one thing against the healthy loop."""

    steps: int = 150
    lr: float = 0.05
    weight_decay: float = 0.0
    zero_grad: bool = True
    micro: int = 1  # micro-batches per optimizer step (accumulation)
    clip: float | None = None  # clip_grad_norm_ after log(), as README says
    schedule: Callable[[torch.optim.Optimizer], object] | None = None
    evidence: dict[str, float] = field(default_factory=dict)


def _train(path: Path, loop: Loop) -> Loop:
    torch.manual_seed(0)
    x = torch.randn(512, 16)
    y = (x[:, :4].sum(1, keepdim=True) > 0).float() * 2 - 1 + 0.1 * torch.randn(512, 1)
    model = nn.Sequential(
        nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1)
    )
    opt = torch.optim.SGD(
        model.parameters(), lr=loop.lr, momentum=0.9, weight_decay=loop.weight_decay
    )
    sched = loop.schedule(opt) if loop.schedule else None
    start = [p.detach().clone() for p in model.parameters()]
    w0 = [float(p.detach().norm()) for p in model.parameters() if p.ndim == 2]
    losses, lrs, norms = [], [], []
    with gradtop.Logger(path, model, optimizer=opt) as log:
        for i in range(loop.steps):
            if loop.zero_grad:
                opt.zero_grad()
            for k in range(loop.micro):
                idx = torch.randint(
                    0, 512, (32,), generator=torch.Generator().manual_seed(i * 7 + k)
                )
                loss = nn.functional.mse_loss(model(x[idx]), y[idx]) / loop.micro
                loss.backward()
            log.log(loss * loop.micro)
            losses.append(float(loss.detach()) * loop.micro)
            norms.append(math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters())))
            lrs.append(opt.param_groups[0]["lr"])
            if loop.clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), loop.clip)
            opt.step()
            if sched is not None:
                sched.step()  # type: ignore[attr-defined]
    w1 = [float(p.detach().norm()) for p in model.parameters() if p.ndim == 2]
    loop.evidence = {
        "max_weight_change": max(
            float((p.detach() - s).abs().max())
            for p, s in zip(model.parameters(), start, strict=True)
        ),
        "loss_first": sum(losses[:5]) / 5,
        "loss_last": sum(losses[-10:]) / 10,
        "lr_min_over_peak": min(lrs) / max(lrs),
        "grad_norm_growth": sum(norms[-5:]) / sum(norms[:5]),
        "weight_shrink": sorted(b / a for a, b in zip(w0, w1, strict=True))[len(w0) // 2],
    }
    return loop


def _loud(findings: list[Finding]) -> dict[str, Finding]:
    return {f.kind: f for f in findings if f.severity >= Severity.WARNING}


def _diagnose(tmp_path: Path, loop: Loop) -> tuple[Loop, dict[str, Finding]]:
    path = tmp_path / "run.jsonl"
    _train(path, loop)
    _, findings = diagnose_file(path)
    return loop, _loud(findings)


def test_healthy_loop_learns_and_is_quiet(tmp_path: Path) -> None:
    loop, loud = _diagnose(tmp_path, Loop(clip=1.0))
    assert loop.evidence["loss_last"] < 0.5 * loop.evidence["loss_first"]
    assert loud == {}


def test_clip_to_zero_after_log_reaches_no_weight(tmp_path: Path) -> None:
    loop, loud = _diagnose(tmp_path, Loop(clip=0.0))
    assert loop.evidence["max_weight_change"] == 0.0  # the label: bit-identical weights
    finding = loud.get("no_update")
    assert finding is not None and finding.severity == Severity.CRITICAL, loud
    assert finding.extra["cause"] == "zeroed_after_log"
    assert finding.first_step <= 5
    assert "max_norm=0" in finding.explanation
    assert {f.key for f in finding.fixes}  # a way out is offered
    # no advice that would send the user elsewhere
    assert not {"lr_too_low", "loss_plateau", "vanishing"} & set(loud)


def test_forgotten_zero_grad(tmp_path: Path) -> None:
    loop, loud = _diagnose(tmp_path, Loop(zero_grad=False, steps=60, lr=0.005))
    assert loop.evidence["grad_norm_growth"] > 5  # the gradients pile up
    finding = loud.get("zero_grad_missing")
    assert finding is not None and finding.first_step <= 5, loud


def test_gradient_accumulation_is_not_a_forgotten_zero_grad(tmp_path: Path) -> None:
    loop, loud = _diagnose(tmp_path, Loop(micro=4))
    assert loop.evidence["loss_last"] < 0.5 * loop.evidence["loss_first"]
    assert "zero_grad_missing" not in loud and loud == {}


def test_a_per_epoch_scheduler_stepped_per_batch(tmp_path: Path) -> None:
    loop, loud = _diagnose(
        tmp_path,
        Loop(lr=0.01, schedule=lambda o: torch.optim.lr_scheduler.StepLR(o, 1, gamma=0.7)),
    )
    assert loop.evidence["lr_min_over_peak"] < 1e-6
    assert loop.evidence["loss_last"] > 0.5 * loop.evidence["loss_first"]  # it did not learn
    finding = loud.get("lr_collapsed")
    assert finding is not None, loud
    assert finding.first_step < 60
    assert "lr_too_low" not in loud


def test_warmup_is_not_a_collapse(tmp_path: Path) -> None:
    loop, loud = _diagnose(
        tmp_path,
        Loop(schedule=lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.01, total_iters=50)),
    )
    assert loop.evidence["loss_last"] < 0.5 * loop.evidence["loss_first"]
    assert loud == {}


def test_weight_decay_that_collapses_the_weights(tmp_path: Path) -> None:
    loop, loud = _diagnose(tmp_path, Loop(weight_decay=2.0, lr=0.05))
    assert loop.evidence["weight_shrink"] < 0.2
    assert loop.evidence["loss_last"] > 0.5 * loop.evidence["loss_first"]
    finding = loud.get("weight_collapse")
    assert finding is not None, loud
    assert "weight_decay=2" in finding.explanation


def test_usual_weight_decay_is_quiet(tmp_path: Path) -> None:
    loop, loud = _diagnose(tmp_path, Loop(weight_decay=1e-4))
    assert loop.evidence["loss_last"] < 0.5 * loop.evidence["loss_first"]
    assert loud == {}


def test_clipping_that_throttles_every_step(tmp_path: Path) -> None:
    loop, loud = _diagnose(tmp_path, Loop(clip=1e-4, lr=0.01))
    assert 0 < loop.evidence["max_weight_change"] < 0.05
    assert loop.evidence["loss_last"] > 0.8 * loop.evidence["loss_first"]
    finding = loud.get("over_clipped")
    assert finding is not None, loud
    assert "no_update" not in loud
    assert math.isfinite(finding.extra["factor"]) and finding.extra["factor"] < 0.01


def _fp16_run(path: Path, dtype: torch.dtype, loss_factor: float) -> dict[str, float]:
    """A loss summed over many items and divided by their count (``loss_factor``) gives
    small gradients; in fp16 weights without a scaler they fall to fp16's floor. The
    label: the share of gradient entries that are exactly 0 in ``dtype`` but not in an
    fp32 copy of the same model on the same batch (underflow, measured)."""
    torch.manual_seed(0)
    x = torch.randn(512, 32)
    y = torch.tanh(x[:, :4].sum(1, keepdim=True))
    model = nn.Sequential(
        nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 1)
    ).to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=0.05 / loss_factor)
    extra = []
    with gradtop.Logger(path, model, optimizer=opt) as log:
        for i in range(60):
            opt.zero_grad()
            idx = torch.randint(0, 512, (64,), generator=torch.Generator().manual_seed(i))
            ref = copy.deepcopy(model).float()
            (nn.functional.mse_loss(ref(x[idx]), y[idx]) * loss_factor).backward()
            loss = nn.functional.mse_loss(model(x[idx].to(dtype)).float(), y[idx]) * loss_factor
            loss.backward()
            mats = [(p, q) for p, q in zip(model.parameters(), ref.parameters(), strict=True)]
            mats = [(p, q) for p, q in mats if p.ndim == 2]
            zeros = sum(int(((p.grad == 0) & (q.grad != 0)).sum()) for p, q in mats)
            extra.append(zeros / sum(p.numel() for p, _ in mats))
            log.log(loss.detach())
            opt.step()
    return {"underflow": sum(extra) / len(extra)}


def test_fp16_without_loss_scaling_underflows(tmp_path: Path) -> None:
    evidence = _fp16_run(tmp_path / "run.jsonl", torch.float16, 1e-4)
    assert evidence["underflow"] > 0.1  # the label: a tenth of the entries flushed to 0
    _, findings = diagnose_file(tmp_path / "run.jsonl")
    loud = _loud(findings)
    assert "fp16_underflow" in loud, loud
    assert "dead_units" not in loud  # the zeros are underflow, not dead ReLUs
    assert {f.key for f in loud["fp16_underflow"].fixes} >= {"grad_scaler"}


@pytest.mark.parametrize(
    ("dtype", "factor"), [(torch.float32, 1e-4), (torch.float16, 1.0)], ids=["fp32", "fp16-big"]
)
def test_no_underflow_finding_without_underflow(
    tmp_path: Path, dtype: torch.dtype, factor: float
) -> None:
    evidence = _fp16_run(tmp_path / "run.jsonl", dtype, factor)
    assert evidence["underflow"] < 0.02
    _, findings = diagnose_file(tmp_path / "run.jsonl")
    assert "fp16_underflow" not in _loud(findings)

"""What reaches optimizer.step(): the step norm and stale (never cleared) gradients.

Each test runs a real training loop with the real Logger and checks the record against
what the test measures itself at ``optimizer.step()`` time (a pre-step hook of its own).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import gradtop
from tests.support import read_records, steps


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))


def _true_step_norm(model: nn.Module) -> float:
    grads = [p.grad.double().norm() ** 2 for p in model.parameters() if p.grad is not None]
    return math.sqrt(float(sum(grads))) if grads else 0.0


def _train(
    path: Path,
    *,
    between: Callable[[nn.Module], None] = lambda m: None,
    zero: str = "none",
    micro: int = 1,
    n: int = 6,
    skip: tuple[int, ...] = (),
) -> tuple[list[gradtop.records.Step], list[float]]:
    """``zero``: "none" (set_to_none=True), "inplace" (set_to_none=False), "never"."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    seen: list[float] = []
    opt.register_step_pre_hook(lambda *_: seen.append(_true_step_norm(model)))
    with gradtop.Logger(path, model, optimizer=opt) as log:
        for i in range(n):
            if zero != "never":
                opt.zero_grad(set_to_none=zero == "none")
            for _ in range(micro):
                loss = model(torch.randn(4, 8)).pow(2).mean() / micro
                loss.backward()
            log.log(loss)
            between(model)
            if i not in skip:
                opt.step()
    return steps(read_records(path)), seen


def test_untouched_gradients_reach_the_step_as_logged(tmp_path: Path) -> None:
    logged, seen = _train(tmp_path / "run.jsonl")
    assert [s.step_grad_norm for s in logged] == [s.total_grad_norm for s in logged]
    assert [s.step_grad_norm for s in logged] == pytest.approx(seen, rel=1e-6)


@pytest.mark.parametrize("max_norm", [0.0, 0.1])
def test_clipping_after_log_is_measured(tmp_path: Path, max_norm: float) -> None:
    def clip(m: nn.Module) -> None:
        torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm=max_norm)

    logged, seen = _train(tmp_path / "run.jsonl", between=clip)
    assert [s.step_grad_norm for s in logged] == pytest.approx(seen, rel=1e-6, abs=1e-12)
    assert all(s.step_grad_norm == pytest.approx(max_norm, abs=1e-6) for s in logged)
    assert all(s.total_grad_norm > 2 * max_norm for s in logged if max_norm)


def test_a_step_that_never_came_has_no_step_norm(tmp_path: Path) -> None:
    logged, _ = _train(tmp_path / "run.jsonl", skip=(2,))
    assert logged[2].step_grad_norm is None
    assert all(s.step_grad_norm is not None for i, s in enumerate(logged) if i != 2)


def test_forgotten_zero_grad_is_stale(tmp_path: Path) -> None:
    logged, _ = _train(tmp_path / "run.jsonl", zero="never")
    assert [s.grads_stale for s in logged] == [None] + [True] * (len(logged) - 1)


@pytest.mark.parametrize(
    ("zero", "micro"), [("none", 1), ("inplace", 1), ("none", 3), ("inplace", 3)]
)
def test_cleared_gradients_are_not_stale(tmp_path: Path, zero: str, micro: int) -> None:
    """Both zero_grad modes, with and without gradient accumulation."""
    logged, _ = _train(tmp_path / "run.jsonl", zero=zero, micro=micro)
    assert [s.grads_stale for s in logged] == [None] + [False] * (len(logged) - 1)


def test_without_an_optimizer_nothing_is_claimed(tmp_path: Path) -> None:
    model = _model()
    with gradtop.Logger(tmp_path / "run.jsonl", model) as log:
        for _ in range(3):
            model.zero_grad()
            model(torch.randn(4, 8)).sum().backward()
            log.log(1.0)
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert all(s.step_grad_norm is None and s.grads_stale is None for s in logged)

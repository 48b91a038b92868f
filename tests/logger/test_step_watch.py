"""What reaches optimizer.step(): the step norm and stale (never cleared) gradients.

Each test runs a real training loop with the real Logger and checks the record against
what the test measures itself at ``optimizer.step()`` time (a pre-step hook of its own).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

import gradtop
from gradtop.logger import GradtopWarning
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


def _gan(
    path: Path, which: str, *, zero_d: bool = True
) -> tuple[list[gradtop.records.Step], list[float]]:
    """The DCGAN tutorial's loop, one Logger given ``optD`` or ``optG`` of one model.

    The generator's loss flows back through the discriminator after ``optD.step()`` and
    before the next ``optD.zero_grad()``: its backward reaches D's gradients uncleared.
    """
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))
    disc = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    model = nn.ModuleDict({"G": gen, "D": disc})
    opt_d = torch.optim.Adam(disc.parameters(), 2e-4)
    opt_g = torch.optim.Adam(gen.parameters(), 2e-4)
    opt = opt_d if which == "D" else opt_g
    seen: list[float] = []
    opt.register_step_pre_hook(
        lambda *_: seen.append(_true_step_norm(disc if which == "D" else gen))
    )
    bce = nn.BCEWithLogitsLoss()
    with gradtop.Logger(path, model, optimizer=opt) as log:
        for _ in range(6):
            real, z = torch.randn(16, 8), torch.randn(16, 4)
            if zero_d:
                opt_d.zero_grad()
            fake = gen(z)
            loss_d = bce(disc(real), torch.ones(16, 1)) + bce(
                disc(fake.detach()), torch.zeros(16, 1)
            )
            loss_d.backward()
            if which == "D":
                log.log(loss_d)
            opt_d.step()
            opt_g.zero_grad()
            loss_g = bce(disc(fake), torch.ones(16, 1))
            loss_g.backward()
            if which == "G":
                log.log(loss_g)
            opt_g.step()
    return steps(read_records(path)), seen


@pytest.mark.parametrize("which", ["D", "G"])
def test_a_gan_logs_what_its_own_optimizer_steps_on(tmp_path: Path, which: str) -> None:
    """D's gradients are cleared each iteration, later than the generator's backward
    reaches them: not stale. Each step norm counts the logged optimizer's parameters only
    (the other network's gradients never reach its step)."""
    logged, seen = _gan(tmp_path / "run.jsonl", which)
    assert [s.grads_stale for s in logged] == [None] + [False] * (len(logged) - 1)
    assert [s.step_grad_norm for s in logged] == pytest.approx(seen, rel=1e-6)
    # The total counts both networks' gradients there are at log() time.
    assert all(s.total_grad_norm >= s.step_grad_norm for s in logged)
    assert any(s.total_grad_norm > 1.01 * s.step_grad_norm for s in logged)


def test_a_gan_that_never_clears_its_discriminator_is_stale(tmp_path: Path) -> None:
    logged, _ = _gan(tmp_path / "run.jsonl", "D", zero_d=False)
    assert [s.grads_stale for s in logged] == [None] + [True] * (len(logged) - 1)


def test_a_parameter_left_out_of_the_optimizer_is_not_in_the_step_norm(tmp_path: Path) -> None:
    """Its gradient is never cleared by ``opt.zero_grad()`` and grows: the step never sees it."""
    model = _model()
    opt = torch.optim.SGD(list(model[2].parameters()), lr=0.01)
    seen: list[float] = []
    opt.register_step_pre_hook(lambda *_: seen.append(_true_step_norm(model[2])))
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt) as log:
        for _ in range(5):
            opt.zero_grad()
            model(torch.randn(4, 8)).pow(2).mean().backward()
            log.log(1.0)
            opt.step()
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.step_grad_norm for s in logged] == pytest.approx(seen, rel=1e-6)
    assert all(s.total_grad_norm > s.step_grad_norm for s in logged)


def test_amp_unscaling_after_log_is_measured(tmp_path: Path) -> None:
    """The plain AMP recipe logs the scaled gradients; ``scaler.step()`` unscales them in
    place without moving their version counters, and the step gets the unscaled ones."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    seen: list[float] = []
    opt.register_step_pre_hook(lambda *_: seen.append(_true_step_norm(model)))
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, scaler=scaler) as log:
        for _ in range(4):
            opt.zero_grad()
            loss = model(torch.randn(4, 8)).pow(2).mean()
            scaler.scale(loss).backward()
            log.log(loss)
            scaler.step(opt)
            scaler.update()
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.step_grad_norm for s in logged] == pytest.approx(seen, rel=1e-5)
    assert all(
        s.total_grad_norm == pytest.approx(1024 * n, rel=1e-4)
        for s, n in zip(logged, seen, strict=True)
    )


def test_a_group_added_after_the_logger_is_followed_not_warned(tmp_path: Path) -> None:
    model = _model()
    opt = torch.optim.SGD(list(model[0].parameters()), lr=0.01)
    told: list[str] = []
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt) as log:
        for i in range(3):
            if i == 1:
                opt.add_param_group({"params": list(model[2].parameters())})
            opt.zero_grad()
            model(torch.randn(4, 8)).pow(2).mean().backward()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", GradtopWarning)
                log.log(1.0)
                opt.step()
            told += [str(w.message) for w in caught]
    assert told == []
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.in_optimizer for s in logged] == [None] + [(True,) * 4] * 2


def test_gradients_zeroed_through_data_are_cleared(tmp_path: Path) -> None:
    """``p.grad.data.zero_()`` (old tutorials) leaves the version counter alone."""

    def zero_data(model: nn.Module) -> None:
        for p in model.parameters():
            if p.grad is not None:
                p.grad.data.zero_()

    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt) as log:
        for _ in range(5):
            zero_data(model)
            model(torch.randn(4, 8)).pow(2).mean().backward()
            log.log(1.0)
            opt.step()
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.grads_stale for s in logged] == [None] + [False] * 4


class _TwoHeads(nn.Module):
    """A multi-task model whose heads take turns: no backward reaches the smallest
    parameter (the second head's one-element bias) on the first head's batches."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Sequential(nn.Linear(8, 16), nn.Tanh())
        self.head_a = nn.Linear(16, 4)
        self.head_b = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor, task: str) -> torch.Tensor:
        return (self.head_a if task == "a" else self.head_b)(self.trunk(x))


@pytest.mark.parametrize("order", ["before", "after"])
@pytest.mark.parametrize("zero", ["none", "data", "never"])
def test_heads_taking_turns_keep_each_step_its_own(tmp_path: Path, order: str, zero: str) -> None:
    model = _TwoHeads()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    seen: list[float] = []
    opt.register_step_pre_hook(lambda *_: seen.append(_true_step_norm(model)))
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt, detail_every=1) as log:
        for task in "bbaabab":
            if zero == "none":
                opt.zero_grad()
            elif zero == "data":
                for p in model.parameters():
                    if p.grad is not None:
                        p.grad.data.zero_()
            model(torch.randn(16, 8), task).pow(2).mean().backward()
            if order == "before":
                log.log(1.0)
            opt.step()
            if order == "after":
                log.log(1.0)
    logged = steps(read_records(tmp_path / "run.jsonl"))
    first = 0 if order == "before" else 1  # the order is learnt at the first log()
    assert [s.step_grad_norm for s in logged[first:]] == pytest.approx(seen[first:], rel=1e-6)
    assert all(s.step_grad_norm is None for s in logged[:first])


def test_a_compiled_model_compiles_once_and_keeps_its_step_norms(tmp_path: Path) -> None:
    """The Logger's forward hook must not become a guard (a recompile per call) nor a
    graph break (an error under fullgraph=True)."""
    compiles: list[int] = []

    def backend(gm: torch.fx.GraphModule, _inputs: object) -> Callable[..., object]:
        compiles.append(1)
        return gm.forward

    model = _model()
    compiled = torch.compile(model, backend=backend, fullgraph=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    seen: list[float] = []
    opt.register_step_pre_hook(lambda *_: seen.append(_true_step_norm(model)))
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt) as log:
        for _ in range(5):
            opt.zero_grad()
            compiled(torch.randn(4, 8)).pow(2).mean().backward()
            log.log(1.0)
            opt.step()
    assert len(compiles) == 1
    logged = steps(read_records(tmp_path / "run.jsonl"))
    assert [s.step_grad_norm for s in logged] == pytest.approx(seen, rel=1e-6)

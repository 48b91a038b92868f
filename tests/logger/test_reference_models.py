"""Every statistic of every step equals a naive reference, on real models (issue 13).

MLP, CNN, a small GPT (tied head) and an LSTM train a few steps with AdamW and gradient
accumulation, through the real Logger into a real file, on the CPU path and on the
accelerator path (forced on CPU with ``sync_free=True``). Each step's reference is taken
where the optimizer sees the gradients: after the last micro-batch, so only the
accumulated gradient of the logged step counts; a parameter that gets no gradient is
null. The update ratio is checked against the weights before and after ``step()``.
Each record also carries the Logger's own cost (``logger_time``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import torch
from torch import nn

import gradtop
from tests.model_zoo import GPT, LSTMLM, cnn
from tests.reference_support import COMPARED
from tests.support import assert_close, headers, read_records, steps

Batch = Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]


def _mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3)
    )


def _vectors(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(6, 8, generator=gen), torch.randint(0, 3, (6,), generator=gen)


def _images(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 10, (4,), generator=gen)


def _tokens(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.randint(0, 64, (3, 9), generator=gen)
    return idx[:, :-1], idx[:, 1:]


MODELS: dict[str, tuple[Callable[[], nn.Module], Batch]] = {
    "mlp": (_mlp, _vectors),
    "cnn": (cnn, _images),
    "gpt": (GPT, _tokens),
    "lstm": (LSTMLM, _tokens),
}


class _WithUnused(nn.Module):
    """The model plus a layer its forward never uses: no gradient, null statistics."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.unused = nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    out = model(batch[0])
    return nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), batch[1].reshape(-1))


def _reference(named: Mapping[str, torch.Tensor], names: list[str]) -> dict[str, list[object]]:
    """float64, one tensor at a time, in the header's order (``reference_support``'s
    definitions, keyed by name: the header lists a tied tensor once)."""
    out: dict[str, list[object]] = {k: [] for k in COMPARED}
    for name in names:
        p = named[name]
        out["weight_norm"].append(p.detach().double().norm().item())
        g = None if p.grad is None else p.grad.double()
        out["grad_norm"].append(None if g is None else g.norm().item())
        out["grad_max"].append(None if g is None else g.abs().max().item())
        out["nonfinite"].append(None if g is None else int((~torch.isfinite(g)).sum()))
        out["zero_frac"].append(None if g is None else (g == 0).double().mean().item())
    return out


@pytest.mark.parametrize("sync_free", [False, True], ids=["cpu-path", "accelerator-path"])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_statistic_matches_the_reference_with_accumulation(
    tmp_path: Path, name: str, sync_free: bool
) -> None:
    make, batch = MODELS[name]
    torch.manual_seed(0)
    model = _WithUnused(make())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(1)
    path = tmp_path / "run.jsonl"
    named = dict(model.named_parameters())
    expected: list[dict[str, list[object]]] = []
    updates: list[dict[str, float | None]] = []
    with gradtop.Logger(path, model, optimizer=opt, detail_every=1) as log:
        log._engine.sync_free = sync_free
        names = [p.name for p in log.header.params]
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            for _ in range(2):  # two micro-batches; the optimizer sees their sum
                (_loss(model, batch(gen)) / 2).backward()
            expected.append(_reference(named, names))
            before = {n: named[n].detach().clone() for n in names}
            log.log(1.0)
            opt.step()
            updates.append(
                {
                    n: (named[n].detach() - before[n]).double().norm().item()
                    / before[n].double().norm().item()
                    if before[n].norm() > 0
                    else None
                    for n in names
                }
            )
        cost = log.cost_s
    records = read_records(path)
    assert [p.name for p in headers(records)[0].params] == names
    logged = steps(records)
    assert len(logged) == 3
    for step, want, update in zip(logged, expected, updates, strict=True):
        for stat in COMPARED:
            assert_close(step.stats[stat], want[stat], rel=1e-5, what=f"{name} {stat}")
        got = step.stats["update_ratio"]
        # A parameter without a gradient is skipped by AdamW: its ratio is a measured 0.
        assert_close(got, [update[n] for n in names], rel=1e-4, what=f"{name} update_ratio")
        assert step.stats["grad_norm"][-1] is None  # the unused layer (registered last)
        assert step.logger_time is not None and 0 < step.logger_time < math.inf
    # The records' own cost adds up to no more than what the Logger counted in total.
    assert sum(s.logger_time for s in logged if s.logger_time) <= cost + 1e-9

"""The naive per-parameter reference that the fused logger must agree with (needs torch).

Deliberately the slow, obvious computation: float64, one full tensor at a time, one
``.item()`` per number. The tests decide *when* it is taken (a framework hook, a
training step); this module only says *what* the numbers should be.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from gradtop.records import Step
from tests.support import assert_close

COMPARED = ("grad_norm", "grad_max", "weight_norm", "nonfinite", "zero_frac")


def named(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """A snapshot of the parameter list, for references taken later in a hook."""
    return list(model.named_parameters())


def naive_stats(
    params: nn.Module | Iterable[tuple[str, torch.Tensor]],
) -> dict[str, list[Any]]:
    """Per parameter, in ``named_parameters`` (or the given) order, in float64."""
    pairs = params.named_parameters() if isinstance(params, nn.Module) else params
    out: dict[str, list[Any]] = {name: [] for name in COMPARED}
    for _, p in pairs:
        out["weight_norm"].append(p.detach().double().norm().item())
        g = p.grad
        if g is None:
            for key in ("grad_norm", "grad_max", "nonfinite", "zero_frac"):
                out[key].append(None)
            continue
        g = g.to_dense().double() if g.is_sparse else g.double()
        out["grad_norm"].append(g.norm().item())
        out["grad_max"].append(g.abs().max().item() if g.numel() else 0.0)
        out["nonfinite"].append(int((~torch.isfinite(g)).sum().item()))
        out["zero_frac"].append((g == 0).double().mean().item() if g.numel() else None)
    return out


def assert_step_matches(step: Step, expected: dict[str, list[Any]], rel: float = 1e-5) -> None:
    for name in COMPARED:
        assert_close(step.stats[name], expected[name], rel=rel, what=f"step {step.step} {name}")

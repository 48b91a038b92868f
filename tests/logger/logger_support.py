"""A small model and one backward pass, the fixture most logger tests start from.

Strict reading lives in ``tests.support``; the naive reference in ``tests.reference_support``.
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(width: int = 16, depth: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(8, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.Tanh()]
    layers.append(nn.Linear(width, 3))
    return nn.Sequential(*layers)


def backward(model: nn.Module, batch: int = 6, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 8, generator=gen)
    y = torch.randint(0, 3, (batch,), generator=gen)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss

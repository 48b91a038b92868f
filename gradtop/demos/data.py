"""Synthetic, learnable data sets: no downloads, deterministic from a seed, tiny.

Labels come from a fixed random "teacher", so a healthy net can drive the loss far
below chance and a sick one visibly cannot.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

CLASSES = 10
FEATURES = 32
VOCAB = 16
RNN_FEATURES = 8


class Batches:
    """Endless random mini-batches drawn from a fixed data set."""

    def __init__(self, x: Tensor, y: Tensor, batch: int, seed: int) -> None:
        self.x, self.y, self.batch = x, y, batch
        self.gen = torch.Generator().manual_seed(seed + 1)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        while True:
            idx = torch.randint(0, len(self.x), (self.batch,), generator=self.gen)
            yield self.x[idx], self.y[idx]


def classification(seed: int, n: int = 2048) -> tuple[Tensor, Tensor]:
    """Gaussian inputs, 10 classes from a random linear teacher (learnable to ~0 loss)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, FEATURES, generator=gen)
    teacher = torch.randn(FEATURES, CLASSES, generator=gen)
    return x, (x @ teacher).argmax(dim=1)


def remember_first(seed: int, seq_len: int, n: int = 1024) -> tuple[Tensor, Tensor]:
    """Sequences whose class is decided by the FIRST step: gradients must cross time."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, seq_len, RNN_FEATURES, generator=gen)
    teacher = torch.randn(RNN_FEATURES, CLASSES, generator=gen)
    return x, (x[:, 0] @ teacher).argmax(dim=1)


def reverse_tokens(seed: int, seq_len: int, n: int = 2048) -> tuple[Tensor, Tensor]:
    """Token sequences and their reversal (a task that needs attention across positions)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, VOCAB, (n, seq_len), generator=gen)
    return x, x.flip(1)

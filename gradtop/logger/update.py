"""Update/weight ratio: ||Δw|| over one ``optimizer.step()``, measured, not estimated.

CS231n's advice is to watch *updates*, not raw gradients (docs research/diagnosis.md §0),
and for Adam the update is not ``lr * g``. So the parameters are snapshotted right
before the step and diffed right after it. Memory cost: one persistent copy of the
parameters the optimizer owns, on their own device, allocated on first use. Work is
only done on logged steps: the hooks return at once otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class UpdateTracker:
    """Snapshot before, diff after; everything stays on the device (no sync)."""

    def __init__(
        self,
        tensors: Sequence[Tensor],
        owned: Sequence[bool],
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.index = tuple(i for i, flag in enumerate(owned) if flag)
        self.n_params = len(tensors)
        self.params = [tensors[i] for i in self.index]
        self.device = device
        self.dtype = dtype
        self._snap: list[Tensor] | None = None
        groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
        for j, p in enumerate(self.params):
            groups.setdefault((p.device, p.dtype), []).append(j)
        self._groups = list(groups.items())
        order = [j for _, idx in self._groups for j in idx]
        self._perm = None
        if order != list(range(len(order))):
            inverse = [0] * len(order)
            for col, j in enumerate(order):
                inverse[j] = col
            self._perm = torch.tensor(inverse, dtype=torch.long, device=device)
        self.taken = False

    def __bool__(self) -> bool:
        return bool(self.params)

    @torch.no_grad()
    def snapshot(self) -> None:
        """Copy the parameters (called from the optimizer's step pre-hook)."""
        if self._snap is None:
            self._snap = [torch.empty_like(p) for p in self.params]
        for _, idx in self._groups:
            torch._foreach_copy_([self._snap[j] for j in idx], [self.params[j] for j in idx])
        self.taken = True

    @torch.no_grad()
    def delta_sumsq(self) -> Tensor:
        """||w_before - w_after||² per owned parameter, on the pack device (no sync)."""
        assert self._snap is not None
        self.taken = False
        rows = []
        for (device, dtype), idx in self._groups:
            snap = [self._snap[j] for j in idx]
            torch._foreach_sub_(snap, [self.params[j] for j in idx])  # reuse the buffer
            acc = torch.float64 if dtype == torch.float64 else torch.float32
            row = torch.stack(torch._foreach_norm(snap, 2.0, dtype=acc)).to(self.dtype).square_()
            rows.append(row if device == self.device else row.to(self.device))
        flat = torch.cat(rows)
        return flat if self._perm is None else flat.index_select(0, self._perm)

    def expand(self, values: Sequence[float]) -> list[float | None]:
        """Spread the owned parameters' values over the header's list (None elsewhere)."""
        out: list[float | None] = [None] * self.n_params
        for i, v in zip(self.index, values, strict=True):
            out[i] = v
        return out

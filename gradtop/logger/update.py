"""Update/weight ratio: ||Δw|| over one ``optimizer.step()``, measured, not estimated.

CS231n's advice is to watch *updates*, not raw gradients (docs research/diagnosis.md §0),
and for Adam the update is not ``lr * g``. So the parameters are snapshotted right
before the step and diffed right after it. Memory cost: one persistent copy of the
parameters the optimizer owns, on their own device, allocated on first use. Work is
only done on detail steps (``Logger(detail_every=...)``): the hooks return at once
otherwise. On CPU the one-pass kernels (gradtop.logger.onepass, with numba) copy and
measure each weight in one read and diff it read-only; without them each tensor is
copied, measured and diffed one at a time so that it is read from cache, not memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from gradtop.logger import onepass
from gradtop.logger.parallel import local
from gradtop.logger.reductions import cpu_sumsq, cpu_sumsq_row


class UpdateTracker:
    """Snapshot before, diff after; everything stays on the device (no sync)."""

    def __init__(
        self,
        tensors: Sequence[Tensor],
        owned: Sequence[bool],
        device: torch.device,
        dtype: torch.dtype,
        *,
        sharded: bool = False,
    ) -> None:
        self.index = tuple(i for i, flag in enumerate(owned) if flag)
        # Sharded (DTensor) parameters: snapshot and diff this rank's local shards only,
        # so the copy's memory is sharded too (gradtop.logger.parallel).
        self.sharded = sharded
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
        # CPU fp32/fp64: the one-pass kernels where numba provides them (onepass); False
        # keeps the torch path (the tests compare both; the benchmark measures both).
        self.cpu_kernel = True

    def __bool__(self) -> bool:
        return bool(self.params)

    @torch.no_grad()
    def snapshot(self) -> Tensor:
        """Copy the parameters (from the step pre-hook); return their ||w||² row.

        The weight norms the step record needs are taken here, from the tensors the copy
        just brought into cache, instead of in a separate sweep at ``log()`` time.
        """
        if self._snap is None:
            self._snap = [torch.empty_like(p) for p in self._locals()]
        rows = []
        for (device, dtype), idx in self._groups:
            snap = [self._snap[j] for j in idx]
            params = self._locals(idx)
            acc = torch.float64 if dtype == torch.float64 else torch.float32
            if device.type == "cpu":
                squares = onepass.copy_sumsq(params, snap) if self.cpu_kernel else None
                if squares is None:  # one tensor at a time: the norm reads it from cache
                    squares = []
                    for s, p in zip(snap, params, strict=True):
                        s.copy_(p)
                        squares.append(cpu_sumsq(s, acc))
                row = cpu_sumsq_row(squares, snap, self.dtype)
                rows.append(row if device == self.device else row.to(self.device))
                continue
            torch._foreach_copy_(snap, params)
            norms = list(torch._foreach_norm(snap, 2.0, dtype=acc))
            rows.append(self._row(norms, device))
        self.taken = True
        return self._ordered(rows)

    @torch.no_grad()
    def delta_sumsq(self) -> Tensor:
        """||w_before - w_after||² per owned parameter, on the pack device (no sync)."""
        assert self._snap is not None
        self.taken = False
        rows = []
        for (device, dtype), idx in self._groups:
            snap = [self._snap[j] for j in idx]
            params = self._locals(idx)
            acc = torch.float64 if dtype == torch.float64 else torch.float32
            if device.type == "cpu":
                squares = onepass.diff_sumsq(snap, params) if self.cpu_kernel else None
                if squares is None:
                    squares = []
                    for s, p in zip(snap, params, strict=True):
                        s.sub_(p)  # reuse the buffer: it is refilled at the next snapshot
                        squares.append(cpu_sumsq(s, acc))
                    row = cpu_sumsq_row(squares, snap, self.dtype)
                else:  # an Inf here is a real overflow of the difference: kept as it is
                    row = squares.to(self.dtype)
                rows.append(row if device == self.device else row.to(self.device))
                continue
            torch._foreach_sub_(snap, params)
            norms = list(torch._foreach_norm(snap, 2.0, dtype=acc))
            rows.append(self._row(norms, device))
        return self._ordered(rows)

    @torch.no_grad()
    def weight_sumsq(self) -> Tensor:
        """||w||² per owned parameter without a snapshot (a step that never came)."""
        rows = []
        for (device, dtype), idx in self._groups:
            acc = torch.float64 if dtype == torch.float64 else torch.float32
            norms = torch._foreach_norm(self._locals(idx), 2.0, dtype=acc)
            rows.append(self._row(list(norms), device))
        return self._ordered(rows)

    def _locals(self, idx: Sequence[int] | None = None) -> list[Tensor]:
        params = self.params if idx is None else [self.params[j] for j in idx]
        return [local(p) for p in params] if self.sharded else params

    def _row(self, norms: list[Tensor], device: torch.device) -> Tensor:
        row = torch.stack(norms).to(self.dtype).square_()
        return row if device == self.device else row.to(self.device)

    def _ordered(self, rows: list[Tensor]) -> Tensor:
        flat = rows[0] if len(rows) == 1 else torch.cat(rows)
        return flat if self._perm is None else flat.index_select(0, self._perm)

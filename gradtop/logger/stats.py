"""Per-parameter gradient statistics: fused on the device, packed into one small matrix.

Modelled on ``torch/nn/utils/clip_grad.py``: gradients are grouped by (device, dtype),
reduced with ``torch._foreach_*`` kernels where torch has fused ones, and nothing is read
back to the host here. The work is split in two halves on purpose:

* :meth:`StatsEngine.partials` computes *local partial statistics* on the device: sums of
  squares, element counts and a max, i.e. quantities that combine across ranks with a
  plain ``all_reduce`` (SUM or MAX per row, gradtop.logger.layout) before anything is
  finalised.
* :func:`gradtop.logger.finalise.finalise` runs on the host (the writer thread) and turns
  partials into what the record stores: square roots, fractions, ``None`` where missing.

Sync points: on CPU tensors there is no device, so "reading" a value costs nothing and
the non-finite count is computed only for the parameters whose norm is non-finite (a
data-dependent branch, free on CPU). On accelerators a branch would stall the training
thread, so counts are computed unconditionally with fused kernels and the code below
never reads a device value: the caller makes exactly one asynchronous copy to the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gradtop.logger import onepass
from gradtop.logger.layout import GRAD_ROWS, GRAD_SUM_ROWS, HIST_EDGES, N_ROWS, Row
from gradtop.logger.parallel import local, local_grad
from gradtop.logger.reductions import (
    DOT_MAX,
    count_nonzero_float,
    cpu_sumsq,
    cpu_sumsq_row,
    nonfinite_fused,
    sparse_block,
)

# Rows _dense_rows and sparse_block measure per gradient: sumsq, nonzero, nonfinite,
# absmax (every gradient row of gradtop.logger.layout but GRAD_PRESENT).
_MEASURED_ROWS = len(GRAD_ROWS) - 1

# What a layout depends on, per parameter: None (no gradient) or the gradient's
# (device, dtype, is_sparse, is_empty).
_GradKey = tuple[torch.device, torch.dtype, bool, bool] | None


def pack_dtype(device: torch.device) -> torch.dtype:
    """float64 keeps element counts exact; MPS has no float64, so it gets float32."""
    return torch.float32 if device.type == "mps" else torch.float64


@dataclass(slots=True)
class Partials:
    """Local partial statistics, still on the device; nothing has been synchronised.

    ``grad`` is ``[len(GRAD_ROWS) * P]``: the gradient rows of gradtop.logger.layout, in
    that order, each in the header's parameter order. ``weight`` is the ``[P]`` weight
    sum of squares, or None while it is still to be measured (the update tracker
    measures the weights during its snapshot, when they are in cache anyway). ``hist``
    is ``[P, HIST_BINS]`` counts or None.
    """

    grad: Tensor
    weight: Tensor | None
    hist: Tensor | None = None

    def sum_pieces(self, update: Tensor | None = None) -> list[Tensor]:
        """The pieces of the step's SUM section (``StepLayout.sums``), in order."""
        assert self.weight is not None
        pieces = [self.grad[: self._cut()], self.weight]
        if self.hist is not None:
            pieces.append(self.hist.reshape(-1))
        if update is not None:
            pieces.append(update)
        return pieces

    def max_pieces(self) -> list[Tensor]:
        """The pieces of the step's MAX section (``StepLayout.maxes``)."""
        return [self.grad[self._cut() :]]

    def _cut(self) -> int:
        assert self.weight is not None
        return GRAD_SUM_ROWS * self.weight.numel()

    @property
    def matrix(self) -> Tensor:
        """``[N_ROWS, P]``, rows in ``layout.Row`` order (the histogram is not part of it)."""
        assert self.weight is not None
        cut = self._cut()
        rows = torch.cat([self.grad[:cut], self.weight, self.grad[cut:]])
        return rows.view(N_ROWS, self.weight.numel())


@dataclass(frozen=True, slots=True)
class _Layout:
    """How this step's gradients group; cached because it almost never changes."""

    dense: tuple[tuple[torch.device, tuple[int, ...]], ...]
    sparse: tuple[int, ...]
    perm: Tensor | None  # param i -> column of cat(groups, pad); None: one group, in order
    present: Tensor  # [P] on the pack device


class StatsEngine:
    """Computes :class:`Partials` for a fixed list of parameters, step after step."""

    def __init__(
        self,
        tensors: Sequence[Tensor],
        sync_free: bool | None = None,
        *,
        sharded: bool = False,
        cpu_kernel: bool = True,
    ) -> None:
        self.tensors = tuple(tensors)
        # Sharded (DTensor) parameters: every statistic is computed on this rank's local
        # shard, read afresh each step (gradtop.logger.parallel); numels stay global.
        self.sharded = sharded
        self.numels = tuple(int(t.numel()) for t in self.tensors)
        self.device = self.tensors[0].device if self.tensors else torch.device("cpu")
        self.dtype = pack_dtype(self.device)
        # None: decide per device (fused counts off CPU). Tests force True to exercise
        # the accelerator path on CPU.
        self.sync_free = sync_free
        # CPU fp32/fp64 groups use the one-pass kernel where numba provides it
        # (gradtop.logger.onepass); False keeps the torch path (the tests compare both).
        self.cpu_kernel = cpu_kernel
        if cpu_kernel and any(
            t.device.type == "cpu" and t.dtype in onepass.DTYPES for t in self.tensors
        ):
            onepass.load()  # numba's start-up (~0.8 s) here, not in the first step's time
        self._layouts: dict[tuple[_GradKey, ...], _Layout] = {}
        self._last_layout: _Layout | None = None
        self.layout_changed = False
        self._zeros: dict[int, Tensor] = {}
        self._placeholders: dict[tuple[int, torch.device], Tensor] = {}
        self.nonfinite_seen: bool | None = False
        self._nonfinite_unknown = False
        self._subsets: dict[
            tuple[int, ...], tuple[list[tuple[tuple[Any, ...], tuple[int, ...]]], Tensor | None]
        ] = {}
        self._weight_groups = _group_indices(
            [(i, (t.device, t.dtype)) for i, t in enumerate(self.tensors)]
        )
        self._weight_perm = _perm_for([idx for _, idx in self._weight_groups], len(self.tensors))
        if self._weight_perm is not None:
            self._weight_perm = self._weight_perm.to(self.device)

    # ------------------------------------------------------------------ per step

    @torch.no_grad()
    def partials(self, hist: bool = False, weights: bool = True, detail: bool = True) -> Partials:
        """Gradient rows in one flat vector built by a single ``cat`` (few ops per step).

        ``weights=False`` leaves :attr:`Partials.weight` to the caller (the update
        tracker measures it during its snapshot). ``detail=False`` (a step between two
        detail steps, see ``Logger(detail_every=...)``) skips the zero count and the
        weights: their rows hold zeros that finalising turns into nulls, so the packed
        vector keeps its size whatever the cadence (the distributed reduction needs that).
        """
        # Whether this step's gradients held NaN/Inf: known for free on CPU; None where
        # only the device knows (fused or sparse path; the writer thread finds out).
        self.nonfinite_seen = False
        self._nonfinite_unknown = False
        n = len(self.tensors)
        if not n:
            empty = torch.zeros(0, dtype=self.dtype, device=self.device)
            return Partials(empty, empty if weights or not detail else None)
        if self.sharded:
            grads = [local_grad(t) for t in self.tensors]
        else:
            grads = [t.grad for t in self.tensors]
        layout = self._layout(grads)
        # Which parameters have a gradient changed (cached layouts: identity tells): a
        # layer unfrozen or frozen, seen by the Logger at no cost (Logger._follow_roles).
        self.layout_changed = layout is not self._last_layout
        self._last_layout = layout
        if layout.perm is None:  # the common case: one dense group, already in order
            device = layout.dense[0][0]
            rows = list(self._dense_rows(device, grads, detail))  # type: ignore[arg-type]
            rows = [r if r.device == self.device else r.to(self.device) for r in rows]
        else:
            rows = self._scattered_rows(grads, layout, detail)
        if self._nonfinite_unknown or layout.sparse:
            self.nonfinite_seen = None
        sumsq, nonzero, nonfinite, absmax = rows
        by_row = {
            Row.GRAD_SUMSQ: sumsq,
            Row.GRAD_NONZERO: nonzero,
            Row.GRAD_NONFINITE: nonfinite,
            Row.GRAD_PRESENT: layout.present,
            Row.GRAD_ABSMAX: absmax,
        }
        # cat promotes the integer counts to the pack dtype (float64: exact up to 2**53).
        flat = torch.cat([by_row[r] for r in GRAD_ROWS])
        if not detail:
            weight: Tensor | None = self._placeholder(n, self.device)
        else:
            weight = self.weight_row() if weights else None
        return Partials(grad=flat, weight=weight, hist=self._hist(grads) if hist else None)

    def _placeholder(self, n: int, device: torch.device) -> Tensor:
        """Zeros standing in for a row not measured on this step (read-only, cached)."""
        key = (n, device)
        row = self._placeholders.get(key)
        if row is None:
            row = self._placeholders[key] = torch.zeros(n, dtype=self.dtype, device=device)
        return row

    def _scattered_rows(
        self, grads: list[Tensor | None], layout: _Layout, detail: bool = True
    ) -> list[Tensor]:
        """Several groups, sparse or missing gradients: gather columns into header order."""
        blocks: list[Tensor] = []
        for device, idx in layout.dense:
            rows = self._dense_rows(device, [grads[i] for i in idx], detail)  # type: ignore[misc]
            block = torch.stack([r.to(self.dtype) for r in rows])
            blocks.append(block if block.device == self.device else block.to(self.device))
        if layout.sparse:
            sparse = [grads[i] for i in layout.sparse]
            blocks.append(sparse_block(sparse, self.dtype, self.device))  # type: ignore[arg-type]
        absent = torch.zeros((_MEASURED_ROWS, 1), dtype=self.dtype, device=self.device)
        blocks.append(absent)
        assert layout.perm is not None
        return list(torch.cat(blocks, dim=1).index_select(1, layout.perm).unbind(0))

    def _dense_rows(
        self, device: torch.device, grads: list[Tensor], detail: bool = True
    ) -> tuple[Tensor, ...]:
        """sumsq, nonzero, nonfinite, absmax of one (device, dtype) group, as [n] rows.

        Without ``detail`` the nonzero row is a placeholder (the zero count is skipped).
        """
        dtype = grads[0].dtype
        acc = torch.float64 if dtype == torch.float64 else torch.float32  # fp16/bf16 -> fp32
        fused = self.sync_free if self.sync_free is not None else device.type != "cpu"
        if fused:
            # Accelerators: fused multi-tensor kernels; the zero count is one small kernel
            # per tensor (torch has no fused integer count). No value is read back.
            self._nonfinite_unknown = True
            sumsq = torch.stack(torch._foreach_norm(grads, 2.0, dtype=acc))
            absmax = torch.stack(torch._foreach_norm(grads, math.inf))
            if detail:
                nonzero = torch.stack([count_nonzero_float(g) for g in grads])
            else:
                nonzero = self._placeholder(len(grads), device)
            nonfinite = torch.stack(nonfinite_fused(grads))
            return sumsq.to(self.dtype).square_(), nonzero, nonfinite, absmax
        if self.cpu_kernel and dtype in onepass.DTYPES:
            one = onepass.measure(grads, count_zeros=detail)
            if one is not None:
                return self._onepass_rows(grads, one, device)
        # CPU without the kernel: memory bandwidth is the cost, so each tensor gets its
        # reductions back to back while it is in cache (measured ~1.5x faster than
        # separate sweeps over all gradients). The sum of squares of fp32/fp64 is a BLAS
        # dot (about 2x faster than vector_norm here, and more accurate); aminmax is one
        # vectorised pass (the inf-norm is a slow path on CPU).
        squares: list[Tensor] = []
        highs: list[Tensor] = []
        lows: list[Tensor] = []
        counts: list[Tensor] = []
        # The loop body is the per-tensor Python that stays (a fused foreach pass would
        # read each gradient from memory twice: measured 1.7 vs 1.2 ms on the 12x512
        # MLP, docs/performance.md); it is kept to the kernels and the appends.
        dots = dtype in (torch.float32, torch.float64)
        dot, aminmax = torch.dot, torch.aminmax
        for g in grads:
            if dots and g.numel() < DOT_MAX:  # cpu_sumsq, inlined
                flat = g.view(-1) if g.is_contiguous() else g.reshape(-1)
                squares.append(dot(flat, flat))
            else:
                squares.append(cpu_sumsq(g, acc))
            low, high = aminmax(g)
            lows.append(low)
            highs.append(high)
            if detail:
                counts.append(count_nonzero_float(g))
        # One stack for all three (fewer small ops: each costs ~5-10 us on CPU); the
        # caller's cat promotes to the pack dtype.
        n = len(grads)
        values = torch.stack(squares + lows + highs)
        sumsq, lows_t, highs_t = values[:n], values[n : 2 * n], values[2 * n :]
        absmax = torch.maximum(highs_t, lows_t.neg())
        sumsq, nonfinite = self._nonfinite_where_needed(grads, values, sumsq, absmax)
        nonzero = torch.stack(counts) if detail else self._placeholder(n, device)
        return sumsq, nonzero, nonfinite, absmax

    def _onepass_rows(
        self, grads: list[Tensor], one: onepass.OnePass, device: torch.device
    ) -> tuple[Tensor, ...]:
        """The kernel's rows; NaN/Inf are counted only where its results are not finite."""
        if one.suspects:
            sumsq, nonfinite = self._count_nonfinite(grads, one.sumsq, one.absmax)
        else:  # finite sums of squares and maxima: no NaN/Inf anywhere (onepass_numba)
            sumsq, nonfinite = one.sumsq, self._no_nonfinite(len(grads))
        nonzero = one.nonzero if one.nonzero is not None else self._placeholder(len(grads), device)
        return sumsq, nonzero, nonfinite, one.absmax

    def _nonfinite_where_needed(
        self, grads: list[Tensor], values: Tensor, sumsq: Tensor, absmax: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Exact NaN/Inf counts, computed only where a norm says there are any (CPU only).

        Finite sums of squares, minima and maxima (``values``) prove the tensors hold no
        NaN/Inf, so a healthy step costs two tiny ops. ``bool(...)`` reads a CPU tensor:
        no sync.
        """
        if bool(torch.isfinite(values).all()):
            return sumsq, self._no_nonfinite(len(grads))
        return self._count_nonfinite(grads, sumsq, absmax)

    def _no_nonfinite(self, n: int) -> Tensor:
        """The all-zero NaN/Inf count row (read-only, cached per length)."""
        zeros = self._zeros.get(n)
        if zeros is None:
            zeros = self._zeros[n] = torch.zeros(n, dtype=torch.int64)
        return zeros

    def _count_nonfinite(
        self, grads: list[Tensor], sumsq: Tensor, absmax: Tensor
    ) -> tuple[Tensor, Tensor]:
        """NaN/Inf counts of the tensors whose sumsq or absmax is not finite.

        Sets :attr:`nonfinite_seen` (the logger then measures the next step in detail).
        Returns (sumsq, counts): a sum of squares that overflowed over finite entries is
        recomputed in float64.
        """
        sumsq = sumsq.to(self.dtype, copy=True)
        bad = ~(torch.isfinite(sumsq) & torch.isfinite(absmax))
        counts = torch.zeros(len(grads), dtype=torch.int64)
        seen = False
        for j in bad.nonzero().flatten().tolist():
            g = grads[j]
            counts[j] = g.numel() - int(torch.isfinite(g).sum())
            if counts[j] == 0:  # finite entries whose fp32 sum of squares overflowed
                sumsq[j] = torch.linalg.vector_norm(g, 2.0, dtype=torch.float64).square()
            seen = seen or bool(counts[j] > 0)
        self.nonfinite_seen = bool(self.nonfinite_seen) or seen
        return sumsq, counts

    @torch.no_grad()
    def weight_row(self, index: tuple[int, ...] | None = None) -> Tensor:
        """Weight sums of squares of all parameters (or of ``index``), fused per group."""
        if index is None:
            groups, perm = self._weight_groups, self._weight_perm
        else:
            groups, perm = self._subset_groups(index)
        rows = []
        for (device, dtype), idx in groups:
            acc = torch.float64 if dtype == torch.float64 else torch.float32
            tensors = [self.tensors[i] for i in idx]
            if self.sharded:
                tensors = [local(t) for t in tensors]
            if device.type == "cpu":  # per-tensor BLAS dots beat the foreach fallback
                row = cpu_sumsq_row([cpu_sumsq(t, acc) for t in tensors], tensors, self.dtype)
            else:
                norms = torch._foreach_norm(tensors, 2.0, dtype=acc)
                row = torch.stack(norms).to(self.dtype).square_()
            rows.append(row if device == self.device else row.to(self.device))
        if not rows:
            return torch.zeros(0, dtype=self.dtype, device=self.device)
        flat = rows[0] if len(rows) == 1 else torch.cat(rows)
        return flat if perm is None else flat.index_select(0, perm)

    def _subset_groups(
        self, index: tuple[int, ...]
    ) -> tuple[list[tuple[tuple[Any, ...], tuple[int, ...]]], Tensor | None]:
        """Groups and gather index for a subset, built once: the index upload to the
        device (a host-to-device copy) then happens once, not on every logged step."""
        cached = self._subsets.get(index)
        if cached is None:
            position = {i: j for j, i in enumerate(index)}
            keyed = [(i, (self.tensors[i].device, self.tensors[i].dtype)) for i in index]
            groups = [(k, tuple(position[i] for i in idx)) for k, idx in _group_indices(keyed)]
            perm = _perm_for([idx for _, idx in groups], len(index))
            groups = [(k, tuple(index[j] for j in idx)) for k, idx in groups]
            cached = self._subsets[index] = (groups, None if perm is None else perm.to(self.device))
        return cached

    def _hist(self, grads: list[Tensor | None]) -> Tensor:
        """Per-parameter log10|g| histogram; costs a few kernels per parameter."""
        lo, hi, bins = HIST_EDGES[0], HIST_EDGES[-1], len(HIST_EDGES) - 1
        out = torch.zeros((len(grads), bins), dtype=self.dtype, device=self.device)
        for i, g in enumerate(grads):
            if g is None or g.numel() == 0:
                continue
            values = g.coalesce().values() if g.is_sparse else g  # coalesce: a sync on CUDA
            mags = torch.log10(values.detach().abs().float()).clamp_(lo, hi)
            counts = torch.histc(mags, bins=bins, min=lo, max=hi).to(self.dtype)
            if g.is_sparse:  # entries outside the sparse index are exact zeros
                counts[0] += g.numel() - values.numel()
            out[i] = counts.to(self.device)
        return out

    # ------------------------------------------------------------------ layout

    def _layout(self, grads: list[Tensor | None]) -> _Layout:
        key: tuple[_GradKey, ...] = tuple(
            None if g is None else (g.device, g.dtype, g.is_sparse, g.numel() == 0) for g in grads
        )
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._build_layout(key)
            if len(self._layouts) > 64:  # gradients that keep changing: don't grow forever
                self._layouts.clear()
            self._layouts[key] = layout
        return layout

    def _build_layout(self, key: tuple[_GradKey, ...]) -> _Layout:
        dense_items: list[tuple[int, tuple[Any, ...]]] = []
        sparse: list[int] = []
        for i, k in enumerate(key):
            if k is None:
                continue
            device, dtype, is_sparse, empty = k
            if empty:
                continue  # present, but every statistic is 0 (zero_frac is None)
            if is_sparse:
                sparse.append(i)
            else:
                dense_items.append((i, (device, dtype)))
        groups = _group_indices(dense_items)
        order = [idx for _, idx in groups] + ([tuple(sparse)] if sparse else [])
        simple = not sparse and len(groups) == 1 and groups[0][1] == tuple(range(len(key)))
        perm = None if simple else _gather_index(order, len(key))
        # Built once per layout: these small host-to-device uploads (a sync on CUDA) happen
        # on the first logged step and when the set of gradients changes, not every step.
        present = torch.tensor(
            [0.0 if k is None else 1.0 for k in key], dtype=self.dtype, device=self.device
        )
        return _Layout(
            dense=tuple((gk[0], idx) for gk, idx in groups),
            sparse=tuple(sparse),
            perm=None if perm is None else perm.to(self.device),
            present=present,
        )


def _group_indices(
    items: Sequence[tuple[int, tuple[Any, ...]]],
) -> list[tuple[tuple[Any, ...], tuple[int, ...]]]:
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, k in items:
        groups.setdefault(k, []).append(i)
    return [(k, tuple(v)) for k, v in groups.items()]


def _perm_for(order: Sequence[Sequence[int]], n: int) -> Tensor | None:
    """Like _gather_index, but None when the groups are already in header order."""
    if [i for idx in order for i in idx] == list(range(n)):
        return None
    return _gather_index(order, n)


def _gather_index(order: Sequence[Sequence[int]], n: int) -> Tensor:
    """Column per parameter into ``cat(groups) + [pad]``; the pad column means absent."""
    flat = [i for idx in order for i in idx]
    pad = len(flat)
    perm = [pad] * n
    for col, i in enumerate(flat):
        perm[i] = col
    return torch.tensor(perm, dtype=torch.long)

"""One logged step's reduction across ranks, for sharded (DTensor) parameters.

Each rank brings the partial statistics of its local shards (gradtop.logger.stats);
this module packs the additive ones into one vector and the max |g| row into another,
runs the two collectives of gradtop.logger.parallel.reduce_partials, and unpacks the
result into the same :class:`Partials` shape a single process produces, so finalising
and writing (rank 0 only) need not know the job was distributed.

Every rank must issue the same collectives with the same sizes, or the job hangs. So a
rank whose local statistics failed still joins, with NaNs of the agreed size (the step
then reads as NaN: visibly broken, not silently wrong), and the sizes depend only on
things every rank agrees on: the parameter list, the histogram cadence and whether the
optimizer step happened.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from gradtop.logger.finalise import HIST_EDGES
from gradtop.logger.parallel import reduce_partials
from gradtop.logger.stats import Partials, StatsEngine


class ReductionFailed(RuntimeError):
    """The collective itself failed (a peer died, the process group timed out)."""


class ShardReducer:
    """Count-once masks and the pack/reduce/unpack of one logged step."""

    def __init__(
        self,
        keep: Sequence[bool],
        owned: Sequence[int] | None,
        engine: StatsEngine,
        on_local_error: Callable[[Exception], None],
    ) -> None:
        self.n = len(keep)
        self.dtype = engine.dtype
        self.device = engine.device
        self.keep = torch.tensor(list(keep), dtype=torch.bool, device=self.device)
        owned_keep = [keep[i] for i in owned] if owned is not None else []
        self.keep_owned = torch.tensor(owned_keep, dtype=torch.bool, device=self.device)
        self.on_local_error = on_local_error

    def reduce(
        self, partials: Partials | None, hist: bool, update: Tensor | None, n_update: int
    ) -> tuple[Partials, Tensor | None]:
        n, bins = self.n, len(HIST_EDGES) - 1
        size = 5 * n + (n * bins if hist else 0) + n_update
        try:
            sums, maxes = self._pack(partials, hist, update, n_update)
            if sums.numel() != size:
                raise RuntimeError(f"packed {sums.numel()} values, expected {size}")
        except Exception as exc:  # still join the collectives, or the other ranks hang
            self.on_local_error(exc)
            sums = torch.full((size,), math.nan, dtype=self.dtype, device=self.device)
            maxes = torch.full((n,), math.nan, dtype=self.dtype, device=self.device)
        try:
            reduce_partials(sums, maxes)
        except Exception as exc:
            raise ReductionFailed(f"{type(exc).__name__}: {exc}") from exc
        # A NaN anywhere makes a sum of squares NaN; make max |g| NaN there too, as it is
        # in one process, whatever the backend's MAX does with NaN.
        maxes = torch.where(torch.isnan(sums[:n]), math.nan, maxes)
        offset = 5 * n
        reduced_hist = None
        if hist:
            reduced_hist = sums[offset : offset + n * bins].view(n, bins)
            offset += n * bins
        reduced = Partials(
            grad=torch.cat([sums[: 4 * n], maxes]), weight=sums[4 * n : 5 * n], hist=reduced_hist
        )
        return reduced, (sums[offset:] if n_update else None)

    def _pack(
        self, p: Partials | None, hist: bool, update: Tensor | None, n_update: int
    ) -> tuple[Tensor, Tensor]:
        """Additive pieces, zeroed on replicated copies (``where``: a NaN there stays out)."""
        if p is None or p.weight is None:
            raise RuntimeError("no local statistics on this rank")
        n = self.n
        pieces = [
            torch.where(self.keep, p.grad[: 4 * n].view(4, n), 0.0).reshape(-1),
            torch.where(self.keep, p.weight, 0.0),
        ]
        if hist:
            if p.hist is None:
                raise RuntimeError("histogram expected")
            pieces.append(torch.where(self.keep.unsqueeze(1), p.hist, 0.0).reshape(-1))
        if n_update:
            assert update is not None
            pieces.append(torch.where(self.keep_owned, update, 0.0))
        return torch.cat(pieces), p.grad[4 * n :].clone()

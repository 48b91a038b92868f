"""One logged step's reduction across ranks, for sharded (DTensor) parameters.

Each rank brings the partial statistics of its local shards (gradtop.logger.stats);
this module packs the additive ones into the step's SUM section and the maxima into its
MAX section (gradtop.logger.layout) and runs the two collectives of
gradtop.logger.parallel.reduce_partials. The reduced sections are laid out as one
process lays them out, so finalising and writing (rank 0 only) need not know the job
was distributed.

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

from gradtop.logger.layout import HIST_BINS, MAX_ROWS, SUM_ROWS, Row, StepLayout
from gradtop.logger.parallel import reduce_partials
from gradtop.logger.stats import Partials, StatsEngine


class ReductionFailed(RuntimeError):
    """The collective itself failed (a peer died, the process group timed out)."""


class ShardReducer:
    """Count-once masks and the pack/reduce of one logged step's SUM and MAX sections."""

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
        # Must not hold the Logger (e.g. as a bound method): the Logger holds this reducer.
        self.on_local_error = on_local_error
        self._masks: dict[StepLayout, Tensor] = {}

    def reduce(
        self, partials: Partials | None, hist: bool, update: Tensor | None, n_update: int
    ) -> tuple[Tensor, Tensor]:
        """Everyone's SUM and MAX sections (``StepLayout.sums``, ``.maxes``), reduced."""
        layout = StepLayout(self.n, hist=hist, update=n_update)
        try:
            sums, maxes = self._pack(partials, layout, update)
        except Exception as exc:  # still join the collectives, or the other ranks hang
            self.on_local_error(exc)
            sums = self._nans(layout.sums.stop)
            maxes = self._nans(len(MAX_ROWS) * self.n)
        try:
            reduce_partials(sums, maxes)
        except Exception as exc:
            raise ReductionFailed(f"{type(exc).__name__}: {exc}") from exc
        # A NaN anywhere makes a sum of squares NaN; make max |g| NaN there too, as it is
        # in one process, whatever the backend's MAX does with NaN.
        nan = torch.isnan(sums[layout.row(Row.GRAD_SUMSQ)])
        maxes = torch.where(nan, math.nan, maxes.view(len(MAX_ROWS), self.n)).reshape(-1)
        return sums, maxes

    def _pack(
        self, p: Partials | None, layout: StepLayout, update: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Additive pieces, zeroed on replicated copies (``where``: a NaN there stays out)."""
        if p is None or p.weight is None:
            raise RuntimeError("no local statistics on this rank")
        if layout.hist and p.hist is None:
            raise RuntimeError("histogram expected")
        sums = torch.cat(p.sum_pieces(update if layout.update else None))
        if sums.numel() != layout.sums.stop:
            raise RuntimeError(f"packed {sums.numel()} values, expected {layout.sums.stop}")
        return torch.where(self._mask(layout), sums, 0.0), torch.cat(p.max_pieces())

    def _nans(self, size: int) -> Tensor:
        return torch.full((size,), math.nan, dtype=self.dtype, device=self.device)

    def _mask(self, layout: StepLayout) -> Tensor:
        """Which entries of the SUM section this rank counts (built once per layout)."""
        mask = self._masks.get(layout)
        if mask is None:
            pieces = [self.keep.repeat(len(SUM_ROWS))]
            if layout.hist:
                pieces.append(self.keep.repeat_interleave(HIST_BINS))
            if layout.update:
                pieces.append(self.keep_owned)
            mask = self._masks[layout] = torch.cat(pieces)
        return mask

"""Where each number of a logged step lies in its packed vector, and how it reduces.

A logged step leaves the device as one flat vector (one device-to-host copy). Sharded
(DTensor) jobs first combine the ranks' partial statistics: the additive part with one
``all_reduce`` SUM, the maxima with one ``all_reduce`` MAX. This module is the only
place that knows the order; everything else asks it:

* :class:`gradtop.logger.stats.StatsEngine` fills the gradient rows (:data:`GRAD_ROWS`);
* :class:`gradtop.logger.sharded.ShardReducer` reduces :attr:`StepLayout.sums` and
  :attr:`StepLayout.maxes`;
* :class:`gradtop.logger.logger.Logger` packs the sections in this order;
* :func:`gradtop.logger.finalise.render_step` reads them back on the writer thread.

One logged step, ``P`` parameters (header order), ``U`` parameters with an update::

    [ SUM rows (len(SUM_ROWS) x P) | histogram (P x HIST_BINS) | update (U) ]  SUM
    [ MAX rows (len(MAX_ROWS) x P) ]                                           MAX
    [ device scalars: loss, loss scale, lr, ... ]          the writing rank's own

The SUM rows followed by the MAX rows are the ``[N_ROWS, P]`` statistics matrix, in
:class:`Row` order. Sections a step does not have (no histogram, no update) take no
room; the sizes depend only on what every rank agrees on, so the collectives match.

To add a per-parameter statistic: add its :class:`Row` (a SUM row before
``WEIGHT_SUMSQ``, a MAX row after ``GRAD_ABSMAX``, renumbering those after it) and say
how it reduces in :data:`REDUCE`; compute it in ``StatsEngine`` (``_dense_rows`` on CPU
and accelerators, ``reductions.sparse_block`` for sparse gradients, then the ``by_row``
mapping of ``partials``); turn it into a record field in ``finalise.finalise`` (and
the record schema, gradtop.records). The reducer and the packing follow from here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reduce(enum.Enum):
    """How a row combines across ranks (every rank holds a part of each parameter)."""

    SUM = "sum"  # additive partials: sums of squares, counts
    MAX = "max"


class Row(enum.IntEnum):
    """Rows of the per-parameter statistics matrix, in packed order."""

    GRAD_SUMSQ = 0  # sum of squares of the gradient
    GRAD_NONZERO = 1  # nonzero entries (a placeholder 0 between detail steps)
    GRAD_NONFINITE = 2  # NaN/Inf entries
    GRAD_PRESENT = 3  # 1 where a gradient exists (summed: > 0 on any rank)
    WEIGHT_SUMSQ = 4  # sum of squares of the weight (detail steps; 0 otherwise)
    GRAD_ABSMAX = 5  # max |g|


REDUCE: dict[Row, Reduce] = {
    Row.GRAD_SUMSQ: Reduce.SUM,
    Row.GRAD_NONZERO: Reduce.SUM,
    Row.GRAD_NONFINITE: Reduce.SUM,
    Row.GRAD_PRESENT: Reduce.SUM,
    Row.WEIGHT_SUMSQ: Reduce.SUM,
    Row.GRAD_ABSMAX: Reduce.MAX,
}
N_ROWS = len(Row)
SUM_ROWS: tuple[Row, ...] = tuple(r for r in Row if REDUCE[r] is Reduce.SUM)
MAX_ROWS: tuple[Row, ...] = tuple(r for r in Row if REDUCE[r] is Reduce.MAX)
# The rows StatsEngine.partials measures from the gradients at log(), in this order. The
# weight row is not among them: the update tracker may measure it later, in its snapshot
# around optimizer.step(); it is the last SUM row, so the gradient rows split into a SUM
# block and a MAX block around it.
GRAD_ROWS: tuple[Row, ...] = tuple(r for r in Row if r is not Row.WEIGHT_SUMSQ)
GRAD_SUM_ROWS = len(SUM_ROWS) - 1  # gradient rows before the weight row

# Each reduction is one collective over one contiguous block: SUM rows first, then MAX.
if (*SUM_ROWS, *MAX_ROWS) != tuple(Row) or SUM_ROWS[-1] is not Row.WEIGHT_SUMSQ:
    raise ImportError(
        "gradtop.logger.layout: rows must be SUM rows, ending in the weight, then MAX"
    )

# log10 bin edges of the optional gradient-magnitude histogram: 1e-12 .. 1e4, one bin per
# decade. Entries below the first edge (including exact zeros) land in the first bin,
# entries at or above the last edge (including Inf) in the last; NaN is not counted.
HIST_EDGES: tuple[float, ...] = tuple(float(e) for e in range(-12, 5))
HIST_BINS = len(HIST_EDGES) - 1


@dataclass(frozen=True, slots=True)
class StepLayout:
    """The sections of one logged step's packed vector, as slices.

    ``params``: parameters in the header; ``hist``: the step has a histogram;
    ``update``: parameters with an update sum of squares (0: none this step);
    ``scalars``: device scalars appended by the writing rank.
    """

    params: int
    hist: bool = False
    update: int = 0
    scalars: int = 0

    def row(self, r: Row) -> slice:
        """Where row ``r`` of the statistics matrix lies."""
        n = self.params
        below = len(SUM_ROWS)  # SUM rows open the SUM section, MAX rows the MAX section
        start = r * n if r < below else self.maxes.start + (r - below) * n
        return slice(start, start + n)

    @property
    def sum_rows(self) -> slice:
        return slice(0, len(SUM_ROWS) * self.params)

    @property
    def hist_counts(self) -> slice:
        """``[P, HIST_BINS]`` counts, row-major; empty without a histogram."""
        return _after(self.sum_rows, self.params * HIST_BINS if self.hist else 0)

    @property
    def update_sumsq(self) -> slice:
        return _after(self.hist_counts, self.update)

    @property
    def sums(self) -> slice:
        """Everything that reduces with SUM across ranks."""
        return slice(0, self.update_sumsq.stop)

    @property
    def maxes(self) -> slice:
        """Everything that reduces with MAX across ranks."""
        return _after(self.sums, len(MAX_ROWS) * self.params)

    @property
    def device_scalars(self) -> slice:
        return _after(self.maxes, self.scalars)

    @property
    def size(self) -> int:
        return self.device_scalars.stop


def _after(section: slice, size: int) -> slice:
    """The ``size`` values that follow ``section``."""
    return slice(section.stop, section.stop + size)

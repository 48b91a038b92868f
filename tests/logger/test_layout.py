"""The packed step vector's layout: sections tile it, rows sit where they reduce.

gradtop.logger.layout is the one description the StatsEngine, the shard reducer, the
Logger and the finaliser share; these pin its invariants and that the engine's pieces
land where the layout says.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from gradtop.logger.layout import HIST_BINS, MAX_ROWS, N_ROWS, REDUCE, Reduce, Row, StepLayout
from gradtop.logger.stats import StatsEngine
from tests.logger.logger_support import backward, mlp


@pytest.mark.parametrize(
    ("params", "hist", "update", "scalars"), [(1, False, 0, 0), (7, True, 5, 3), (4, False, 4, 1)]
)
def test_sections_tile_the_vector_and_rows_sit_in_their_reduction(
    params: int, hist: bool, update: int, scalars: int
) -> None:
    layout = StepLayout(params, hist=hist, update=update, scalars=scalars)
    sections = [
        layout.sum_rows,
        layout.hist_counts,
        layout.update_sumsq,
        layout.maxes,
        layout.device_scalars,
    ]
    assert sections[0].start == 0 and sections[-1].stop == layout.size
    assert all(a.stop == b.start for a, b in itertools.pairwise(sections))
    sizes = [s.stop - s.start for s in sections]
    assert sizes[1:] == [params * HIST_BINS if hist else 0, update, len(MAX_ROWS) * params, scalars]
    covered = []
    for r in Row:
        where = layout.sums if REDUCE[r] is Reduce.SUM else layout.maxes
        row = layout.row(r)
        assert (
            where.start <= row.start and row.stop <= where.stop and row.stop - row.start == params
        )
        covered += range(row.start, row.stop)
    assert len(set(covered)) == N_ROWS * params  # no two rows overlap


@pytest.mark.parametrize("hist", [False, True])
def test_the_engines_pieces_land_where_the_layout_says(hist: bool) -> None:
    model = mlp()
    backward(model)
    engine = StatsEngine(list(model.parameters()))
    partials = engine.partials(hist=hist)
    update = torch.arange(3, dtype=engine.dtype)  # three parameters with an update
    packed = torch.cat(partials.sum_pieces(update) + partials.max_pieces())
    layout = StepLayout(len(engine.numels), hist=hist, update=3)
    assert packed.numel() == layout.size
    matrix = partials.matrix
    for r in Row:
        assert torch.equal(packed[layout.row(r)], matrix[r]), r.name
    assert torch.equal(packed[layout.update_sumsq], update)
    if hist:
        assert partials.hist is not None
        assert torch.equal(packed[layout.hist_counts], partials.hist.reshape(-1))
    grads = [p.grad for p in model.parameters()]
    assert torch.allclose(
        matrix[Row.GRAD_SUMSQ], torch.stack([g.double().square().sum() for g in grads])
    )
    assert torch.equal(matrix[Row.GRAD_PRESENT], torch.ones(len(grads), dtype=engine.dtype))

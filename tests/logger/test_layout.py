"""The packed step vector's layout: sections tile it, rows sit where they reduce.

gradtop.logger.layout is the one description the StatsEngine, the shard reducer, the
Logger and the finaliser share; these pin its invariants and that the engine's pieces
land where the layout says.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

import gradtop
from gradtop.logger.layout import HIST_BINS, MAX_ROWS, N_ROWS, REDUCE, Reduce, Row, StepLayout
from gradtop.logger.stats import StatsEngine
from tests.logger.logger_support import backward, mlp
from tests.support import assert_close, read_records, steps


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
    covered: list[int] = []
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
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert torch.allclose(
        matrix[Row.GRAD_SUMSQ], torch.stack([g.double().square().sum() for g in grads])
    )
    assert torch.equal(matrix[Row.GRAD_PRESENT], torch.ones(len(grads), dtype=engine.dtype))


def test_tensor_scalars_travel_in_their_section_and_read_back_as_sent(tmp_path: Path) -> None:
    """On an accelerator a tensor loss or scalar is not read on the training thread: it
    rides in the packed vector's last section. ``sync_free=True`` takes that path on CPU;
    the records must equal those of the plain path, where the values are read at once."""
    runs = []
    for device_path in (False, True):
        model = mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        path = tmp_path / f"device_path_{device_path}.jsonl"
        with gradtop.Logger(path, model, opt, hist=True, detail_every=2) as log:
            log._engine.sync_free = device_path
            for step in range(4):
                loss = backward(model, seed=step)
                log.log(loss.detach(), acc=torch.tensor(0.25 * step), step_no=float(step))
                opt.step()
                opt.zero_grad()
        runs.append(steps(read_records(path)))
    plain, device = runs
    assert len(device) == 4 and plain[0].hist is not None
    for a, b in zip(plain, device, strict=True):
        assert b.loss == pytest.approx(a.loss) and a.loss is not None
        assert b.scalars == pytest.approx(a.scalars) and set(a.scalars) == {"acc", "step_no"}
        assert b.lr == a.lr and b.hist == a.hist
        for name, values in a.stats.items():
            assert_close(b.stats[name], values, rel=1e-6, what=f"step {a.step} {name}")

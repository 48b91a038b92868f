"""A real tiny ReLU net trained to zero loss raises no warning (the convergence trap).

Minibatch SGD with momentum on a separable 2-D set drives the cross-entropy to ~0
(exactly 0.0 on many batches in float32); the total grad norm falls from ~0.5 to
1e-8 and below and then wanders up and down by orders of magnitude from batch to batch.
Measured against its own minimum that looked like a growing explosion (before the
reference-norm floor, every one of these seeds raised ``exploding``). Real Logger, real
file, read back through the real reader with the Diagnoser updated after each batch
(``diagnose_file``, as the scenario scorecard reads its files).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from gradtop import Logger
from gradtop.diagnosis import Severity
from gradtop.history import TOTAL_GRAD_NORM
from gradtop.teaching.scorecard import diagnose_file

pytestmark = pytest.mark.slow
WARNING = Severity.WARNING

STEPS = 600


def _train(path: Path, seed: int) -> float:
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = torch.randn(256, 2, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    x = x + 0.5 * (2 * y[:, None] - 1).float()  # push the classes apart: a clear margin
    model = nn.Sequential(
        nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    with Logger(path, model, optimizer=opt) as log:
        for _ in range(STEPS):
            idx = torch.randint(0, len(x), (16,), generator=g)
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            log.log(loss)
            opt.step()
            losses.append(float(loss.detach()))
    return max(losses[-100:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_net_trained_to_zero_loss_gets_no_warning(seed: int, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        late_loss = _train(tmp_path / "run.jsonl", seed)
    finally:
        torch.set_num_threads(before)
    assert late_loss < 1e-3, "the net must really have converged for this test to mean much"

    run, findings = diagnose_file(tmp_path / "run.jsonl", batch_bytes=16 * 1024)
    assert run.steps == STEPS
    norms = run.scalars[TOTAL_GRAD_NORM].recent(STEPS)[1][:, 0]
    assert norms[:10].min() > 1e-2 and norms[-200:].min() < 1e-6, "fell by orders of magnitude"
    loud = [f"{f.kind} at {f.first_step}: {f.title}" for f in findings if f.severity >= WARNING]
    assert loud == []

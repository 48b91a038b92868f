"""examples/plain_loop.py's recipe (Adam 3e-3 on a 4-class synthetic task) trained to a loss
near 0.001 raises no warning.

Near zero loss, Adam's steps make the loss wander back up (0.002 -> 0.14 for a few
batches) and the gradient norm with it, 20x over its minimum and above its level at the
start: before ``growth_loss_abs`` was 5 % of the initial loss, that transient showed as
"exploding" on the README's own example. Real Logger, real file, real reader; the
Diagnoser is fed as `gradtop check` feeds it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from gradtop import Logger
from gradtop.check import Check, read_all
from gradtop.diagnosis import Severity

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
STEPS = 1700  # past the loss's excursion at about step 1,400-1,600 (seed 0)


def _plain_loop_data() -> tuple[torch.Tensor, torch.Tensor]:
    spec = importlib.util.spec_from_file_location("plain_loop", REPO / "examples" / "plain_loop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_data(4096)


def test_adam_near_zero_loss_is_not_an_explosion(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        x, y = _plain_loop_data()
        model = nn.Sequential(
            nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)
        )
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        loss_fn = nn.CrossEntropyLoss()
        path = tmp_path / "plain.jsonl"
        losses = []
        with Logger(path, model, optimizer=opt) as log:
            for _ in range(STEPS):
                idx = torch.randint(0, len(x), (128,))
                opt.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                log.log(loss)
                opt.step()
                losses.append(float(loss.detach()))
    finally:
        torch.set_num_threads(before)
    assert min(losses[-300:]) < 0.01, "the run must reach the near-zero-loss regime"
    session = Check(str(path), fail_on="never")
    read_all(session)
    run = session.selected()
    assert run is not None and run.steps == STEPS
    loud = [(f.kind, f.first_step) for f in session.findings(run) if f.severity >= Severity.WARNING]
    assert loud == []

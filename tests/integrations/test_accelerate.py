"""The documented Accelerate pattern (examples/accelerate_loop.py) in a real Accelerate loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

accelerate = pytest.importorskip("accelerate", reason="Accelerate is not installed")

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import gradtop  # noqa: E402
from tests.reference_support import assert_step_matches, naive_stats, named  # noqa: E402
from tests.support import read_records, split  # noqa: E402


def test_log_on_sync_micro_batches_before_clipping(tmp_path: Path) -> None:
    accelerator = accelerate.Accelerator(gradient_accumulation_steps=2, cpu=True)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.randn(48, 8) * 4
    loader = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)
    model, opt, loader = accelerator.prepare(model, opt, loader)

    reference: list[dict[str, list[Any]]] = []
    clipped: list[float] = []
    log = gradtop.Logger(
        tmp_path / "run.jsonl", accelerator.unwrap_model(model), opt.optimizer, detail_every=1
    )
    for xb, yb in loader:
        with accelerator.accumulate(model):
            accelerator.backward(nn.functional.mse_loss(model(xb), yb))
            if accelerator.sync_gradients:
                accelerator.unscale_gradients()
                reference.append(naive_stats(named(model)))
                log.log()
                clipped.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)))
            opt.step()
            opt.zero_grad()
    log.close()

    _, steps, ends = split(read_records(tmp_path / "run.jsonl"))
    assert len(steps) == 3 and ends[0].steps == 3  # 6 micro-batches, 3 optimizer steps
    for step, expected, total in zip(steps, reference, clipped, strict=True):
        assert_step_matches(step, expected)
        assert step.total_grad_norm == pytest.approx(total, rel=1e-5)  # the pre-clip norm
        assert total > 0.1
        # The prepared optimizer stepped the real one once per logged step: a real ratio.
        assert all(r is not None and r > 0 for r in step.stats["update_ratio"])

"""A rank whose local statistics fail still joins the step's reduction, with NaNs.

Under sharding every rank must issue the same collectives with the same sizes, or the
job hangs; so a failing rank sends NaNs of the agreed size and the step reads as NaN
(visibly broken, not silently wrong), and logging goes on. In a 1-process group, with
the failure injected into the statistics engine of a real FSDP2 Logger.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402

import gradtop  # noqa: E402
from gradtop.logger import GradtopWarning  # noqa: E402
from tests.support import read_records, split  # noqa: E402

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]


def test_a_step_whose_local_statistics_fail_is_written_as_nan(
    tmp_path: Path, one_rank_group: None
) -> None:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    fully_shard(model, mesh=init_device_mesh("cpu", (1,)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    path = tmp_path / "run.jsonl"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GradtopWarning)
        with gradtop.Logger(path, model, opt, hist=True, hist_every=1, detail_every=1) as log:
            healthy = log._engine.partials

            def broken(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("injected failure")

            for step in range(3):
                gen = torch.Generator().manual_seed(step)
                x, y = torch.randn(5, 6, generator=gen), torch.randn(5, 2, generator=gen)
                nn.functional.mse_loss(model(x), y).backward()
                log._engine.partials = broken if step == 1 else healthy  # type: ignore[method-assign]
                log.log()
                opt.step()
                opt.zero_grad()
    messages = [str(w.message) for w in caught if w.category is GradtopWarning]
    assert any("injected failure" in m for m in messages), messages
    _, steps, ends = split(read_records(path))
    assert [s.step for s in steps] == [1, 2, 3] and ends[0].dropped == 0
    failed = steps[1].stats
    assert all(
        v is not None and math.isnan(v) for v in failed["grad_norm"] + failed["update_ratio"]
    )
    assert failed["nonfinite"] == [None] * len(failed["nonfinite"])  # unknown, not 0
    for s in (steps[0], steps[2]):
        assert all(v is not None and math.isfinite(v) for v in s.stats["grad_norm"])
        assert all(v is not None for v in s.stats["update_ratio"])

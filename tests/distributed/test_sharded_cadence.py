"""The detail cadence under sharding: every rank must pick the same detail steps.

Ranks reduce packed statistics whose shape must agree, so the logger decides detail
steps from what all ranks share: the logged-step count, and NaN/Inf in the *reduced*
sums of squares (not a rank's own shard). In a 1-process group the sharded path must
then write exactly what the plain model writes, nulls included.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402

import gradtop  # noqa: E402
from tests.support import assert_close, read_records, split  # noqa: E402

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]

STATS = ("grad_norm", "grad_max", "nonfinite", "weight_norm", "zero_frac", "update_ratio")


def _poison(model: nn.Module) -> None:
    grad = next(model.parameters()).grad
    assert grad is not None
    local = grad.to_local() if hasattr(grad, "to_local") else grad
    local.view(-1)[0] = math.nan


def test_sharded_detail_steps_match_the_plain_model(tmp_path: Path, one_rank_group: None) -> None:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2))
    sharded = copy.deepcopy(plain)
    fully_shard(sharded, mesh=init_device_mesh("cpu", (1,)))
    runs = []
    for name, model in (("plain", plain), ("sharded", sharded)):
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        path = tmp_path / f"{name}.jsonl"
        with gradtop.Logger(path, model, opt, detail_every=4) as log:
            for step in range(5):
                gen = torch.Generator().manual_seed(step)
                x, y = torch.randn(5, 6, generator=gen), torch.randn(5, 2, generator=gen)
                nn.functional.mse_loss(model(x), y).backward()
                if step == 1:
                    _poison(model)
                log.log()
                if step != 1:  # the poisoned step is skipped, as a GradScaler would
                    opt.step()
                opt.zero_grad()
        runs.append(split(read_records(path))[1])
    plain_steps, sharded_steps = runs
    # Detail on logged steps 1 and 5 by the count, and 3 because step 2 held a NaN.
    detail = [s.stats["weight_norm"][0] is not None for s in sharded_steps]
    assert detail == [True, False, True, False, True]
    assert sharded_steps[1].stats["nonfinite"][0] == 1
    for a, b in zip(sharded_steps, plain_steps, strict=True):
        for stat in STATS:
            assert_close(a.stats[stat], b.stats[stat], rel=1e-6, what=stat)

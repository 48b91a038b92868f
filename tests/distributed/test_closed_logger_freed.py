"""A closed Logger is freed by reference counting alone under DDP and FSDP2 (issue 14).

Under FSDP2 the shard reducer once held a bound method of the Logger: a cycle that kept
the closed Logger, its optimizer and the update tracker's full parameter copy in memory
until the cycle collector ran. tests.logger.lifetime_support runs the check with the
collector off.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402

from tests.distributed.test_distributed import launch, rank_result  # noqa: E402
from tests.logger.lifetime_support import closed_logger_is_freed  # noqa: E402

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available"),
]


def test_a_closed_fsdp2_logger_is_freed_in_process(tmp_path: Path, one_rank_group: None) -> None:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    fully_shard(model, mesh=init_device_mesh("cpu", (1,)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def backward(step: int) -> None:
        gen = torch.Generator().manual_seed(step)
        x, y = torch.randn(5, 6, generator=gen), torch.randn(5, 2, generator=gen)
        nn.functional.mse_loss(model(x), y).backward()

    assert closed_logger_is_freed(tmp_path / "run.jsonl", model, opt, backward)


@pytest.mark.timeout(120)
def test_closed_loggers_are_freed_on_every_rank_under_ddp_and_fsdp2(tmp_path: Path) -> None:
    results = launch("freed_ddp,freed_fsdp2", tmp_path)
    for rank, r in enumerate(results):
        assert r.returncode == 0, f"rank {rank} failed:\n{r.stderr[-4000:]}"
    for scenario in ("freed_ddp", "freed_fsdp2"):
        for rank in (0, 1):
            assert rank_result(tmp_path / scenario, rank)["freed"], (scenario, rank)

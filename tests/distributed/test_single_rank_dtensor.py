"""A DTensor model in a 1-process group: the sharded code path, in-process and fast.

With one rank the reduction is the identity, so the logged statistics must equal the
plain model's; this pins the local-shard plumbing (to_local views, the update tracker on
shards, the packed reduction) without spawning processes.
"""

from __future__ import annotations

import copy
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


def _stats(model: nn.Module) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"grad_norm": [], "grad_max": [], "weight_norm": []}
    for _, p in model.named_parameters():
        g = p.grad.full_tensor() if hasattr(p.grad, "full_tensor") else p.grad
        w = p.detach().full_tensor() if hasattr(p, "full_tensor") else p.detach()
        out["grad_norm"].append(g.double().norm().item())
        out["grad_max"].append(g.double().abs().max().item())
        out["weight_norm"].append(w.double().norm().item())
    return out


def test_fully_sharded_on_one_rank_matches_the_plain_model(
    tmp_path: Path, one_rank_group: None
) -> None:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    sharded = copy.deepcopy(plain)
    fully_shard(sharded, mesh=init_device_mesh("cpu", (1,)))
    runs = []
    for name, model in (("plain", plain), ("sharded", sharded)):
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        path = tmp_path / f"{name}.jsonl"
        expected = []
        with gradtop.Logger(path, model, opt, hist=True, detail_every=1) as log:
            for step in range(3):
                gen = torch.Generator().manual_seed(step)
                x, y = torch.randn(5, 6, generator=gen), torch.randn(5, 2, generator=gen)
                nn.functional.mse_loss(model(x), y).backward()
                expected.append(_stats(model))
                log.log()
                opt.step()
                opt.zero_grad()
        runs.append((split(read_records(path)), expected))
    (plain_h, plain_steps, _), _ = runs[0]
    (sharded_h, sharded_steps, sharded_end), expected = runs[1]
    assert sharded_h[0].parallel["strategy"] == "fsdp2" and plain_h[0].parallel == {}
    assert sharded_h[0].params[0].module_type == "Linear"
    assert len(sharded_steps) == 3 and sharded_end[0].dropped == 0
    for a, b, want in zip(sharded_steps, plain_steps, expected, strict=True):
        for stat in ("grad_norm", "grad_max", "weight_norm"):
            assert_close(a.stats[stat], want[stat], what=stat)
        for stat in ("nonfinite", "zero_frac", "update_ratio"):
            assert_close(a.stats[stat], b.stats[stat], rel=1e-6, what=stat)
        assert a.hist == b.hist


def test_a_group_added_under_fsdp_is_stated_and_warned_about(
    tmp_path: Path, one_rank_group: None
) -> None:
    """The shard reducer's layout is fixed: the records still say who the optimizer holds,
    and the Logger says once that the added group gets no update ratio there."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    from gradtop.logger import GradtopWarning

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2))
    fully_shard(model, mesh=init_device_mesh("cpu", (1,)))
    opt = torch.optim.SGD(list(model[0].parameters()), lr=1e-2)
    path = tmp_path / "run.jsonl"
    with (
        pytest.warns(GradtopWarning, match="add_param_group"),
        gradtop.Logger(path, model, opt, detail_every=1) as log,
    ):
        for step in range(3):
            if step == 1:
                opt.add_param_group({"params": list(model[2].parameters())})
            gen = torch.Generator().manual_seed(step)
            x, y = torch.randn(5, 6, generator=gen), torch.randn(5, 2, generator=gen)
            nn.functional.mse_loss(model(x), y).backward()
            log.log()
            opt.step()
            opt.zero_grad()
    _, logged, ends = split(read_records(path))
    assert [s.in_optimizer for s in logged] == [None, (True,) * 4, (True,) * 4]
    assert ends[0].dropped == 0
    # Not measured for the added group (warned): unknown, never a number for it.
    assert logged[2].stats["update_ratio"][2:] == [None, None]
    assert logged[2].stats["update_ratio"][0] is not None

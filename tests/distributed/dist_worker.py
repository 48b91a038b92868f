"""One rank of a real 2-process gloo job; tests/distributed/test_distributed.py starts two.

Usage (environment as torchrun sets it: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT):

    python -m tests.distributed.dist_worker SCENARIO[,SCENARIO...] OUT_DIR  # in the repo root

Several healthy scenarios share one process group (and one interpreter start-up); each
writes into ``OUT_DIR/SCENARIO/``. ``fail`` and ``stall`` break the group: run them alone.

Rank 0 also trains an unsharded copy of the model in lockstep, on the whole global
batch, and writes the naive per-parameter statistics of that copy (float64, one tensor
at a time) to ``OUT_DIR/reference.json``; it also logs the copy with a plain
single-process Logger to ``OUT_DIR/reference.jsonl`` (for update ratios and histograms).
Each rank writes ``OUT_DIR/rank{N}.json`` with what it observed (warnings, activity).
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

import gradtop
from gradtop.logger import GradtopWarning
from tests.reference_support import naive_stats

STEPS = 3
ACCUMULATE = 2
BATCH = 4


def naive(model: nn.Module) -> dict[str, list[Any]]:
    """The shared naive reference, JSON-safe: a poisoned gradient's NaN/Inf become strings."""
    out = naive_stats(model)
    for key in ("grad_norm", "grad_max"):
        out[key] = [None if v is None else _num(v) for v in out[key]]
    return out


def _num(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def batch(rank: int, step: int, micro: int, poison: bool = False) -> tuple[torch.Tensor, ...]:
    """Deterministic per-(rank, step, micro-batch) data, so rank 0 can rebuild all of it."""
    gen = torch.Generator().manual_seed(1000 * step + 10 * micro + rank)
    x = torch.randn(BATCH, 8, generator=gen)
    y = torch.randint(0, 3, (BATCH,), generator=gen)
    if poison:
        x[0, 0] = float("nan")
    return x, y


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    # Linear(5, 1): FSDP2 gives rank 1 an empty shard of its weight and bias.
    return nn.Sequential(
        nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5), nn.ReLU(), nn.Linear(5, 1), nn.Flatten(0)
    )


def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((out - y.float()) ** 2).mean()


class Reference:
    """The unsharded model on rank 0, fed the global batch, stepped identically."""

    def __init__(self, model: nn.Module, out: Path, make_opt: Any, world: int) -> None:
        self.model = copy.deepcopy(model)
        self.opt = make_opt(self.model)
        self.world = world
        self.stats: list[dict[str, list[Any]]] = []
        self.log = gradtop.Logger(
            out / "reference.jsonl", self.model, self.opt, hist=True, detail_every=1
        )

    def backward(self, step: int, micro: int, ranks: list[int], poison: int | None) -> None:
        xs, ys = zip(*(batch(r, step, micro, poison == r) for r in ranks), strict=True)
        x, y = torch.cat(xs), torch.cat(ys)
        (loss_fn(self.model(x), y) / ACCUMULATE).backward()

    def step(self, inf_at: tuple[int, int] | None = None) -> None:
        """``inf_at``: an element of the first weight's gradient set to +inf while logging."""
        grad = self.model[0].weight.grad
        saved = None if inf_at is None else grad[inf_at].clone()
        if inf_at is not None:
            grad[inf_at] = math.inf
        self.stats.append(naive(self.model))
        self.log.log()
        if saved is not None:
            grad[inf_at] = saved  # the optimizer steps on the real gradient, as the job does
        self.opt.step()
        self.opt.zero_grad()


def run_ddp(rank: int, world: int, out: Path) -> dict[str, Any]:
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = mlp()
    ref = Reference(model, out, lambda m: torch.optim.SGD(m.parameters(), lr=0.1), world)
    ddp = DDP(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    log = gradtop.Logger(out / f"from_rank{rank}.jsonl", ddp, opt, hist=True, detail_every=1)
    for step in range(STEPS):
        for micro in range(ACCUMULATE):
            x, y = batch(rank, step, micro)
            if micro < ACCUMULATE - 1:
                with ddp.no_sync():
                    (loss_fn(ddp(x), y) / ACCUMULATE).backward()
                    log.log()  # a mistake: gradients are local here; gradtop skips it
            else:
                (loss_fn(ddp(x), y) / ACCUMULATE).backward()
            if rank == 0:
                ref.backward(step, micro, list(range(world)), None)
        log.log()  # the synchronising micro-batch: gradients identical on every rank
        opt.step()
        opt.zero_grad()
        if rank == 0:
            ref.step()
    log.close()
    result = {"active": log.active, "computed": hasattr(log, "_engine")}
    if rank == 0:
        ref.log.close()
        result["reference"] = ref.stats
    return result


def run_fsdp2(rank: int, world: int, out: Path) -> dict[str, Any]:
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    model = mlp()

    def make_opt(m: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.Adam(m.parameters(), lr=1e-2)

    ref = Reference(model, out, make_opt, world)
    mesh = init_device_mesh("cpu", (world,), mesh_dim_names=("dp",))
    for layer in (model[0], model[2], model[4]):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    opt = make_opt(model)
    log = gradtop.Logger(out / "run.jsonl", model, opt, hist=True, detail_every=1)
    # Step 1: one +inf in rank 1's shard of the first weight's gradient, nowhere else, so
    # the non-finite count is partial on one shard (1 of 64 there, 0 on rank 0). FSDP2
    # shards dim 0 in chunks: rank 1's local row 0 is global row 16 // world.
    inf_row = model[0].weight.shape[0] // world
    for step in range(STEPS):
        poison = 1 if step == STEPS - 1 else None  # a NaN on rank 1 only, last step
        for micro in range(ACCUMULATE):
            x, y = batch(rank, step, micro, poison == rank)
            (loss_fn(model(x), y) / ACCUMULATE).backward()
            if rank == 0:
                ref.backward(step, micro, list(range(world)), poison)
        shard, saved = model[0].weight.grad.to_local(), None
        if step == 1 and rank == 1:
            assert shard.shape == (16 - inf_row, 8), shard.shape
            saved = shard[0, 0].clone()
            shard[0, 0] = math.inf
        log.log(step=step + 1)
        if saved is not None:
            shard[0, 0] = saved
        opt.step()
        opt.zero_grad()
        if rank == 0:
            ref.step(inf_at=(inf_row, 0) if step == 1 else None)
    log.close()
    result: dict[str, Any] = {"active": log.active}
    if rank == 0:
        ref.log.close()
        result["reference"] = ref.stats
    return result


def run_tp(rank: int, world: int, out: Path) -> dict[str, Any]:
    from torch.distributed.tensor import init_device_mesh
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    model = mlp()

    def make_opt(m: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)

    ref = Reference(model, out, make_opt, world)
    mesh = init_device_mesh("cpu", (world,), mesh_dim_names=("tp",))
    # Layer 2's bias stays Replicate (RowwiseParallel); layer 4 is not parallelised at all:
    # its parameters are plain tensors, identical on every rank. Neither may count twice.
    parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
    opt = make_opt(model)
    log = gradtop.Logger(out / "run.jsonl", model, opt, hist=True, detail_every=1)
    for step in range(STEPS):
        for micro in range(ACCUMULATE):
            x, y = batch(0, step, micro)  # tensor parallel: every rank sees the same batch
            (loss_fn(model(x), y) / ACCUMULATE).backward()
            if rank == 0:
                ref.backward(step, micro, [0], None)
        log.log()
        opt.step()
        opt.zero_grad()
        if rank == 0:
            ref.step()
    log.close()
    placements = {n: str(getattr(p, "placements", "plain")) for n, p in model.named_parameters()}
    result: dict[str, Any] = {"active": log.active, "placements": placements}
    if rank == 0:
        ref.log.close()
        result["reference"] = ref.stats
    return result


def run_fsdp2_tp(rank: int, world: int, out: Path) -> dict[str, Any]:
    """A 2-D (dp, tp) mesh: tensor parallel inside, FSDP2 over it (dp=1 with 2 ranks)."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    model = mlp()

    def make_opt(m: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.AdamW(m.parameters(), lr=1e-2)

    ref = Reference(model, out, make_opt, world)
    mesh = init_device_mesh("cpu", (1, world), mesh_dim_names=("dp", "tp"))
    parallelize_module(model, mesh["tp"], {"0": ColwiseParallel(), "2": RowwiseParallel()})
    for layer in (model[0], model[2]):
        fully_shard(layer, mesh=mesh["dp"])
    fully_shard(model, mesh=mesh["dp"])
    opt = make_opt(model)
    log = gradtop.Logger(out / "run.jsonl", model, opt, hist=True, detail_every=1)
    for step in range(STEPS):
        for micro in range(ACCUMULATE):
            x, y = batch(0, step, micro)
            (loss_fn(model(x), y) / ACCUMULATE).backward()
            if rank == 0:
                ref.backward(step, micro, [0], None)
        log.log()
        opt.step()
        opt.zero_grad()
        if rank == 0:
            ref.step()
    log.close()
    placements = {n: str(getattr(p, "placements", "plain")) for n, p in model.named_parameters()}
    result: dict[str, Any] = {"active": log.active, "placements": placements}
    if rank == 0:
        ref.log.close()
        result["reference"] = ref.stats
    return result


def run_stall(rank: int, world: int, out: Path) -> dict[str, Any]:
    """Rank 1 stays alive but never logs: rank 0's reduction must time out, not hang."""
    import time

    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    model = mlp()
    fully_shard(model, mesh=init_device_mesh("cpu", (world,)))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    log = gradtop.Logger(out / "run.jsonl", model, opt, detail_every=1)
    x, y = batch(rank, 0, 0)
    loss_fn(model(x), y).backward()
    if rank == 1:  # skips log(): waits (bounded) until rank 0 has given up, then leaves
        deadline = time.monotonic() + 60
        while not (out / "rank0.json").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return {"active": log.active}
    log.log()  # the reduction waits for rank 1 until the process group's timeout
    opt.step()
    log.close()
    return {"active": log.active}


def run_freed(rank: int, world: int, out: Path, shard: bool) -> dict[str, Any]:
    """A closed Logger is freed by reference counting alone, under FSDP2 or DDP."""
    from tests.logger.lifetime_support import closed_logger_is_freed

    model: nn.Module = mlp()
    if shard:
        from torch.distributed.fsdp import fully_shard
        from torch.distributed.tensor import init_device_mesh

        fully_shard(model, mesh=init_device_mesh("cpu", (world,)))
    else:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step_backward(step: int) -> None:
        x, y = batch(rank, step, 0)
        loss_fn(model(x), y).backward()

    return {"freed": closed_logger_is_freed(out / "run.jsonl", model, opt, step_backward)}


def run_fail(rank: int, world: int, out: Path) -> dict[str, Any]:
    """Rank 1 dies before the logged step; rank 0 must not hang in gradtop's collective."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import init_device_mesh

    model = mlp()
    mesh = init_device_mesh("cpu", (world,))
    fully_shard(model, mesh=mesh)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    log = gradtop.Logger(out / "run.jsonl", model, opt, detail_every=1)
    x, y = batch(rank, 0, 0)
    loss_fn(model(x), y).backward()
    if rank == 1:
        raise RuntimeError("rank 1 crashed on purpose before logging")
    log.log()  # the peer is gone: the reduction fails (or times out), gradtop warns
    opt.step()
    log.log()  # after a failed reduction the logger stays off: no second attempt
    log.close()
    return {"active": log.active}


SCENARIOS = {
    "ddp": run_ddp,
    "fsdp2": run_fsdp2,
    "tp": run_tp,
    "fsdp2_tp": run_fsdp2_tp,
    "freed_fsdp2": functools.partial(run_freed, shard=True),
    "freed_ddp": functools.partial(run_freed, shard=False),
    "fail": run_fail,
    "stall": run_stall,
}


def main() -> None:
    scenarios, out = sys.argv[1].split(","), Path(sys.argv[2])
    timeout = datetime.timedelta(seconds=float(os.environ.get("GRADTOP_TEST_PG_TIMEOUT", "20")))
    dist.init_process_group("gloo", timeout=timeout)
    rank, world = dist.get_rank(), dist.get_world_size()
    for scenario in scenarios:
        where = out / scenario
        where.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GradtopWarning)
            result = SCENARIOS[scenario](rank, world, where)
        result["warnings"] = [str(w.message) for w in caught if w.category is GradtopWarning]
        (where / f"rank{rank}.json").write_text(json.dumps(result))
        if scenario in ("fail", "stall"):
            return  # the group is unusable after a failed collective: just exit
        dist.barrier()
    dist.destroy_process_group()


def _exit_now() -> None:
    """Exit 0 without interpreter finalization, once every result is on disk.

    Twice in CI (never in 90 local launches) a rank that had written its results and
    destroyed the group aborted while the interpreter was finalizing: "terminate called
    without an active exception", no Python frame left. That is gloo's C++ threads being
    torn down after Python (pytorch#190489, and #179291 on tensors that gloo's threads
    still hold at finalization), not anything the test checks; gradtop's loggers are
    closed by each scenario before its results are written. An exception in a scenario
    still exits non-zero with its traceback (the "fail" scenario relies on that).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
    _exit_now()

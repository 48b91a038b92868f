"""FSDP2 (``fully_shard``): per-layer norms that are right although no rank holds a layer.

Each rank holds a shard of every parameter and of its gradient. gradtop computes the
additive pieces of each statistic on the local shards, reduces them with one
``all_reduce(SUM)`` and one ``all_reduce(MAX)`` per logged step (identical on every
rank), and rank 0 writes. So ``grad_norm`` is the full tensor's norm, not the
shard-local one that is smaller by about sqrt(world size).

Every rank must call ``log()`` (and ``close()``) at the same points: they are collective.
Runs on a laptop CPU (gloo) or on GPUs (NCCL):

    torchrun --nproc-per-node 2 examples/fsdp2_torchrun.py --out fsdp2.jsonl
    gradtop watch fsdp2.jsonl
"""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import init_device_mesh

import gradtop


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, 4 * width)
        self.act = nn.GELU()
        self.down = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(self.act(self.up(self.norm(x))))


class Net(nn.Module):
    def __init__(self, width: int = 64, depth: int = 4, classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Linear(32, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="fsdp2.jsonl")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=2))
    rank, world = dist.get_rank(), dist.get_world_size()
    device_type = "cuda" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))

    torch.manual_seed(0)
    model = Net().to(device_type)
    mesh = init_device_mesh(device_type, (world,), mesh_dim_names=("dp",))
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)  # parameters are now DTensors, sharded on dim 0
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1234 + rank)

    log = gradtop.Logger(args.out, model, optimizer=opt)  # gradtop: on every rank
    for _ in range(args.steps):
        x = torch.randn(64, 32, generator=gen).to(device_type)
        y = (x[:, :10] * 3).argmax(dim=1)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()  # FSDP2 reduce-scatters: each rank keeps its gradient shard
        log.log(loss)  # gradtop: local shard statistics, reduced, rank 0 writes
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # after logging: pre-clip
        opt.step()
        opt.zero_grad()
    log.close()

    if rank == 0:
        print(f"last loss {loss.item():.4f}; gradient log: {Path(args.out).resolve()}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

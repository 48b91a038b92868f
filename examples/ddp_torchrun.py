"""DDP with gradient accumulation under ``no_sync``: rank 0 writes, other ranks do nothing.

After a synchronising backward DDP has averaged the gradients, so every rank holds the
same ones and gradtop reads rank 0's: no collective, and ranks other than 0 skip all of
gradtop's work. Inside ``no_sync`` the gradients are still local to each rank, so log
only on the micro-batch that synchronises (the one followed by ``opt.step()``); a
``log()`` inside ``no_sync`` is refused with a warning.

Runs on a laptop CPU (gloo) or on GPUs (NCCL, one per process):

    torchrun --nproc-per-node 2 examples/ddp_torchrun.py --out ddp.jsonl
    gradtop watch ddp.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

import gradtop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="ddp.jsonl")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps")
    parser.add_argument("--accumulate", type=int, default=2, help="micro-batches per step")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    # A timeout bounds how long a rank waits for a dead peer (default: 10-30 minutes).
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=2))
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else None
    if device is not None:
        torch.cuda.set_device(device)

    torch.manual_seed(0)  # same initial weights everywhere (DDP also broadcasts them)
    model = nn.Sequential(
        nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, 10)
    ).to(device)
    ddp = DDP(model, device_ids=[device.index] if device is not None else None)
    opt = torch.optim.AdamW(ddp.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1234 + rank)  # each rank its own data

    log = gradtop.Logger(args.out, ddp, optimizer=opt)  # gradtop: inert on ranks != 0
    for _ in range(args.steps):
        for micro in range(args.accumulate):
            x = torch.randn(64, 32, generator=gen).to(device)
            y = (x[:, :10] * 3).argmax(dim=1)
            last = micro == args.accumulate - 1
            with contextlib.nullcontext() if last else ddp.no_sync():
                loss = nn.functional.cross_entropy(ddp(x), y) / args.accumulate
                loss.backward()
        # gradtop: after the synchronising backward (loss: the last micro-batch's)
        log.log(loss * args.accumulate)
        opt.step()
        opt.zero_grad()
    log.close()

    if rank == 0:
        print(f"last loss {loss.item() * args.accumulate:.4f}; log: {Path(args.out).resolve()}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

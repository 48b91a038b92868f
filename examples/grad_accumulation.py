"""Gradient accumulation: several backward passes per optimizer step, logged once per step.

gradtop reads ``.grad`` only when ``log.log()`` is called, so call it on the micro-batch
that is followed by ``opt.step()``: it then sees the accumulated gradient, the one the
optimizer actually uses (with DDP this is also the only micro-batch whose gradients have
been synchronised across ranks).

    python examples/grad_accumulation.py --out accum.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import gradtop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="accum.jsonl")
    parser.add_argument("--steps", type=int, default=100, help="optimizer steps")
    parser.add_argument("--accumulate", type=int, default=4, help="micro-batches per step")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(20, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    w_true = torch.randn(20, 1)

    with gradtop.Logger(args.out, model, optimizer=opt) as log:  # gradtop
        for _ in range(args.steps):
            opt.zero_grad()
            for _ in range(args.accumulate):
                x = torch.randn(32, 20)
                loss = nn.functional.mse_loss(model(x), x @ w_true) / args.accumulate
                loss.backward()  # gradients add up in .grad
            log.log(loss * args.accumulate)  # gradtop: once, on the step boundary
            opt.step()

    print(f"{args.steps} steps of {args.accumulate} micro-batches, last loss {loss.item():.4f}")
    print(f"gradient log: {Path(args.out).resolve()}")


if __name__ == "__main__":
    main()

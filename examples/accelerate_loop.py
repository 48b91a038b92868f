"""Accelerate: a plain loop with ``accelerator.backward``, accumulation and clipping.

Accelerate needs no gradtop adapter. Log on the micro-batch where
``accelerator.sync_gradients`` is true (gradients accumulated and, across processes,
synchronised), after unscaling and before clipping:

    accelerator.backward(loss)
    if accelerator.sync_gradients:
        accelerator.unscale_gradients()          # fp16: real magnitudes; no-op otherwise
        log.log(loss)                            # gradtop, pre-clip
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)

Clip with torch's ``clip_grad_norm_`` here, not ``accelerator.clip_grad_norm_``: the
latter unscales again, and a GradScaler refuses a second unscale in the same step.
(torch's function handles DDP and FSDP2/DTensor gradients; for DeepSpeed or FSDP1 use
the engine's own clipping.) Every process runs the same loop; rank 0 writes.

    python examples/accelerate_loop.py --out accelerate.jsonl
    ACCELERATE_USE_CPU=1 torchrun --nproc-per-node 2 examples/accelerate_loop.py --out acc.jsonl

The second runs two CPU processes (gloo; Accelerate reads torchrun's environment).
``accelerate launch --cpu --num_processes 2`` would start only one: with ``--cpu`` and no
multi-CPU configuration it picks the single-process launcher.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import gradtop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="accelerate.jsonl")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--accumulate", type=int, default=2, help="micro-batches per step")
    parser.add_argument("--max-norm", type=float, default=1.0, help="clip threshold")
    args = parser.parse_args()

    accelerator = Accelerator(gradient_accumulation_steps=args.accumulate)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(20, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    w_true = torch.randn(20, 1)
    x = torch.randn(1024, 20)
    loader = DataLoader(TensorDataset(x, x @ w_true), batch_size=32, shuffle=True)
    model, opt, loader = accelerator.prepare(model, opt, loader)

    # The unwrapped model gives readable names; the Logger unwraps the prepared optimizer's
    # parameters itself. Only rank 0 opens the file.
    log = gradtop.Logger(args.out, accelerator.unwrap_model(model), optimizer=opt.optimizer)
    loss_sum, micro = 0.0, 0
    for _ in range(args.epochs):
        for xb, yb in loader:
            with accelerator.accumulate(model):
                loss = nn.functional.mse_loss(model(xb), yb)
                accelerator.backward(loss)  # divides by the accumulation steps for you
                loss_sum, micro = loss_sum + loss.item(), micro + 1
                if accelerator.sync_gradients:
                    accelerator.unscale_gradients()
                    log.log(loss_sum / micro)  # gradtop: mean micro-batch loss, pre-clip
                    loss_sum, micro = 0.0, 0
                    torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_norm)
                opt.step()  # a no-op on the non-final micro-batches
                opt.zero_grad()
    log.close()

    if accelerator.is_main_process:
        print(f"last loss {loss.item():.4f}; gradient log: {Path(args.out).resolve()}")


if __name__ == "__main__":
    main()

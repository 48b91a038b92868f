"""Mixed precision (autocast + GradScaler) with gradient clipping, logged with gradtop.

The order matters: ``scaler.unscale_(opt)`` first, so gradtop sees the real gradients
(not ones multiplied by the loss scale); then ``log.log(...)``; then clipping, so the
logged norms are the pre-clip ones; then ``scaler.step``. Runs on CUDA (float16) when
available, else on CPU (bfloat16 autocast; the scaler then has nothing to do but works).

    python examples/amp_loop.py --out amp.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

import gradtop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="amp.jsonl")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    amp_dtype = torch.float16 if device == "cuda" else torch.bfloat16
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, 1)
    ).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device)
    target = torch.randn(32, 1, device=device)

    with gradtop.Logger(args.out, model, optimizer=opt, scaler=scaler) as log:  # gradtop
        for _ in range(args.steps):
            x = torch.randn(256, 32, device=device)
            y = torch.sin(x @ target)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device, dtype=amp_dtype):
                loss = nn.functional.mse_loss(model(x).float(), y)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)  # 1. real gradient values
            log.log(loss)  # 2. gradtop: sees unscaled, pre-clip gradients
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)  # 3. clip
            scaler.step(opt)  # 4. step (skipped by the scaler on inf/NaN)
            scaler.update()

    print(f"device {device}, final loss {loss.item():.4f}")
    print(f"gradient log: {Path(args.out).resolve()}")


if __name__ == "__main__":
    main()

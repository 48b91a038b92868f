"""A plain PyTorch training loop, logged with gradtop (four lines of gradtop in total).

Trains a small MLP on a synthetic classification task for a few seconds on CPU and
writes per-layer gradient statistics to a JSONL file you can watch or query:

    python examples/plain_loop.py --out run.jsonl
    gradtop watch run.jsonl        # live, in another terminal
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn

import gradtop


def make_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points in 16-D, labelled by which of 4 random directions they lean towards most."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=gen)
    directions = torch.randn(16, 4, generator=gen)
    return x, (x @ directions).argmax(dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="run.jsonl", help="JSONL file to append to")
    parser.add_argument("--seconds", type=float, default=4.0, help="how long to train")
    parser.add_argument("--every", type=int, default=1, help="log every N-th step")
    args = parser.parse_args()

    torch.manual_seed(0)
    x, y = make_data(4096)
    model = nn.Sequential(
        nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()

    step = 0
    deadline = time.monotonic() + args.seconds
    with gradtop.Logger(args.out, model, optimizer=opt, every=args.every) as log:  # gradtop
        while time.monotonic() < deadline:
            idx = torch.randint(0, len(x), (128,))
            opt.zero_grad()
            logits = model(x[idx])
            loss = loss_fn(logits, y[idx])
            loss.backward()
            accuracy = (logits.argmax(dim=1) == y[idx]).float().mean()
            log.log(loss, accuracy=accuracy)  # gradtop: after backward, before step
            opt.step()
            step += 1

    out = Path(args.out).resolve()
    print(f"trained {step} steps, final loss {loss.item():.3f}")
    print(f"gradient log: {out}")
    print("read it with jq:")
    print(f"  jq -c 'select(.kind==\"step\") | {{step, loss, total_grad_norm}}' {out} | tail -5")
    print(f"or watch it live: gradtop watch {out}")


if __name__ == "__main__":
    main()

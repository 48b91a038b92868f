"""Lightning: one callback, gradients unscaled and before clipping, once per optimizer step.

    python examples/lightning_example.py --out lightning.jsonl
    python examples/lightning_example.py --out lightning.jsonl --devices 2  # DDP, 2 CPU processes
    gradtop watch lightning.jsonl

``GradtopCallback`` logs in ``on_before_optimizer_step``: after the micro-batches of
``accumulate_grad_batches`` have been summed, after the precision plugin unscaled them
(16-mixed) and before ``gradient_clip_val`` clips them. With ``--devices 2`` Lightning
runs DDP (gloo on CPU): rank 0 writes, the other rank does no gradtop work.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gradtop.integrations.lightning import GradtopCallback


class Classifier(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(), nn.Linear(128, 10)
        )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(self.parameters(), lr=1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="lightning.jsonl")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--devices", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(0)
    x = torch.randn(4096, 32)
    y = (x[:, :10] * 3).argmax(dim=1)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        max_epochs=args.epochs,
        accumulate_grad_batches=2,
        gradient_clip_val=1.0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[GradtopCallback(args.out)],  # gradtop
    )
    trainer.fit(Classifier(), loader)
    if trainer.is_global_zero:
        print(f"{trainer.global_step} optimizer steps; gradient log: {Path(args.out).resolve()}")


if __name__ == "__main__":
    main()

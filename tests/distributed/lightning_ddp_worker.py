"""Lightning ``strategy="ddp"`` on 2 CPU processes; Lightning re-runs this script for rank 1.

    python lightning_ddp_worker.py OUT_DIR

Each rank's LightningModule records the naive per-parameter statistics in its own
``on_before_optimizer_step`` (after the callbacks, before clipping); rank ``r`` writes
them to ``OUT_DIR/reference{r}.json``. gradtop writes ``OUT_DIR/run.jsonl``.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gradtop.integrations.lightning import GradtopCallback


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        self.reference: list[dict[str, list[Any]]] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        stats: dict[str, list[Any]] = {"grad_norm": [], "grad_max": [], "weight_norm": []}
        for _, p in self.named_parameters():
            stats["grad_norm"].append(p.grad.double().norm().item())
            stats["grad_max"].append(p.grad.double().abs().max().item())
            stats["weight_norm"].append(p.detach().double().norm().item())
        self.reference.append(stats)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main() -> None:
    out = Path(sys.argv[1])
    warnings.simplefilter("ignore")
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=gen)
    y = torch.randint(0, 3, (64,), generator=gen)
    model = Tiny()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_steps=3,
        accumulate_grad_batches=2,
        gradient_clip_val=0.01,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=out,
        callbacks=[GradtopCallback(out / "run.jsonl")],
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=4))
    (out / f"reference{trainer.global_rank}.json").write_text(json.dumps(model.reference))


if __name__ == "__main__":
    main()

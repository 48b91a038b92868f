"""Lightning on 2 CPU processes; Lightning re-runs this script for rank 1.

    python lightning_ddp_worker.py OUT_DIR ddp|fsdp2

``ddp``: ``strategy="ddp"``. ``fsdp2``: ``ModelParallelStrategy`` with the module's
``configure_model`` applying ``fully_shard`` (DTensor parameters).

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
        self.fsdp2 = False

    def configure_model(self) -> None:
        if self.fsdp2:
            from torch.distributed.fsdp import fully_shard

            mesh = self.device_mesh["data_parallel"]
            for layer in (self.net[0], self.net[2]):
                fully_shard(layer, mesh=mesh)
            fully_shard(self, mesh=mesh)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        stats: dict[str, list[Any]] = {"grad_norm": [], "grad_max": [], "weight_norm": []}
        for _, p in self.named_parameters():  # full tensors: a collective each under FSDP2
            grad, weight = _full(p.grad), _full(p.detach())
            stats["grad_norm"].append(grad.double().norm().item())
            stats["grad_max"].append(grad.double().abs().max().item())
            stats["weight_norm"].append(weight.double().norm().item())
        self.reference.append(stats)

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _full(t: torch.Tensor) -> torch.Tensor:
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def main() -> None:
    out, kind = Path(sys.argv[1]), sys.argv[2]
    warnings.simplefilter("ignore")
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=gen)
    y = torch.randint(0, 3, (64,), generator=gen)
    model = Tiny()
    strategy: Any = "ddp"
    if kind == "fsdp2":
        from lightning.pytorch.strategies import ModelParallelStrategy

        model.fsdp2 = True
        strategy = ModelParallelStrategy(data_parallel_size=2, tensor_parallel_size=1)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy=strategy,
        max_steps=3,
        accumulate_grad_batches=2,
        gradient_clip_val=0.01,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=out,
        callbacks=[GradtopCallback(out / "run.jsonl", detail_every=1)],
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=4))
    (out / f"reference{trainer.global_rank}.json").write_text(json.dumps(model.reference))


if __name__ == "__main__":
    main()

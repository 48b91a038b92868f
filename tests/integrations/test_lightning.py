"""gradtop's Lightning callback in real (tiny) Lightning runs on CPU.

The reference statistics are taken by the LightningModule's own
``on_before_optimizer_step`` hook, which Lightning calls right after the callbacks' and
before clipping; the module's ``configure_gradient_clipping`` proves clipping then ran.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

pl = pytest.importorskip("lightning.pytorch", reason="Lightning is not installed")

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from gradtop.integrations.lightning import GradtopCallback, is_fsdp1  # noqa: E402
from tests.reference_support import assert_step_matches, naive_stats, named  # noqa: E402
from tests.support import read_records, split  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


class Tiny(pl.LightningModule):
    """Records what gradtop should see, from Lightning's own hooks."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
        self.micro_losses: list[float] = []
        self.reference: list[dict[str, list[Any]]] = []
        self.lrs: list[float] = []
        self.clipped_norms: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self.net(x), y)
        self.micro_losses.append(float(loss.detach().float()))
        return loss

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        self.reference.append(naive_stats(named(self)))
        self.lrs.append(optimizer.param_groups[0]["lr"])

    def configure_gradient_clipping(self, optimizer: Any, **kwargs: Any) -> None:
        super().configure_gradient_clipping(optimizer, **kwargs)
        norms = [p.grad.double().norm() for p in self.parameters() if p.grad is not None]
        self.clipped_norms.append(float(torch.linalg.vector_norm(torch.stack(norms))))

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=0.2, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _loader() -> DataLoader:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 8, generator=gen) * 3
    y = torch.randint(0, 3, (64,), generator=gen)
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False)


def _fit(tmp_path: Path, model: Tiny, every: int = 1, **trainer_args: Any) -> Path:
    path = tmp_path / "run.jsonl"
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
        callbacks=[GradtopCallback(path, every=every, detail_every=1)],
        **trainer_args,
    )
    trainer.fit(model, _loader())
    return path


def test_accumulation_and_clipping_log_pre_clip_once_per_optimizer_step(tmp_path: Path) -> None:
    model = Tiny()
    path = _fit(tmp_path, model, max_steps=4, accumulate_grad_batches=2, gradient_clip_val=0.05)
    headers, steps, ends = split(read_records(path))
    assert len(headers) == 1 and len(ends) == 1
    assert ends[0].steps == 4 and ends[0].reason == "closed"
    assert [s.step for s in steps] == [1, 2, 3, 4]  # one record per optimizer step
    assert [p.name for p in headers[0].params] == [n for n, _ in model.named_parameters()]
    assert headers[0].meta["integration"] == "lightning"
    assert headers[0].meta["accumulate_grad_batches"] == 2
    assert len(model.reference) == 4
    for step, expected in zip(steps, model.reference, strict=True):
        assert_step_matches(step, expected)
    # Pre-clip: the logged norm is the one Lightning then clipped down to 0.05.
    for step, clipped in zip(steps, model.clipped_norms, strict=True):
        assert step.total_grad_norm is not None and step.total_grad_norm > 0.1
        assert math.isclose(clipped, 0.05, rel_tol=1e-3)
    # Loss: the mean of the step's two micro-batch losses; lr: the scheduler's value then.
    for i, step in enumerate(steps):
        micro = model.micro_losses[2 * i : 2 * i + 2]
        assert step.loss == pytest.approx(sum(micro) / 2, rel=1e-5)
        assert step.lr == [pytest.approx(model.lrs[i])]
    assert [s.lr[0] for s in steps] == pytest.approx([0.2, 0.1, 0.05, 0.025])


def test_every_n_and_update_ratio(tmp_path: Path) -> None:
    model = Tiny()
    path = _fit(tmp_path, model, every=2, max_steps=5)
    _, steps, _ = split(read_records(path))
    assert [s.step for s in steps] == [1, 3, 5]
    for step, index in zip(steps, [0, 2, 4], strict=True):
        assert_step_matches(step, model.reference[index])
        # The optimizer step after each logged step moved the weights: a real ratio.
        ratios = step.stats["update_ratio"]
        assert all(r is not None and 0 < r < 1 for r in ratios), ratios


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_grads_are_unscaled(tmp_path: Path, precision: str) -> None:
    model = Tiny()
    if precision == "16-mixed":
        # Lightning swaps 16-mixed for bf16-mixed on CPU; the plugin given explicitly keeps
        # a real GradScaler, so the unscale path is the one a GPU run takes.
        from lightning.pytorch.plugins import MixedPrecision

        plugin = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
        path = _fit(tmp_path, model, max_steps=3, accumulate_grad_batches=2, plugins=[plugin])
    else:
        path = _fit(tmp_path, model, max_steps=3, accumulate_grad_batches=2, precision=precision)
    _, steps, _ = split(read_records(path))
    assert len(steps) == 3
    for step, expected in zip(steps, model.reference, strict=True):
        assert_step_matches(step, expected)
        assert step.total_grad_norm is not None and step.total_grad_norm < 100
    # The loss is the training step's own (unscaled) loss, averaged over the micro-batches,
    # not the scaled loss that the GradScaler hands to backward under 16-mixed.
    assert len(model.micro_losses) == 6
    for i, step in enumerate(steps):
        micro = model.micro_losses[2 * i : 2 * i + 2]
        assert step.loss == pytest.approx(sum(micro) / 2, rel=1e-5)
    if precision == "16-mixed":
        assert steps[0].loss_scale == 65536.0  # recorded, and the grads above are unscaled
    else:
        assert steps[0].loss_scale is None


def test_fsdp1_strategy_is_detected_by_class() -> None:
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy, ModelParallelStrategy

    assert is_fsdp1(FSDPStrategy())
    assert not is_fsdp1(DDPStrategy())
    assert not is_fsdp1(ModelParallelStrategy())  # FSDP2: DTensors, reduced correctly


def test_fsdp1_warns_and_the_header_says_fsdp1(tmp_path: Path) -> None:
    """Lightning's FSDP1 wraps the LightningModule from outside, out of the Logger's sight.

    FSDP1 cannot run on CPU (torch wants an accelerator, and Lightning refuses
    ``FSDPStrategy`` on CPU by an exact class check, which a subclass passes), so this
    builds a real Trainer with the strategy and runs the callback's ``on_fit_start``, where
    the header is written, directly.
    """
    from lightning.pytorch.strategies import FSDPStrategy

    from gradtop.logger import GradtopWarning

    class CPUFSDPStrategy(FSDPStrategy):
        pass

    path = tmp_path / "run.jsonl"
    callback = GradtopCallback(path)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        strategy=CPUFSDPStrategy(),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[callback],
    )
    model = Tiny()
    with pytest.warns(GradtopWarning, match="per-shard"):
        callback.on_fit_start(trainer, model)
    callback.on_fit_end(trainer, model)
    headers, steps, ends = split(read_records(path))
    assert len(headers) == 1 and steps == [] and len(ends) == 1
    assert headers[0].parallel["strategy"] == "fsdp1"
    assert "not supported" in headers[0].parallel["reduce"]
    assert headers[0].meta["strategy"] == "CPUFSDPStrategy"

"""gradtop's Transformers callback in real (tiny, config-built) Trainer runs on CPU.

No hub access: models are built from configs in code. The per-parameter reference is
taken by a Trainer subclass right before the Trainer clips (its ``_clip_grad_norm``), and
the Trainer's own logged ``grad_norm``/``loss``/``learning_rate`` are the references for
the scalars.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
transformers = pytest.importorskip("transformers", reason="Transformers is not installed")
pytest.importorskip("accelerate", reason="Accelerate is not installed")

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments  # noqa: E402

from gradtop.integrations.hf import GradtopCallback  # noqa: E402
from tests.reference_support import assert_step_matches, naive_stats, named  # noqa: E402
from tests.support import read_records, split  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int = 32, length: int = 12, vocab: int = 64) -> None:
        gen = torch.Generator().manual_seed(3)
        self.ids = torch.randint(0, vocab, (n, length), generator=gen)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


class ReferenceTrainer(Trainer):
    """Takes the naive per-parameter statistics right before the Trainer clips."""

    def __init__(self, *args: Any, poison_step: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reference: list[dict[str, list[Any]]] = []
        self.after_clip: list[dict[str, list[Any]]] = []
        self.poison_step = poison_step

    def _clip_grad_norm(self, model: Any) -> Any:
        if self.poison_step is not None and self.state.global_step + 1 == self.poison_step:
            with torch.no_grad():  # one bad layer, as an overflow would leave it
                self.model.transformer.h[1].mlp.c_fc.weight.grad[0, 0] = float("nan")
        self.reference.append(naive_stats(named(self.model)))
        norm = super()._clip_grad_norm(model)
        self.after_clip.append(naive_stats(named(self.model)))
        return norm


def _model() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=64,
        n_positions=16,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
    )
    return GPT2LMHeadModel(config)


def _trainer(tmp_path: Path, **args: Any) -> ReferenceTrainer:
    poison = args.pop("poison_step", None)
    defaults: dict[str, Any] = {
        "output_dir": str(tmp_path / "out"),
        "max_steps": 4,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 2,
        "learning_rate": 1e-2,
        "lr_scheduler_type": "linear",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": True,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "seed": 0,
    }
    defaults.update(args)
    return ReferenceTrainer(
        model=_model(),
        args=TrainingArguments(**defaults),
        train_dataset=Tokens(),
        poison_step=poison,
    )


def _trainer_logs(trainer: Trainer) -> list[dict[str, Any]]:
    return [h for h in trainer.state.log_history if "loss" in h and "grad_norm" in h]


def test_attach_logs_pre_clip_matching_the_trainer(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, max_grad_norm=0.01)
    path = tmp_path / "run.jsonl"
    GradtopCallback(path, detail_every=1).attach(trainer)
    trainer.train()
    headers, steps, ends = split(read_records(path))
    assert len(headers) == 1 and len(ends) == 1 and ends[0].steps == 4
    header = headers[0]
    assert header.meta["grads"] == "pre-clip" and header.meta["integration"] == "hf"
    # Tied embeddings are listed once, under their first name.
    assert [p.name for p in header.params] == [n for n, _ in trainer.model.named_parameters()]
    assert [s.step for s in steps] == [1, 2, 3, 4]  # once per optimizer step, not micro-batch
    for step, expected in zip(steps, trainer.reference, strict=True):
        assert_step_matches(step, expected)
    logs = _trainer_logs(trainer)
    assert len(logs) == 4
    for step, log in zip(steps, logs, strict=True):
        # The Trainer's own pre-clip norm, its logged loss (rounded to 4 digits) and lr.
        assert step.total_grad_norm == pytest.approx(float(log["grad_norm"]), rel=1e-5)
        assert step.total_grad_norm > 0.01 * 10  # so clipping really did act afterwards
        assert step.loss == pytest.approx(log["loss"], abs=2e-4)
        assert step.lr == [pytest.approx(log["learning_rate"], rel=1e-6)] * len(step.lr)
        ratios = [r for r in step.stats["update_ratio"] if r is not None]
        assert ratios and all(r > 0 for r in ratios)


def test_callbacks_list_logs_post_clip_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    trainer = _trainer(tmp_path, max_grad_norm=0.01, max_steps=2)
    trainer.add_callback(GradtopCallback(path))
    trainer.train()
    headers, steps, _ = split(read_records(path))
    assert headers[0].meta["grads"] == "post-clip"
    assert len(steps) == 2
    for step in steps:  # what on_pre_optimizer_step sees: already clipped to max_grad_norm
        assert step.total_grad_norm == pytest.approx(0.01, rel=1e-3)


def test_attach_localises_a_nan_that_clipping_would_spread(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    trainer = _trainer(tmp_path, max_grad_norm=1.0, max_steps=2, poison_step=2)
    GradtopCallback(path).attach(trainer)
    trainer.train()
    headers, steps, _ = split(read_records(path))
    names = [p.name for p in headers[0].params]
    bad = names.index("transformer.h.1.mlp.c_fc.weight")
    assert steps[0].stats["nonfinite"] == [0] * len(names)
    nonfinite = steps[1].stats["nonfinite"]
    assert nonfinite[bad] == 1 and sum(nonfinite) == 1
    assert math.isnan(steps[1].stats["grad_norm"][bad])
    others = [v for i, v in enumerate(steps[1].stats["grad_norm"]) if i != bad]
    assert all(v is not None and math.isfinite(v) for v in others)
    # ... whereas after the Trainer's clip every gradient is non-finite (inf norm: NaN factor).
    after = trainer.after_clip[1]["nonfinite"]
    assert all(n is not None and n > 0 for n in after)


def test_every_n(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    trainer = _trainer(tmp_path, max_steps=5, gradient_accumulation_steps=1)
    GradtopCallback(path, every=2, detail_every=1).attach(trainer)
    trainer.train()
    _, steps, ends = split(read_records(path))
    assert [s.step for s in steps] == [1, 3, 5]
    assert ends[0].steps == 3
    for step, index in zip(steps, [0, 2, 4], strict=True):
        assert_step_matches(step, trainer.reference[index])

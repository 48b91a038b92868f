"""Hugging Face Trainer: a tiny GPT-2 built from a config (no downloads), logged pre-clip.

    python examples/hf_trainer_example.py --out hf.jsonl
    gradtop watch hf.jsonl

``GradtopCallback(path).attach(trainer)`` logs right before the Trainer clips to
``max_grad_norm`` (clipping rescales every gradient, and a single NaN then turns all of
them into NaN, hiding which layer broke first). Passing the callback in
``callbacks=[...]`` instead logs at ``on_pre_optimizer_step``, which runs *after*
clipping; the header's ``meta.grads`` then says ``"post-clip"``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything below is built locally

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

from gradtop.integrations.hf import GradtopCallback


class RandomTokens(torch.utils.data.Dataset):
    """Sequences with a learnable pattern: each token is the previous one plus one."""

    def __init__(self, n: int, length: int, vocab: int) -> None:
        start = torch.randint(0, vocab, (n, 1), generator=torch.Generator().manual_seed(0))
        self.ids = (start + torch.arange(length)) % vocab

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="hf.jsonl")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=128, n_positions=32, n_embd=64, n_layer=2, n_head=2, bos_token_id=0,
        eos_token_id=0,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        training = TrainingArguments(
            output_dir=tmp,
            max_steps=args.steps,
            per_device_train_batch_size=16,
            gradient_accumulation_steps=2,
            learning_rate=3e-3,
            warmup_steps=20,  # without: Adam moves the 0.02-std init ~20% a step (gradtop says so)
            max_grad_norm=1.0,
            logging_steps=20,
            save_strategy="no",
            report_to=[],
            use_cpu=not torch.cuda.is_available(),
            disable_tqdm=True,
        )
        trainer = Trainer(
            model=GPT2LMHeadModel(config),
            args=training,
            train_dataset=RandomTokens(2048, 32, config.vocab_size),
        )
        GradtopCallback(args.out).attach(trainer)  # gradtop: before the Trainer clips
        trainer.train()
    print(f"gradient log: {Path(args.out).resolve()}")


if __name__ == "__main__":
    main()

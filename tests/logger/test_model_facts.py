"""What describe() finds out about real models without running them: norms, activations,
attention, skip connections, tied weights and precision, also where they are not
torch.nn classes (a nanoGPT's own LayerNorm, F.gelu in a forward, hand-written
attention, Transformers' activation and RMSNorm classes)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import gradtop
from gradtop.demos.models import MLP, Recipe
from gradtop.logger.model_facts import class_facts, code_of
from gradtop.logger.model_info import describe
from tests.model_zoo import (
    GPT,
    LSTMLM,
    Block,
    CausalSelfAttention,
    LayerNorm,
    Mlp,
    bert,
    cnn,
    llama,
)
from tests.support import headers, read_records

transformers = pytest.importorskip("transformers")


# --------------------------------------------------------------------- models


def test_models_run() -> None:
    """The models are real: each runs forward (the facts below are read without this)."""
    idx = torch.randint(0, 64, (2, 8))
    assert GPT()(idx).shape == (2, 8, 64)
    assert LSTMLM()(idx).shape == (2, 8, 64)
    assert cnn()(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    assert bert()(input_ids=idx).last_hidden_state.shape == (2, 8, 16)


# --------------------------------------------------------------------- describe()


def test_nanogpt_own_layernorm_functional_gelu_attention_and_tied_head() -> None:
    info = describe(GPT(), None)
    assert info.norms == ("LayerNorm",)
    assert info.activations == ("GELU",)
    assert info.attention is True
    assert info.residual is True
    assert info.tied == (("wte.weight", "lm_head.weight"),)
    assert info.precision == "fp32"
    # the tied tensor is listed once, under its first name
    assert [p.name for p in info.params].count("wte.weight") == 1
    assert "lm_head.weight" not in [p.name for p in info.params]


def test_skip_connection_is_read_from_the_block_forward() -> None:
    assert class_facts(Block).residual is True
    assert class_facts(CausalSelfAttention).attention is True
    assert class_facts(Mlp).activations == ("GELU",) and not class_facts(Mlp).residual
    assert class_facts(LayerNorm).norms == ("LayerNorm",)


def test_bert_from_a_tiny_config() -> None:
    info = describe(bert(), None)
    assert "LayerNorm" in info.norms and not any("Batch" in n for n in info.norms)
    assert "GELU" in info.activations  # transformers' GELUActivation, by name
    assert info.attention is True
    assert info.residual is True
    assert info.precision == "fp32"
    from transformers.models.bert import modeling_bert as mb

    assert class_facts(mb.BertSelfOutput).residual  # hidden_states + input_tensor
    assert class_facts(mb.BertSelfAttention).attention


def test_llama_rmsnorm_and_silu_classes_of_transformers() -> None:
    info = describe(llama(), None)
    assert info.norms[0] == "RMSNorm" and "LlamaRMSNorm" in info.norms
    assert info.activations == ("SiLU",)
    assert info.attention is True and info.residual is True


def test_lstm_language_model() -> None:
    info = describe(LSTMLM(), None)
    assert info.norms == () and info.activations == ()  # its gates are inside nn.LSTM
    assert info.attention is False
    assert info.residual is None  # not seen, so not known: never claimed False
    assert info.tied == ()


def test_cnn_with_batchnorm_and_relu() -> None:
    info = describe(cnn(), None)
    assert info.norms == ("BatchNorm2d",) and info.activations == ("ReLU",)
    assert info.attention is False and info.residual is None
    assert {p.module_type for p in info.params} == {"Conv2d", "BatchNorm2d", "Linear"}


def test_half_precision_mlp() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).half()
    info = describe(model, None)
    assert info.precision == "fp16" and info.activations == ("Tanh",)
    mixed = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    mixed[1].to(torch.bfloat16)
    assert describe(mixed, None).precision == "mixed"
    frozen_half = nn.Sequential(nn.Linear(4, 8).half(), nn.Linear(8, 2))
    frozen_half[0].requires_grad_(False)
    assert describe(frozen_half, None).precision == "fp32"  # what the optimizer trains


def test_a_switched_skip_is_not_claimed() -> None:
    """The demo's MLP adds its input only when ``recipe.residual`` is on: its forward
    alone cannot say, so residual stays unknown, and its sigmoid units are listed."""
    for residual in (False, True):
        info = describe(MLP(Recipe(activation="sigmoid", residual=residual), 4, 2), None)
        assert info.residual is None and info.activations == ("Sigmoid",)


class Documented(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: Tensor) -> Tensor:
        """Unlike a block with x = x + self.fc(x), this one has no skip; no F.gelu(x)."""
        note = "softmax(q @ k) @ v"  # F.sigmoid(x): a comment, not code
        del note
        return F.relu(self.fc(x))


class WrittenOut(nn.Module):
    """GELU (tanh approximation) and SiLU written out: neither is a Tanh or Sigmoid unit."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc(x)
        h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * h**3)))
        return h * torch.sigmoid(h)


class RootMeanSquareScale(nn.Module):
    """An RMSNorm whose name does not say so: what its forward computes does."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


def test_comments_strings_and_docstrings_are_not_code() -> None:
    facts = class_facts(Documented)
    assert facts.activations == ("ReLU",)
    assert not facts.residual and not facts.attention
    assert "gelu" not in code_of('def f(x):\n    """F.gelu(x)"""\n    return x  # gelu(x)\n')


def test_written_out_units_and_norms() -> None:
    assert set(class_facts(WrittenOut).activations) == {"GELU", "SiLU"}
    assert class_facts(RootMeanSquareScale).norms == ("RMSNorm",)  # from rsqrt(mean(x^2))
    info = describe(nn.Sequential(RootMeanSquareScale(4), WrittenOut()), None)
    assert info.norms == ("RMSNorm",) and "Tanh" not in info.activations


def test_a_class_without_source_never_raises() -> None:
    scope: dict[str, object] = {"nn": nn}
    exec(  # a class whose source cannot be read (inspect raises OSError for it)
        "class Generated(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(2, 2)\n"
        "    def forward(self, x):\n"
        "        return x + self.fc(x)\n",
        scope,
    )
    info = describe(scope["Generated"](), None)  # type: ignore[operator]
    assert [p.name for p in info.params] == ["fc.weight", "fc.bias"]
    assert info.residual is None and info.attention is False


def test_describe_is_fast_for_a_thousand_modules() -> None:
    model = nn.Sequential(*(Block(8, 2) for _ in range(150)))  # ~1350 modules
    assert len(list(model.modules())) > 1000
    start = time.perf_counter()
    info = describe(model, None)
    assert time.perf_counter() - start < 2.0  # a few source reads (cached per class)
    assert info.attention and info.residual and info.norms == ("LayerNorm",)


# --------------------------------------------------------------------- the header


def test_the_logger_header_carries_the_facts(tmp_path: Path) -> None:
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    with gradtop.Logger(tmp_path / "run.jsonl", model, optimizer=opt):
        pass
    (header,) = headers(read_records(tmp_path / "run.jsonl"))
    assert header.activations == ("GELU",) and header.norms == ("LayerNorm",)
    assert header.attention is True and header.residual is True
    assert header.tied == (("wte.weight", "lm_head.weight"),)
    assert header.precision == "fp32"
    assert header.clip_max_norm is None


def test_the_logger_header_records_configured_clipping(tmp_path: Path) -> None:
    logger = gradtop.Logger(tmp_path / "run.jsonl", cnn(), clip_max_norm=1.0)
    logger.close()
    (header,) = headers(read_records(tmp_path / "run.jsonl"))
    assert header.clip_max_norm == 1.0
    assert header.norms == ("BatchNorm2d",) and header.precision == "fp32"


def test_lightning_gradient_clip_val_reaches_the_header(tmp_path: Path) -> None:
    pl = pytest.importorskip("lightning.pytorch")
    from gradtop.integrations.lightning import GradtopCallback

    class Tiny(pl.LightningModule):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 1))

        def training_step(self, batch: tuple[Tensor, Tensor], _: int) -> Tensor:
            x, y = batch
            return F.mse_loss(self.net(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    for algorithm, expected in (("norm", 0.25), ("value", None)):
        path = tmp_path / f"{algorithm}.jsonl"
        trainer = pl.Trainer(
            accelerator="cpu",
            max_steps=2,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            gradient_clip_val=0.25,
            gradient_clip_algorithm=algorithm,
            callbacks=[GradtopCallback(path)],
        )
        trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=8))
        (header,) = headers(read_records(path))
        assert header.clip_max_norm == expected, algorithm  # by value caps elements only
        assert header.meta["gradient_clip_algorithm"] == algorithm


def test_hf_max_grad_norm_reaches_the_header(tmp_path: Path) -> None:
    from gradtop.integrations.hf import GradtopCallback

    class Tokens(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return 8

        def __getitem__(self, i: int) -> dict[str, Tensor]:
            ids = torch.arange(i, i + 8) % 64
            return {"input_ids": ids, "labels": ids}

    config = transformers.GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2, n_positions=16)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=4,
        max_grad_norm=0.5,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    model = transformers.GPT2LMHeadModel(config)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens())
    GradtopCallback(tmp_path / "run.jsonl").attach(trainer)
    trainer.train()
    (header,) = headers(read_records(tmp_path / "run.jsonl"))
    assert header.clip_max_norm == 0.5 and header.meta["max_grad_norm"] == 0.5
    assert header.attention and header.residual is True and header.precision == "fp32"
    assert header.tied == (("transformer.wte.weight", "lm_head.weight"),)

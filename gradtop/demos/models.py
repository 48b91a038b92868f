"""Small real models whose gradient pathologies are textbook (research/diagnosis.md §7).

Every "fix" is an option of the recipe (activation, init, batchnorm, residual, ...), so a
demo can show the sick net and then the same net cured, one switch at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}
INITS = ("default", "he", "xavier", "normal")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides whether a demo net is healthy; the fixes are options."""

    model: str = "mlp"  # "mlp", "rnn" or "transformer"
    depth: int = 20
    width: int = 64
    activation: str = "relu"
    init: str = "default"  # "default" (PyTorch's), "he", "xavier", "normal" (N(0,1))
    recurrent_gain: float = 1.0  # rnn: W_hh is orthogonal times this gain
    bias: float | None = None  # constant bias init, e.g. -3.0 kills ReLU units
    batchnorm: bool = False
    residual: bool = False
    optimizer: str = "sgd"  # "sgd" or "adam"
    lr: float = 0.1
    momentum: float = 0.9  # sgd only
    clip: float | None = None  # clip_grad_norm_ max_norm, None for no clipping
    freeze: tuple[str, ...] = ()  # parameter-name prefixes to freeze
    unused: bool = False  # add a layer that forward never calls
    seq_len: int = 100  # rnn / transformer sequence length
    batch: int = 64


class MLP(nn.Module):
    """A deep stack of same-width layers: Linear [+ BatchNorm] + activation [+ skip]."""

    def __init__(self, recipe: Recipe, d_in: int, d_out: int) -> None:
        super().__init__()
        act = ACTIVATIONS[recipe.activation]
        w = recipe.width
        self.inp = nn.Linear(d_in, w)
        self.blocks = nn.ModuleList()
        for _ in range(recipe.depth - 2):
            parts: list[nn.Module] = [nn.Linear(w, w)]
            if recipe.batchnorm:
                parts.append(nn.BatchNorm1d(w))
            parts.append(act())
            self.blocks.append(nn.Sequential(*parts))
        self.act = act()
        self.head = nn.Linear(w, d_out)
        self.residual = recipe.residual
        if recipe.unused:
            self.unused = nn.Linear(w, w)  # registered, never called: its grad stays None

    def forward(self, x: Tensor) -> Tensor:
        h = self.act(self.inp(x))
        for block in self.blocks:
            h = h + block(h) if self.residual else block(h)
        return self.head(h)


class TanhRNN(nn.Module):
    """A plain tanh RNN that must remember its first input to the end of the sequence."""

    def __init__(self, recipe: Recipe, d_in: int, d_out: int) -> None:
        super().__init__()
        self.rnn = nn.RNN(d_in, recipe.width, nonlinearity="tanh", batch_first=True)
        self.head = nn.Linear(recipe.width, d_out)
        with torch.no_grad():
            nn.init.orthogonal_(cast(Tensor, self.rnn.weight_hh_l0), gain=recipe.recurrent_gain)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


class TinyTransformer(nn.Module):
    """Two pre-norm encoder layers that learn to reverse a sequence of tokens."""

    def __init__(self, recipe: Recipe, vocab: int, seq_len: int) -> None:
        super().__init__()
        d = recipe.width
        self.embed = nn.Embedding(vocab, d)
        self.pos_embed = nn.Parameter(torch.randn(seq_len, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d,
            nhead=4,
            dim_feedforward=2 * d,
            dropout=0.0,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=recipe.depth, enable_nested_tensor=False
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x) + self.pos_embed
        return self.head(self.norm(self.encoder(h)))


def apply_init(model: nn.Module, recipe: Recipe) -> None:
    """Re-initialise Linear layers as the recipe says (the RNN keeps its own init)."""
    gain_name: Literal["relu", "sigmoid", "tanh"] = "relu"  # ReLU-like: leaky, ELU, GELU
    if recipe.activation in ("sigmoid", "tanh"):
        gain_name = "sigmoid" if recipe.activation == "sigmoid" else "tanh"
    with torch.no_grad():
        for m in model.modules():
            if not isinstance(m, nn.Linear):
                continue
            if recipe.init == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif recipe.init == "xavier":
                nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain(gain_name))
            elif recipe.init == "normal":
                nn.init.normal_(m.weight, 0.0, 1.0)
            if m.bias is not None and recipe.bias is not None:
                nn.init.constant_(m.bias, recipe.bias)
            elif m.bias is not None and recipe.init in ("he", "xavier"):
                nn.init.zeros_(m.bias)


def build(recipe: Recipe, d_in: int, d_out: int) -> nn.Module:
    if recipe.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}")
    if recipe.init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}")
    model: nn.Module
    if recipe.model == "mlp":
        model = MLP(recipe, d_in, d_out)
    elif recipe.model == "rnn":
        model = TanhRNN(recipe, d_in, d_out)
    elif recipe.model == "transformer":
        model = TinyTransformer(recipe, d_out, recipe.seq_len)
    else:
        raise ValueError(f"model must be mlp, rnn or transformer, not {recipe.model!r}")
    apply_init(model, recipe)
    for name, p in model.named_parameters():
        if any(name.startswith(prefix) for prefix in recipe.freeze):
            p.requires_grad_(False)
    return model


def optimizer_for(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum)
    raise ValueError(f"optimizer must be sgd or adam, not {recipe.optimizer!r}")


def expected_chance_loss(classes: int) -> float:
    """Cross-entropy of a uniform guess: where a net that learns nothing stays."""
    return math.log(classes)

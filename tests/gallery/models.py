"""Small models written the way real projects write them, and learnable synthetic data.

* ``GPT``: nanoGPT style (hand-written causal attention from one ``c_attn``, its own
  ``LayerNorm``, ``NewGELU``, pre-norm residual blocks, ``lm_head`` tied to ``wte``).
* ``LSTMLM``: PyTorch's word_language_model ``RNNModel`` (encoder, dropout, ``nn.LSTM``,
  decoder), with its ``batchify`` / ``get_batch`` / ``repackage_hidden`` helpers.
* ``tiny_bert``: ``transformers.BertForSequenceClassification`` from a config built here.
* ``PatternCNN``: a LightningModule of Conv2d + BatchNorm2d + ReLU blocks.

Data is generated in code from a seed: a Markov-chain token stream (GPT, LSTM), a
"does token 5 appear" classification set (BERT) and bar-pattern images (CNN). Every data
set has signal a small model learns in a few hundred steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# ---------------------------------------------------------------------------- data


def markov_corpus(vocab: int, n_tokens: int, seed: int) -> Tensor:
    """A token stream from a sparse random bigram chain: each token has 2 likely successors.

    Successor probabilities 0.8 / 0.2, so the best possible next-token loss is the
    chain's entropy, about 0.5 nats, against ln(vocab) for a model that knows nothing.
    """
    gen = torch.Generator().manual_seed(1000 + seed)
    succ = torch.stack([torch.randperm(vocab, generator=gen)[:2] for _ in range(vocab)])
    table = succ.tolist()
    out = []
    tok = 0
    for coin in torch.rand(n_tokens, generator=gen).tolist():
        out.append(tok)
        tok = table[tok][0 if coin < 0.8 else 1]
    return torch.tensor(out, dtype=torch.long)


def get_lm_batch(data: Tensor, block_size: int, batch_size: int, gen: torch.Generator):
    """nanoGPT's ``get_batch``: random windows of the stream, targets shifted by one."""
    ix = torch.randint(len(data) - block_size - 1, (batch_size,), generator=gen)
    x = torch.stack([data[i : i + block_size] for i in ix])
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in ix])
    return x, y


def batchify(data: Tensor, bsz: int) -> Tensor:
    """word_language_model: the stream cut into ``bsz`` columns, shape (nbatch, bsz)."""
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_bptt_batch(source: Tensor, i: int, bptt: int) -> tuple[Tensor, Tensor]:
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i : i + seq_len]
    target = source[i + 1 : i + 1 + seq_len].reshape(-1)
    return data, target


def repackage_hidden(h: Any) -> Any:
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


class ContainsTokenDataset(torch.utils.data.Dataset):
    """Sequences of random token ids; label 1 when ``target`` appears, else 0 (balanced).

    ``random_labels``: the labels are coin flips that ignore the sequence (no signal).
    """

    def __init__(
        self,
        n: int,
        *,
        seq_len: int = 16,
        vocab: int = 100,
        seed: int = 0,
        target: int = 5,
        random_labels: bool = False,
    ) -> None:
        gen = torch.Generator().manual_seed(2000 + seed)
        ids = torch.randint(6, vocab, (n, seq_len), generator=gen)
        labels = torch.randint(0, 2, (n,), generator=gen)
        pos = torch.randint(1, seq_len, (n,), generator=gen)  # position 0 is [CLS]
        rows = torch.nonzero(labels == 1).squeeze(1)
        ids[rows, pos[rows]] = target
        ids[:, 0] = 2  # a [CLS]-like first token
        if random_labels:
            labels = torch.randint(0, 2, (n,), generator=gen)
        self.ids = ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {
            "input_ids": self.ids[i],
            "attention_mask": torch.ones_like(self.ids[i]),
            "labels": self.labels[i],
        }


def pattern_images(n: int, seed: int, size: int = 12) -> tuple[Tensor, Tensor]:
    """1 x size x size noisy images of one of 4 patterns at a random place.

    Classes: horizontal bar, vertical bar, main diagonal, anti-diagonal (length 5).
    """
    gen = torch.Generator().manual_seed(3000 + seed)
    x = 0.4 * torch.randn(n, 1, size, size, generator=gen)
    y = torch.randint(0, 4, (n,), generator=gen)
    r = torch.randint(0, size - 5, (n,), generator=gen)
    c = torch.randint(0, size - 5, (n,), generator=gen)
    k = torch.arange(5)
    for i in range(n):
        ri, ci, cls = int(r[i]), int(c[i]), int(y[i])
        if cls == 0:
            x[i, 0, ri + 2, ci + k] += 1.5
        elif cls == 1:
            x[i, 0, ri + k, ci + 2] += 1.5
        elif cls == 2:
            x[i, 0, ri + k, ci + k] += 1.5
        else:
            x[i, 0, ri + k, ci + 4 - k] += 1.5
    return x, y


# ---------------------------------------------------------------------------- GPT


@dataclass
class GPTConfig:
    block_size: int = 16
    vocab_size: int = 64
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32
    dropout: float = 0.0
    bias: bool = True


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's had no ``bias=False`` for a long time)."""

    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class NewGELU(nn.Module):
    """The tanh approximation of GELU used by GPT-2 (as in minGPT)."""

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("bias", mask.view(1, 1, config.block_size, config.block_size))

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = NewGELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "drop": nn.Dropout(config.dropout),
                "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                "ln_f": LayerNorm(config.n_embd, bias=config.bias),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # weight tying: https://paperswithcode.com/method/weight-tying
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: Tensor, targets: Tensor | None = None):
        _, t = idx.size()
        assert t <= self.config.block_size
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    def configure_optimizers(
        self, weight_decay: float, learning_rate: float, betas: tuple[float, float]
    ) -> torch.optim.Optimizer:
        """nanoGPT's: 2-D tensors decay, biases and norm weights do not."""
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for p in param_dict.values() if p.dim() >= 2]
        nodecay_params = [p for p in param_dict.values() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)


# ---------------------------------------------------------------------------- LSTM


class LSTMLM(nn.Module):
    """word_language_model's RNNModel (LSTM flavour): encoder, recurrent module, decoder."""

    def __init__(
        self,
        ntoken: int,
        ninp: int,
        nhid: int,
        nlayers: int,
        *,
        dropout: float = 0.2,
        detach_embedding: bool = False,
    ) -> None:
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        self.nhid = nhid
        self.nlayers = nlayers
        self.detach_embedding = detach_embedding
        self.init_weights()

    def init_weights(self) -> None:
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input: Tensor, hidden: tuple[Tensor, Tensor]):
        emb = self.drop(self.encoder(input))
        if self.detach_embedding:
            # "the embeddings are pretrained, no need to backprop into them" -- but they
            # are still in the optimizer and were meant to be fine-tuned
            emb = emb.detach()
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz: int) -> tuple[Tensor, Tensor]:
        weight = next(self.parameters())
        return (
            weight.new_zeros(self.nlayers, bsz, self.nhid),
            weight.new_zeros(self.nlayers, bsz, self.nhid),
        )


# ---------------------------------------------------------------------------- BERT


def tiny_bert(vocab: int = 100, hidden: int = 32, seed: int = 0) -> Any:
    """BertForSequenceClassification from a config built in code (no download)."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        num_labels=2,
    )
    torch.manual_seed(seed)
    return BertForSequenceClassification(config)


# ---------------------------------------------------------------------------- CNN


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def make_pattern_cnn(**kwargs: Any) -> Any:
    """A PatternCNN LightningModule (Lightning imported here, not at module import)."""
    import lightning.pytorch as pl

    class PatternCNN(pl.LightningModule):
        def __init__(
            self,
            *,
            width: int = 8,
            optimizer: str = "adam",
            lr: float = 3e-3,
            weight_decay: float = 0.0,
            momentum: float = 0.9,
            no_grad_stem: bool = False,
            size: int = 12,
        ) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.block1 = conv_block(1, width)
            self.block2 = conv_block(width, 2 * width)
            self.head = nn.Linear(2 * width * (size // 4) ** 2, 4)

        def forward(self, x: Tensor) -> Tensor:
            if self.hparams.no_grad_stem:
                # "the stem is a fixed feature extractor" -- but it was never pretrained
                with torch.no_grad():
                    x = self.block1(x)
            else:
                x = self.block1(x)
            x = self.block2(x)
            return self.head(torch.flatten(x, 1))

        def training_step(self, batch: Any, batch_idx: int) -> Tensor:
            x, y = batch
            return F.cross_entropy(self(x), y)

        def configure_optimizers(self) -> Any:
            hp = self.hparams
            if hp.optimizer == "sgd":
                return torch.optim.SGD(
                    self.parameters(),
                    lr=hp.lr,
                    momentum=hp.momentum,
                    weight_decay=hp.weight_decay,
                )
            return torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)

    return PatternCNN(**kwargs)

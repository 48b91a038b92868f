"""The fix catalogue, and which fixes fit a finding given the evidence and the model.

Fixes are ranked from what the header says about the model (activations, norm layers,
recurrent modules, optimizer) and from the cause the rule found. Two rules of taste:
never suggest adding what the model already has, and never offer gradient clipping as
the cure for a bad initialisation (it hides the explosion, the net still learns nothing).
"""

from __future__ import annotations

from gradtop.diagnosis.findings import Fix
from gradtop.diagnosis.view import Roles

_RELU_FAMILY = ("ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Mish", "PReLU", "SELU", "CELU")

CATALOGUE: dict[str, Fix] = {
    fix.key: fix
    for fix in (
        Fix(
            "non_saturating_activation",
            "Use ReLU/LeakyReLU/GELU instead of Sigmoid/Tanh",
            "Sigmoid's slope is at most 0.25 and tanh's is below 1 once a unit saturates, so "
            "the backpropagated signal shrinks by that factor at every layer.",
            "model = nn.Sequential(nn.Linear(d, d), nn.ReLU(), ...)  # or nn.GELU()",
            "deep feed-forward nets with saturating activations",
        ),
        Fix(
            "he_init",
            "Initialise with He (Kaiming) init",
            "Var(W) = 2/fan_in keeps the signal's scale constant through ReLU layers, "
            "neither shrinking nor blowing up with depth.",
            "for m in model.modules():\n"
            "    if isinstance(m, nn.Linear):\n"
            "        nn.init.kaiming_normal_(m.weight, nonlinearity='relu')\n"
            "        nn.init.zeros_(m.bias)",
            "ReLU-family nets; use Xavier for tanh/sigmoid",
        ),
        Fix(
            "xavier_init",
            "Initialise with Xavier (Glorot) init",
            "Var(W) = 2/(fan_in + fan_out) keeps activations and gradients at a steady scale "
            "through tanh layers (Glorot & Bengio 2010).",
            "for m in model.modules():\n"
            "    if isinstance(m, nn.Linear):\n"
            "        nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain('tanh'))",
            "tanh/sigmoid nets; it does not rescue a deep sigmoid net on its own",
        ),
        Fix(
            "batchnorm",
            "Add BatchNorm after each linear/conv layer",
            "Normalising each layer's pre-activations keeps units out of saturation and the "
            "gradient scale steady across depth (it rescued the 20-layer sigmoid demo).",
            "nn.Sequential(nn.Linear(d, d), nn.BatchNorm1d(d), nn.ReLU(), ...)",
            "batches of more than a few samples; use LayerNorm for sequences and RNNs",
        ),
        Fix(
            "layernorm",
            "Add LayerNorm",
            "Normalises each sample's features, keeping activations at a steady scale without "
            "depending on the batch; the standard choice in transformers and RNNs.",
            "x = x + block(nn.LayerNorm(d)(x))  # pre-norm residual block",
            "transformers, RNNs, small or variable batches",
        ),
        Fix(
            "residual",
            "Add residual (skip) connections",
            "With y = x + f(x) the gradient reaches early layers through the identity path "
            "even when f's own gradient is tiny (ResNet, DenseNet).",
            "class Block(nn.Module):\n    def forward(self, x):\n        return x + self.f(x)",
            "deep stacks of same-width layers",
        ),
        Fix(
            "raise_lr",
            "Raise the learning rate (try 3-10x)",
            "Updates are orders of magnitude smaller than the weights (a healthy "
            "update/weight ratio is about 1e-3), so each step barely changes the model.",
            "for g in optimizer.param_groups:\n    g['lr'] *= 10",
            "after ruling out vanishing gradients; a bigger LR cannot revive saturated units",
        ),
        Fix(
            "lower_lr",
            "Lower the learning rate (try 3-10x)",
            "Each step changes the weights by a large fraction of their size, overshooting "
            "the minimum; a smaller step keeps the update/weight ratio near 1e-3.",
            "for g in optimizer.param_groups:\n    g['lr'] /= 10",
            "update/weight ratio above 1e-2, rising loss or growing gradient norms",
        ),
        Fix(
            "warmup",
            "Warm the learning rate up over the first steps",
            "Early steps, when the optimizer's statistics are still poor, are the most "
            "fragile; a short linear warmup reduces sensitivity to the LR.",
            "sched = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, "
            "total_iters=500)\n# call sched.step() after optimizer.step()",
            "instability in the first few hundred steps, transformers, large batches",
        ),
        Fix(
            "clip_grad_norm",
            "Clip the gradient norm",
            "Caps the size of a step when the gradient jumps, so one bad batch cannot wreck "
            "the weights (Pascanu et al. 2013). It contains spikes; it does not fix their cause.",
            "loss.backward()\n"
            "log.log(loss)  # log BEFORE clipping\n"
            "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\n"
            "optimizer.step()",
            "occasional spikes or recurrent nets; set max_norm to 0.5-10x the typical norm",
        ),
        Fix(
            "weight_decay",
            "Add L2 regularisation (weight decay)",
            "Keeps weights, and therefore logits and gradient scales, from growing without "
            "bound late in training.",
            "optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)",
            "weights or gradients that keep growing over a long run",
        ),
        Fix(
            "l1_regularisation",
            "Add L1 regularisation",
            "An L1 penalty pulls every weight toward 0 by the same amount each step, so "
            "weights (and the logits and gradients they drive) cannot grow without bound, "
            "and the ones the task does not need become exactly 0 (a sparser, simpler model "
            "that overfits less).",
            "l1 = sum(p.abs().sum() for n, p in model.named_parameters() if 'weight' in n)\n"
            "loss = loss_fn(model(x), y) + 1e-5 * l1  # tune 1e-6..1e-3\n"
            "loss.backward()",
            "weights that keep growing, or overfitting with many irrelevant inputs; prefer "
            "weight decay (L2) when you want small weights rather than sparse ones",
        ),
        Fix(
            "lstm_gru",
            "Use an LSTM or GRU instead of a plain RNN",
            "Their gated, additive cell state lets gradients flow across many time steps "
            "instead of being multiplied by the recurrent matrix at every step.",
            "rnn = nn.LSTM(input_size, hidden_size, batch_first=True)",
            "plain (Elman) RNNs over long sequences",
        ),
        Fix(
            "orthogonal_init",
            "Initialise the recurrent matrix orthogonally (gain <= 1)",
            "Gradients through time are multiplied by W_hh at every step: singular values "
            "above 1 explode, below 1 vanish; an orthogonal matrix keeps them at 1.",
            "for name, p in rnn.named_parameters():\n"
            "    if 'weight_hh' in name:\n"
            "        nn.init.orthogonal_(p, gain=1.0)",
            "recurrent nets",
        ),
        Fix(
            "forget_gate_bias",
            "Set the LSTM forget-gate bias to 1",
            "A forget gate that starts open keeps the cell state, and its gradient, alive "
            "across long sequences.",
            "for name, p in lstm.named_parameters():\n"
            "    if 'bias' in name:\n"
            "        n = p.numel() // 4\n"
            "        p.data[n:2 * n].fill_(1.0)",
            "LSTMs over long sequences",
        ),
        Fix(
            "reset_bias",
            "Reset biases to 0 (or slightly positive) before ReLU",
            "A unit whose pre-activation is negative for every input outputs 0 and gets no "
            "gradient, so it can never recover; a bias at 0 or 0.01 brings it back to life.",
            "for m in model.modules():\n"
            "    if isinstance(m, nn.Linear):\n"
            "        nn.init.zeros_(m.bias)  # or nn.init.constant_(m.bias, 0.01)",
            "dead ReLU units, especially right from the start",
        ),
        Fix(
            "leaky_relu",
            "Use LeakyReLU/ELU/GELU instead of ReLU",
            "Their slope is never exactly zero, so a unit pushed negative still gets a "
            "gradient and can recover.",
            "nn.LeakyReLU(0.01)  # or nn.GELU(), nn.ELU()",
            "dead ReLU units",
        ),
        Fix(
            "check_data_nan",
            "Check the data for NaN/Inf",
            "A single NaN in the inputs or labels makes the loss and every gradient NaN at "
            "once, at any learning rate.",
            "assert torch.isfinite(x).all() and torch.isfinite(y).all()\n"
            "torch.autograd.set_detect_anomaly(True)  # while debugging: names the op",
            "non-finite values from the very first step or without any growth before",
        ),
        Fix(
            "adam_eps",
            "Lower Adam's eps (e.g. 1e-15) or rescale the loss",
            "Adam divides by sqrt(v) + eps; when gradients are as small as eps the update "
            "shrinks with them, exactly the vanishing Adam was meant to avoid (Wortsman 2023).",
            "optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-15)",
            "Adam-family optimizers whose gradient RMS approaches eps",
        ),
        Fix(
            "amp_dtype",
            "Use bf16 autocast, or keep the GradScaler and fp32 for the loss",
            "fp16 overflows above 65504; bf16 has fp32's range, so it needs no loss "
            "scaling. Repeated overflows mean the values themselves are too large.",
            "with torch.autocast('cuda', dtype=torch.bfloat16):\n    loss = model(x)",
            "mixed-precision training with repeated overflow or a collapsing loss scale",
        ),
        Fix(
            "unused_param",
            "Use the parameter in forward, or stop tracking it",
            "A parameter whose .grad stays None after backward is not on the loss's "
            "computation path: defined but unused, or cut off by .detach()/.data/no_grad.",
            "# find the cut:\nfor n, p in model.named_parameters():\n"
            "    if p.requires_grad and p.grad is None: print(n)",
            "requires_grad=True parameters without a gradient",
        ),
        Fix(
            "unfreeze",
            "Unfreeze it if freezing was not intended",
            "requires_grad=False layers never change; this is right for fine-tuning or LoRA "
            "and a bug otherwise.",
            "for p in model.layer.parameters():\n    p.requires_grad_(True)",
            "only when the freeze was an accident",
        ),
        Fix(
            "add_to_optimizer",
            "Pass these parameters to the optimizer",
            "They get gradients but the optimizer does not hold them, so they never change.",
            "optimizer = torch.optim.AdamW(model.parameters(), lr=lr)  # all of them",
            "parameters created after the optimizer, or filtered out by mistake",
        ),
        Fix(
            "check_pipeline",
            "Check data, labels and model capacity",
            "Updates are a healthy size yet the loss does not move: the usual causes are "
            "shuffled or mismatched labels, a loss on the wrong outputs, or a model too small.",
            "# sanity check: can the model overfit one batch?\n"
            "for _ in range(200):\n    opt.zero_grad(); loss_fn(model(x0), y0).backward(); "
            "opt.step()",
            "a plateau with a normal update/weight ratio",
        ),
    )
}


def _pick(*keys: str) -> tuple[Fix, ...]:
    seen: list[str] = []
    for key in keys:
        if key and key not in seen:
            seen.append(key)
    return tuple(CATALOGUE[k] for k in seen)


def _activation_fix(roles: Roles) -> Fix:
    base = CATALOGUE["non_saturating_activation"]
    names = "/".join(roles.saturating) or "Sigmoid/Tanh"
    return Fix(
        base.key, f"Use ReLU/LeakyReLU/GELU instead of {names}", base.why, base.code, base.when
    )


def _init_key(roles: Roles) -> str:
    if roles.saturating and not any(a in roles.activations for a in _RELU_FAMILY):
        return "xavier_init"
    return "he_init"


def _norm_key(roles: Roles) -> str:
    """Which normalisation to suggest, or "" when the model already has that kind."""
    has_bn = any("BatchNorm" in n for n in roles.norms)
    if has_bn:
        return ""
    if roles.recurrent or any("MultiheadAttention" in t for t in roles.module_types):
        return "" if any("LayerNorm" in n for n in roles.norms) else "layernorm"
    return "batchnorm"


def _recurrent_keys(roles: Roles) -> tuple[str, ...]:
    if not roles.recurrent:
        return ()
    plain = any(t in ("RNN", "RNNCell") for t in roles.module_types)
    gated_lstm = any(t in ("LSTM", "LSTMCell") for t in roles.module_types)
    return (
        "lstm_gru" if plain else "",
        "forget_gate_bias" if gated_lstm else "",
        "orthogonal_init",
    )


def _containment(fix: Fix) -> Fix:
    """Clipping when the cause is elsewhere (a recurrent matrix too large from the start):
    offered only after the real fixes, and saying plainly that it treats the symptom."""
    return Fix(
        fix.key,
        "Clip the gradient norm (containment only, not the cure)",
        "Clipping caps each step while you fix the cause above; it does not make the "
        "recurrent matrix any smaller, so gradients through time still explode and the net "
        "still cannot learn long dependencies. Do not stop at this.",
        fix.code,
        "only together with orthogonal init / a gain <= 1 or a gated cell",
    )


def _dead_keys(roles: Roles) -> tuple[str, ...]:
    """Fixes for units whose gradient is exactly 0.

    In a Tanh/Sigmoid or recurrent model such units are saturated (|pre-activation| so
    large the slope is 0 in float32), not dead ReLUs: too-large steps or weights pushed
    them there, so a lower LR, a scale-preserving init and normalisation come first, and
    bias resets or LeakyReLU (ReLU remedies) only when the model also has ReLUs.
    """
    if not (roles.saturating or roles.recurrent):
        return ("reset_bias", "leaky_relu", "lower_lr", "he_init", _norm_key(roles))
    relu = any(a in roles.activations for a in _RELU_FAMILY)
    return (
        "lower_lr",
        "orthogonal_init" if roles.recurrent else "xavier_init",
        _norm_key(roles),
        "non_saturating_activation" if roles.saturating and not roles.recurrent else "",
        "lstm_gru" if any(t in ("RNN", "RNNCell") for t in roles.module_types) else "",
        "leaky_relu" if relu else "",
        "reset_bias" if relu else "",
    )


def fixes_for(kind: str, roles: Roles, cause: str = "") -> tuple[Fix, ...]:
    """Ranked fixes for a finding of ``kind`` whose rule diagnosed ``cause``."""
    fixes: tuple[Fix, ...]
    if kind == "vanishing":
        fixes = _pick(
            "adam_eps" if cause == "adam_eps" else "",
            *_recurrent_keys(roles),
            _norm_key(roles),
            "residual",
            _init_key(roles),
            "" if roles.adaptive else "raise_lr",
        )
        if roles.saturating:
            fixes = (_activation_fix(roles), *fixes)
        return fixes
    if kind == "exploding":
        if cause == "init":
            return _pick(_init_key(roles), _norm_key(roles), "lower_lr")
        if cause == "recurrent_init":  # huge from the first step: the recurrent matrix
            fixes = _pick("orthogonal_init", *_recurrent_keys(roles), "lower_lr")
            return (*fixes, _containment(CATALOGUE["clip_grad_norm"]))
        if cause == "recurrent" or roles.recurrent:
            return _pick(*_recurrent_keys(roles), "clip_grad_norm", "lower_lr")
        return _pick(
            "lower_lr",
            "warmup",
            "clip_grad_norm",
            _norm_key(roles),
            "weight_decay",
            "l1_regularisation",
        )
    if kind == "grad_spike":
        return _pick("clip_grad_norm", "warmup", "lower_lr", "check_data_nan")
    if kind == "nonfinite":
        if cause == "data":
            return _pick("check_data_nan", "lower_lr")
        if cause == "amp":
            return _pick("amp_dtype", "lower_lr", "clip_grad_norm")
        if cause == "init":
            return _pick(_init_key(roles), "lower_lr", "check_data_nan")
        return _pick(
            "lower_lr",
            "clip_grad_norm",
            "adam_eps" if roles.adaptive else "",
            "check_data_nan",
        )
    if kind == "dead_units":
        fixes = _pick(*_dead_keys(roles))
        if roles.saturating and not roles.recurrent:
            act = _activation_fix(roles)
            fixes = tuple(act if f.key == act.key else f for f in fixes)
        return fixes
    if kind == "no_grad":
        return _pick("unused_param")
    if kind == "frozen":
        return _pick("unfreeze")
    if kind == "not_in_optimizer":
        return _pick("add_to_optimizer")
    if kind == "lr_too_high":
        return _pick("lower_lr", "warmup", "clip_grad_norm")
    if kind == "lr_too_low":
        return _pick("raise_lr")
    if kind == "loss_divergence":
        return _pick(
            "lower_lr",
            "clip_grad_norm",
            "warmup",
            "weight_decay",
            "l1_regularisation",
            "check_data_nan",
        )
    if kind == "loss_plateau":
        if cause == "small_updates":
            return _pick("raise_lr", _norm_key(roles), "residual")
        return _pick("check_pipeline")
    return ()

"""The fix catalogue, and which fixes fit a finding given the evidence and the model.

Fixes are ranked from what the header says about the model (activations, norm layers,
attention, skip connections, recurrent modules, layer types, precision, optimizer,
clipping a framework applies) and from the cause the rule found. Rules of taste: never
suggest adding what the model or the run already has (BatchNorm to a LayerNorm
transformer, a residual to a residual net, clipping to a clipped run), never give ReLU
remedies to a model without ReLUs, write the code for the layers the model really has,
and never offer gradient clipping as the cure for a bad initialisation (it hides the
explosion, the net still learns nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from gradtop.diagnosis.findings import Fix
from gradtop.diagnosis.kinds import finding_kind
from gradtop.diagnosis.view import RECURRENT, Roles

# Non-saturating units: a net of these wants He init rather than Xavier.
_RELU_FAMILY = ("ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Mish", "PReLU", "SELU", "CELU")
# Units whose slope is exactly 0 over a whole half-line: the only ones a unit can die in,
# and the only ones bias resets and "use LeakyReLU instead" are about.
_HARD_ZERO = ("ReLU", "ReLU6", "Threshold", "Hardswish")
# Weight layers the init and bias snippets can name as torch.nn classes.
_NN_LAYERS = {
    "Linear": "nn.Linear",
    "LazyLinear": "nn.Linear",
    "NonDynamicallyQuantizableLinear": "nn.Linear",  # MultiheadAttention.out_proj
    "Bilinear": "nn.Bilinear",
    **{f"{c}{d}d": f"nn.{c}{d}d" for c in ("Conv", "ConvTranspose", "LazyConv") for d in (1, 2, 3)},
}
_NN_ACTIVATIONS = ("ReLU", "LeakyReLU", "GELU", "SiLU", "ELU", "Mish", "Tanh", "Sigmoid")

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
            "        if m.bias is not None:\n"
            "            nn.init.zeros_(m.bias)",
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
            "self.norm = nn.LayerNorm(d)  # in __init__, one per block\n"
            "x = x + self.block(self.norm(x))  # in forward: pre-norm residual block",
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
            "    if isinstance(m, nn.Linear) and m.bias is not None:\n"
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
        Fix(
            "pre_norm",
            "Put the norm before each sublayer (pre-LN), not after the residual add",
            "With the norm after x + f(x) (post-LN: the original Transformer, BERT) every "
            "gradient to the lower blocks passes through each later norm, and at "
            "initialisation the blocks near the output get much larger gradients than the "
            "lower ones (Xiong et al. 2020), which is why post-LN needs a long warmup. "
            "x + f(norm(x)) keeps a clean identity path from the loss to every block.",
            "def forward(self, x):\n"
            "    x = x + self.attn(self.ln_1(x))  # was: x = self.ln_1(x + self.attn(x))\n"
            "    x = x + self.mlp(self.ln_2(x))\n"
            "    return x",
            "post-LN transformers; already pre-LN (GPT-2, Llama): warm the LR up instead",
        ),
        Fix(
            "fix_clip_max_norm",
            "Set clip_grad_norm_'s max_norm to about the typical gradient norm (e.g. 1.0), not 0",
            "clip_grad_norm_ multiplies every gradient by min(1, max_norm / total_norm): "
            "max_norm=0, or a value far below the real norm, makes that factor 0 (or nearly), "
            "so the optimizer steps with zero gradients. Clipping should bite on rare spikes "
            "only.",
            "loss.backward()\n"
            "log.log(loss)  # gradtop logs before clipping\n"
            "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)  # never 0\n"
            "optimizer.step()",
            "log() sees normal gradients but the norm at optimizer.step() is 0",
        ),
        Fix(
            "zero_grad_order",
            "Clear the gradients before backward, never between backward and step",
            "optimizer.zero_grad(), p.grad.zero_() or p.grad = None placed after "
            "loss.backward() and before optimizer.step() erases the gradients the step "
            "needs: the step then sees zeros (or skips parameters whose .grad is None).",
            "optimizer.zero_grad(set_to_none=True)\n"
            "loss = loss_fn(model(x), y)\n"
            "loss.backward()\n"
            "log.log(loss)\n"
            "optimizer.step()",
            "anything that touches .grad between log() and optimizer.step()",
        ),
        Fix(
            "check_optimizer_params",
            "Check that optimizer.step() runs, on the model's own parameters",
            "The weights change only if the optimizer holds these very tensors and its step "
            "runs. An optimizer built on another copy of the model (before copy.deepcopy, or "
            "before layers were replaced), a step() skipped by a condition or by a GradScaler "
            "that finds inf every time, or a custom optimizer that returns early all leave "
            "the weights as they were.",
            "held = {id(p) for g in optimizer.param_groups for p in g['params']}\n"
            "print([n for n, p in model.named_parameters()\n"
            "       if p.requires_grad and id(p) not in held])  # should be []\n"
            "w = next(model.parameters()).detach().clone()\n"
            "optimizer.step()\n"
            "print((next(model.parameters()) - w).abs().max())  # 0: nothing was updated",
            "gradients are non-zero at optimizer.step() yet the weights never change",
        ),
        Fix(
            "check_lr",
            "Check the learning rate each param group really gets",
            "optimizer.step() moves the weights by about lr times the (for Adam: normalised) "
            "gradient, so at lr 0 nothing moves however healthy the gradients are. "
            "Schedulers write their value into param_groups: that is the number to read.",
            "print([g['lr'] for g in optimizer.param_groups])  # after scheduler.step()\n"
            "# lr=0 in a param group, a LambdaLR returning 0, or CosineAnnealingLR\n"
            "# reaching eta_min=0 early all give an lr of 0",
            "an lr of 0, or far below the one you set",
        ),
        Fix(
            "raise_max_norm",
            "Raise max_norm to about the typical gradient norm",
            "Whenever the total norm is above max_norm, clipping multiplies every gradient "
            "by max_norm / total_norm; when that happens at every step by a large factor, "
            "the real learning rate is lr times that factor and training crawls. Clipping is "
            "meant to cap the rare spike, so max_norm belongs near the typical norm or a few "
            "times above it.",
            "# the typical total norm is the one gradtop shows (logged before clipping)\n"
            "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)\n"
            "# HF: TrainingArguments(max_grad_norm=5.0); Lightning: "
            "Trainer(gradient_clip_val=5.0)",
            "every step clipped by a large factor; if the loss then spikes, lower the LR "
            "instead of clipping harder",
        ),
        Fix(
            "zero_grad",
            "Call optimizer.zero_grad(set_to_none=True) once per optimizer step",
            "backward() adds into .grad, so without clearing every step applies the sum of "
            "all gradients so far. With gradient accumulation clear right after step(), "
            "never between the micro-batches of one step.",
            "for i, (x, y) in enumerate(loader):\n"
            "    loss = loss_fn(model(x), y) / accum_steps\n"
            "    loss.backward()\n"
            "    if (i + 1) % accum_steps == 0:\n"
            "        log.log(loss)\n"
            "        optimizer.step()\n"
            "        optimizer.zero_grad(set_to_none=True)",
            "training loops that call optimizer.step() themselves (Trainer frameworks clear "
            "the gradients for you)",
        ),
        Fix(
            "scheduler_per_epoch",
            "Step the scheduler once per epoch, or give it its length in optimizer steps",
            "StepLR, MultiStepLR, ExponentialLR and CosineAnnealingLR count scheduler.step() "
            "calls, not epochs: written in epochs (step_size=30, T_max=100) but stepped after "
            "every batch, they run the whole schedule within the first epochs and leave the "
            "LR near 0.",
            "for epoch in range(epochs):\n"
            "    for x, y in loader:\n"
            "        ...\n"
            "        optimizer.step()\n"
            "    scheduler.step()  # once per epoch\n"
            "# or step per batch and count batches:\n"
            "# CosineAnnealingLR(optimizer, T_max=epochs * len(loader))",
            "schedulers whose arguments are in epochs; OneCycleLR and warmups are meant to be "
            "stepped per batch, with their lengths in batches",
        ),
        Fix(
            "lower_weight_decay",
            "Lower the weight decay, and exclude biases and norms from it",
            "Weight decay multiplies every weight by (1 - lr * weight_decay) at each step "
            "(AdamW directly, SGD through the gradient, amplified by momentum); when that "
            "outpaces what the gradients add, the weights shrink toward 0 and the model "
            "forgets what it learns. Biases and norm gains need no decay at all.",
            "decay = [p for p in model.parameters() if p.ndim >= 2]\n"
            "no_decay = [p for p in model.parameters() if p.ndim < 2]  # biases, norm gains\n"
            "optimizer = torch.optim.AdamW([\n"
            "    {'params': decay, 'weight_decay': 0.05},  # 0.01-0.1 for AdamW\n"
            "    {'params': no_decay, 'weight_decay': 0.0}], lr=lr)",
            "weights shrinking toward 0; typical values: 0.01-0.1 for AdamW, 1e-4 to 5e-4 for SGD",
        ),
        Fix(
            "grad_scaler",
            "Scale the loss with torch.amp.GradScaler",
            "fp16 cannot hold magnitudes below about 6e-8 (its normal range ends at 6e-5), so "
            "small gradients become exactly 0 during backward. GradScaler multiplies the "
            "loss by a large factor (65536 to start) before backward, divides the gradients "
            "back before the step, and skips the steps that overflow.",
            "scaler = torch.amp.GradScaler('cuda')\n"
            "log = gradtop.Logger('run.jsonl', model, optimizer, scaler=scaler)\n"
            "with torch.autocast('cuda', dtype=torch.float16):\n"
            "    loss = loss_fn(model(x), y)\n"
            "scaler.scale(loss).backward()\n"
            "scaler.unscale_(optimizer)\n"
            "log.log(loss)  # after unscale_: gradtop sees the real gradients\n"
            "scaler.step(optimizer)\n"
            "scaler.update()",
            "fp16 training without loss scaling; keep the weights in fp32 (GradScaler refuses "
            "to unscale fp16 gradients) and let autocast run the fp16 math",
        ),
    )
}


def _pick(roles: Roles, *keys: str) -> tuple[Fix, ...]:
    """The fixes for ``keys`` (empty ones skipped, each once), written for this model."""
    seen: list[str] = []
    for key in keys:
        if key and key not in seen:
            seen.append(key)
    return tuple(_fitted(CATALOGUE[k], roles) for k in seen)


# --------------------------------------------------------------------- what fits


def _clip_key(roles: Roles, clipping: bool) -> str:
    """Clipping, unless the run already clips (a framework's setting, or seen by a rule)."""
    return "" if clipping or roles.clip_max_norm is not None else "clip_grad_norm"


def _residual_key(roles: Roles) -> str:
    return "" if roles.has_residual else "residual"


def _relu_units(roles: Roles) -> bool:
    """Units with a hard zero (ReLU). With no activation known at all (a header that
    lists none), ReLU is the likely one, as it was before activations were recorded."""
    return not roles.activations or any(a in roles.activations for a in _HARD_ZERO)


def _activation_fix(roles: Roles) -> Fix:
    base = CATALOGUE["non_saturating_activation"]
    names = "/".join(roles.saturating) or "Sigmoid/Tanh"
    return replace(base, title=f"Use ReLU/LeakyReLU/GELU instead of {names}")


def _init_key(roles: Roles) -> str:
    if roles.saturating and not any(a in roles.activations for a in _RELU_FAMILY):
        return "xavier_init"
    return "he_init"


def _norm_key(roles: Roles) -> str:
    """Which normalisation to suggest, or "" when the model already normalises.

    Any batch, layer (LayerNorm, RMSNorm) or group norm counts: a LayerNorm transformer
    needs no BatchNorm, a BatchNorm CNN no LayerNorm. Sequences (attention, RNNs) get
    LayerNorm, everything else BatchNorm.
    """
    if roles.norm_families:
        return ""
    return "layernorm" if roles.recurrent or roles.attention else "batchnorm"


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
    bias resets or LeakyReLU (ReLU remedies) only when the model also has ReLUs. A model
    of GELU/SiLU units (a GPT) has no hard zero either: its zero-gradient units sit far
    out on the negative tail, where large steps put them.
    """
    relu = _relu_units(roles)
    if not (roles.saturating or roles.recurrent):
        if relu:
            return ("reset_bias", "leaky_relu", "lower_lr", "he_init", _norm_key(roles))
        return ("lower_lr", _init_key(roles), _norm_key(roles))
    relu = bool(roles.activations) and relu  # saturating/recurrent: only ReLUs listed
    return (
        "lower_lr",
        "orthogonal_init" if roles.recurrent else "xavier_init",
        _norm_key(roles),
        "non_saturating_activation" if roles.saturating and not roles.recurrent else "",
        "lstm_gru" if any(t in ("RNN", "RNNCell") for t in roles.module_types) else "",
        "leaky_relu" if relu else "",
        "reset_bias" if relu else "",
    )


# --------------------------------------------------------------------- code that fits


def _layer_types(roles: Roles) -> tuple[list[str], list[str]]:
    """The model's weight layers: torch.nn classes (``nn.Conv2d``) and other classes by
    name (Transformers' ``Conv1D``), in depth order; recurrent and attention modules have
    their own init and are left out."""
    nn_types: list[str] = []
    other: list[str] = []
    for layer in roles.layers:
        t = layer.module_type
        if t in _NN_LAYERS:
            if _NN_LAYERS[t] not in nn_types:
                nn_types.append(_NN_LAYERS[t])
        elif (
            t not in RECURRENT
            and "Attention" not in t
            and t not in other
            and any(roles.names[i].rsplit(".", 1)[-1] == "weight" for i in layer.weights)
        ):
            other.append(t)
    return nn_types, other


def _isinstance(nn_types: list[str]) -> str:
    types = nn_types or ["nn.Linear"]
    return (
        f"isinstance(m, {types[0]})" if len(types) == 1 else f"isinstance(m, ({', '.join(types)}))"
    )


def _init_code(roles: Roles, init: str) -> str:
    nn_types, other = _layer_types(roles)
    lines = ["for m in model.modules():", f"    if {_isinstance(nn_types)}:", f"        {init}"]
    lines += ["        if m.bias is not None:", "            nn.init.zeros_(m.bias)"]
    if other:
        lines.append(f"# {', '.join(other)}: not torch.nn layers; check which weight dimension")
        lines.append("# is their fan-in before initialising them the same way")
    return "\n".join(lines)


def _bias_code(roles: Roles) -> str:
    nn_types, other = _layer_types(roles)
    test, bias = _isinstance(nn_types), "m.bias"
    if other:  # classes of other libraries may have no bias attribute at all
        test = f"({test} or type(m).__name__ in {tuple(other)!r})"
        bias = "getattr(m, 'bias', None)"
    return (
        "for m in model.modules():\n"
        f"    if {test} and {bias} is not None:\n"
        "        nn.init.zeros_(m.bias)  # or nn.init.constant_(m.bias, 0.01)"
    )


def _conv_dim(roles: Roles) -> int:
    """1, 2 or 3 for the model's first convolution, 0 without one."""
    for t in _layer_types(roles)[0]:
        if "Conv" in t:
            return int(t[-2])
    return 0


def _unit(roles: Roles) -> str:
    """The model's own activation as an nn class, for snippets that show a layer stack."""
    for name in (*roles.saturating, *sorted(roles.activations)):
        if name in _NN_ACTIVATIONS:
            return f"nn.{name}()"
    return "nn.ReLU()"


def _fitted(fix: Fix, roles: Roles) -> Fix:
    """The catalogue entry with its code (and, where it matters, its title) for this
    model: the layer types it has, its activation, its precision, its clipping."""
    key = fix.key
    if key == "he_init":
        return replace(
            fix, code=_init_code(roles, "nn.init.kaiming_normal_(m.weight, nonlinearity='relu')")
        )
    if key == "xavier_init":
        gain = "tanh" if "Tanh" in roles.saturating or not roles.saturating else "sigmoid"
        init = f"nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain('{gain}'))"
        return replace(fix, code=_init_code(roles, init))
    if key == "reset_bias":
        return replace(fix, code=_bias_code(roles))
    if key == "batchnorm":
        dim = _conv_dim(roles)
        if dim:
            code = (
                f"nn.Sequential(nn.Conv{dim}d(c, c, 3, padding=1), nn.BatchNorm{dim}d(c), "
                f"{_unit(roles)}, ...)\n# and bias=False on a conv followed by BatchNorm"
            )
        else:
            code = f"nn.Sequential(nn.Linear(d, d), nn.BatchNorm1d(d), {_unit(roles)}, ...)"
        return replace(fix, code=code)
    if key == "layernorm" and roles.recurrent and not roles.attention:
        return replace(
            fix,
            code="self.norm = nn.LayerNorm(hidden_size)  # in __init__\n"
            "out, h = self.rnn(x)  # in forward\n"
            "out = self.norm(out)  # before the next layer or the head",
        )
    if key == "raise_max_norm" and roles.clip_max_norm is not None:
        return replace(
            fix,
            title=f"Raise max_norm (now {roles.clip_max_norm:g}) to about the typical "
            "gradient norm",
        )
    if key == "lower_weight_decay":
        return _weight_decay_fix(fix, roles)
    if key == "grad_scaler" and roles.precision in ("fp16", "mixed"):
        return replace(
            fix,
            code="model.float()  # fp32 weights: GradScaler refuses to unscale fp16 gradients\n"
            + fix.code,
        )
    return fix


def _weight_decay_fix(fix: Fix, roles: Roles) -> Fix:
    if not roles.optimizer or roles.adaptive:
        why = fix.why
        if roles.optimizer == "Adam":
            why += (
                " torch.optim.Adam adds the decay to the gradient before dividing by the "
                "gradient's running RMS, so wherever gradients are small the decay term is "
                "scaled up and pulls far harder than its value suggests; AdamW applies it "
                "to the weights directly."
            )
        return replace(fix, title=fix.title + " (AdamW: 0.01-0.1)", why=why)
    return replace(
        fix,
        title=fix.title + " (SGD: 1e-4 to 5e-4)",
        code="decay = [p for p in model.parameters() if p.ndim >= 2]\n"
        "no_decay = [p for p in model.parameters() if p.ndim < 2]  # biases, norm gains\n"
        "optimizer = torch.optim.SGD([\n"
        "    {'params': decay, 'weight_decay': 5e-4},  # 1e-4 to 5e-4 for SGD\n"
        "    {'params': no_decay, 'weight_decay': 0.0}], lr=lr, momentum=0.9)",
    )


def _underflow_dtype(roles: Roles) -> Fix:
    """bf16 for gradients that flush to 0 in fp16 (the catalogue entry is about overflow)."""
    return Fix(
        "amp_dtype",
        "Use bf16 autocast instead of fp16",
        "bf16 has fp32's exponent range (down to about 1e-38), so small gradients do not "
        "flush to 0 and no loss scaling is needed; its shorter mantissa is one training "
        "tolerates well.",
        (
            "model.float()  # fp32 weights; autocast runs the math in bf16\n"
            if roles.precision == "fp16"
            else ""
        )
        + "with torch.autocast('cuda', dtype=torch.bfloat16):\n"
        "    loss = loss_fn(model(x), y)\n"
        "loss.backward()",
        "hardware with bf16 (torch.cuda.is_bf16_supported(): Ampere GPUs and newer)",
    )


# --------------------------------------------------------------------- ranking
#
# One ranking per fixes key of the registry (gradtop.diagnosis.kinds): given the model's
# roles, the cause the rule found and the clipping key ("" when the run already clips),
# the catalogue keys worth trying, best first.

Ranking = Callable[[Roles, str, str], tuple[Fix, ...]]


def _vanishing(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    fixes = _pick(
        roles,
        "adam_eps" if cause == "adam_eps" else "",
        *_recurrent_keys(roles),
        "pre_norm" if roles.attention and "layer" in roles.norm_families else "",
        _norm_key(roles),
        _residual_key(roles),
        _init_key(roles),
        "" if roles.adaptive else "raise_lr",
    )
    if roles.saturating:
        fixes = (_activation_fix(roles), *fixes)
    return fixes


def _exploding(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    if cause == "init":
        return _pick(roles, _init_key(roles), _norm_key(roles), "lower_lr")
    if cause == "recurrent_init":  # huge from the first step: the recurrent matrix
        fixes = _pick(roles, "orthogonal_init", *_recurrent_keys(roles), "lower_lr")
        return (*fixes, _containment(CATALOGUE["clip_grad_norm"])) if clip else fixes
    if cause == "recurrent" or roles.recurrent:
        return _pick(roles, *_recurrent_keys(roles), clip, "lower_lr")
    return _pick(
        roles,
        "lower_lr",
        "warmup",
        clip,
        _norm_key(roles),
        "weight_decay",
        "l1_regularisation",
    )


def _grad_spike(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    return _pick(roles, clip, "warmup", "lower_lr", "check_data_nan")


def _nonfinite(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    if cause == "data":
        return _pick(roles, "check_data_nan", "lower_lr")
    if cause == "amp":
        return _pick(roles, "amp_dtype", "lower_lr", clip)
    if cause == "init":
        return _pick(roles, _init_key(roles), "lower_lr", "check_data_nan")
    return _pick(
        roles,
        "lower_lr",
        clip,
        "adam_eps" if roles.adaptive else "",
        "check_data_nan",
    )


def _dead_units(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    fixes = _pick(roles, *_dead_keys(roles))
    if roles.saturating and not roles.recurrent:
        act = _activation_fix(roles)
        fixes = tuple(act if f.key == act.key else f for f in fixes)
    return fixes


def _loss_divergence(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    return _pick(
        roles,
        "lower_lr",
        clip,
        "warmup",
        "weight_decay",
        "l1_regularisation",
        "check_data_nan",
    )


def _loss_plateau(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    if cause == "small_updates":
        return _pick(roles, "raise_lr", _norm_key(roles), _residual_key(roles))
    if cause in ("no_update", "unmeasured"):
        # the other finding's fixes apply, or nothing was measured to choose from
        return ()
    return _pick(roles, "check_pipeline")


def _no_update(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    if cause == "zeroed_after_log":
        return _pick(roles, "fix_clip_max_norm", "zero_grad_order", "check_optimizer_params")
    if cause == "weights_unchanged":
        return _pick(roles, "check_optimizer_params", "check_lr", "zero_grad_order")
    if cause == "lr_zero":
        return _pick(roles, "check_lr")
    return _pick(roles, "fix_clip_max_norm", "check_optimizer_params", "check_lr")


def _fp16_underflow(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    return (*_pick(roles, "grad_scaler"), _underflow_dtype(roles))


def _lr_too_high(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
    return _pick(roles, "lower_lr", "warmup", clip)


def _always(*keys: str) -> Ranking:
    """A ranking that depends on neither the cause nor clipping: these keys, fitted."""

    def ranking(roles: Roles, cause: str, clip: str) -> tuple[Fix, ...]:
        return _pick(roles, *keys)

    return ranking


RANKINGS: dict[str, Ranking] = {
    "vanishing": _vanishing,
    "exploding": _exploding,
    "grad_spike": _grad_spike,
    "nonfinite": _nonfinite,
    "dead_units": _dead_units,
    "no_grad": _always("unused_param"),
    "frozen": _always("unfreeze"),
    "not_in_optimizer": _always("add_to_optimizer"),
    "lr_too_high": _lr_too_high,
    "lr_too_low": _always("raise_lr"),
    "loss_divergence": _loss_divergence,
    "loss_plateau": _loss_plateau,
    "no_update": _no_update,
    "over_clipped": _always("raise_max_norm"),
    "zero_grad_missing": _always("zero_grad"),
    "lr_collapsed": _always("scheduler_per_epoch", "check_lr"),
    "weight_collapse": _always("lower_weight_decay"),
    "fp16_underflow": _fp16_underflow,
}


def fixes_for(
    kind: str, roles: Roles, cause: str = "", *, clipping: bool = False
) -> tuple[Fix, ...]:
    """Ranked fixes for a finding of ``kind`` whose rule diagnosed ``cause``: the ranking
    its registry entry names, none for a kind the registry does not know.

    ``clipping``: the rule saw the run clip its gradients (the step norm below the logged
    one), so clipping is not offered even when no framework setting says so.
    """
    spec = finding_kind(kind)
    ranking = RANKINGS.get(spec.fixes) if spec is not None and spec.fixes else None
    if ranking is None:
        return ()
    return ranking(roles, cause, _clip_key(roles, clipping))

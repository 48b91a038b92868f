"""English teaching texts for ``gradtop demo`` (see ``gradtop.teaching.texts``).

Plain data: one dict per kind of text. Keys of ``SCENARIOS`` are demo names
(``gradtop.teaching.lesson.DEMOS``), keys of ``FIXES`` are fix ids. ``{placeholders}`` in
``UI`` are filled by ``str.format``; every language must use the same ones.
"""

from __future__ import annotations

BASICS = (
    "How a network learns. Gradient descent moves every weight against its gradient: "
    "x_{n+1} = x_n - λ∇F(x_n), where λ is the learning rate. A weight whose gradient "
    "is about 0 does not move: that part of the network stops learning.\n"
    "Backpropagation gets the gradient of an early layer from the chain rule: a product "
    "with one factor per layer above it, ∂L/∂W₁ = ∂L/∂h_L · ∂h_L/∂h_(L-1) ⋯ ∂h_2/∂h_1 · "
    "∂h_1/∂W₁. When the factors are below 1 the product shrinks geometrically with depth "
    "(vanishing gradients); above 1 it grows geometrically (exploding gradients). "
    "Sigmoid's derivative is at most 0.25, so 19 sigmoid layers can scale the gradient "
    "by 0.25^19 ≈ 4e-12."
)

SCENARIOS: dict[str, dict[str, str]] = {
    "vanishing": {
        "title": "Vanishing gradients",
        "line": "20-layer sigmoid MLP, default init: the first layers get ~1e-15 of the "
        "gradient and never learn",
        "see": "The loss stays near 2.30 = ln 10, the loss of guessing one of 10 classes. "
        "In the layer table the |grad| column falls by many orders of magnitude from the "
        "output layers (bottom) to the input layers (top), and the depth profile is flat "
        "on the input side. gradtop raises 'vanishing' and names the first layers.",
        "why": "Every sigmoid layer multiplies the gradient flowing back by σ'(z) ≤ 0.25 "
        "and by its weights, which PyTorch's default init keeps small (Var(W) = "
        "1/(3·fan_in)). Over 19 layers the product is about 1e-15. In x_{n+1} = x_n - "
        "λ∇F(x_n) the first layers' step is then about 0: they stay random, and every "
        "layer above them learns from noise.",
        "fix": "Make each factor of the chain rule close to 1: ReLU (slope 1) together "
        "with He initialisation; or BatchNorm, which keeps sigmoid in its steep middle "
        "range; or residual connections, which give the gradient a path around each layer.",
    },
    "exploding": {
        "title": "Exploding gradients (initialisation)",
        "line": "8-layer ReLU MLP with N(0,1) weights and SGD lr=1: the loss is astronomical "
        "at step 0 and NaN right after",
        "see": "The loss is huge at the very first step and NaN (not a number) one or two "
        "steps later. gradtop raises 'exploding' at step 1 with the cause 'init', before "
        "the first NaN, then 'NaN/Inf'.",
        "why": "Weights drawn from N(0, 1) have Var(W) = 1, 32 times the 2/64 that He "
        "initialisation would use for 64 inputs. Each ReLU layer then multiplies the "
        "signal and the gradient by about √32 ≈ 5.7; over 8 layers that is about 1e6. "
        "With λ = 1 the first step x - λ∇F throws the weights to enormous values and the "
        "next forward pass overflows to Inf and NaN.",
        "fix": "Initialise with He (Var(W) = 2/fan_in) and use a learning rate that fits "
        "SGD (0.05 here): both are needed. Clipping alone avoids the NaN but hides the "
        "problem: the network still learns nothing.",
    },
    "exploding_lr": {
        "title": "Exploding gradients (learning rate)",
        "line": "4-layer ReLU MLP, plain SGD at lr=2: each step overshoots more until the "
        "loss is NaN",
        "see": "The loss first falls, then climbs and jumps until it is NaN, about 15 steps "
        "in. gradtop raises 'exploding' and 'learning rate too high' several steps before "
        "the NaN: the warning comes while there is still time to stop.",
        "why": "The step of x_{n+1} = x_n - λ∇F(x_n) is λ times the gradient. When λ is "
        "larger than about 2 divided by the curvature of the loss, each step jumps past the "
        "minimum to a point higher up the other side, where the gradient is larger still: "
        "the error grows geometrically.",
        "fix": "Lower the learning rate (2 → 0.1), or clip the gradient norm, which caps "
        "the length of each step.",
    },
    "exploding_rnn": {
        "title": "Exploding gradients through time (RNN)",
        "line": "tanh RNN over 100 time steps with recurrent gain 2: the gradient through "
        "time grows ~1e6-fold",
        "see": "The gradient norm is about 1e6 at the first step. One such update drives "
        "almost every tanh unit into saturation: their gradients become exactly 0 "
        "('saturated units'), and the loss stays near chance.",
        "why": "An RNN applies the same matrix W_hh at every time step, so backpropagation "
        "through 100 steps multiplies by W_hh 100 times. An orthogonal W_hh with gain 2 "
        "doubles the gradient at every step where tanh is not saturated: 2^20 alone is "
        "1e6.",
        "fix": "Keep the recurrent gain at 1 (orthogonal init), or use an LSTM or GRU. "
        "Clipping contains the damage (no saturating jump), but gradtop still sees the "
        "explosion, because it logs the gradient before clipping.",
    },
    "dead_relu": {
        "title": "Dead ReLUs",
        "line": "8-layer ReLU MLP with every bias at -3: all units output 0 and no gradient flows",
        "see": "The loss is flat from the start. Every |grad| in the table is exactly 0, "
        "the zero column reads 100%, and gradtop raises 'dead units' (critical) at step 20.",
        "why": "With bias -3 the input z = Wx + b of every ReLU is negative for every "
        "sample, so ReLU(z) = 0 and ReLU'(z) = 0. In the chain rule this factor is "
        "exactly 0: the gradient is 0, x_{n+1} = x_n, and nothing ever changes.",
        "fix": "Reset the biases to 0 (or a small positive value). LeakyReLU alone brings "
        "the units back to life, but with a slope of 0.01 in every layer the gradient now "
        "vanishes: the bias still has to be fixed.",
    },
    "lr_too_low": {
        "title": "Learning rate too low",
        "line": "4-layer ReLU MLP with Adam at lr=1e-5: updates are 1e-5 of the weights, "
        "the loss crawls",
        "see": "The loss barely moves. The gradients are fine, but the upd/w column (how "
        "much one step changes a weight, relative to its size) is about 3e-5 in every "
        "layer, far below the healthy ~1e-3. gradtop raises 'learning rate too low'.",
        "why": "Adam moves each weight by about λ per step, whatever the gradient's size. "
        "λ = 1e-5 against weights of size ~0.2 is a relative change of a few 1e-5 per "
        "step: reaching a good solution would take tens of thousands of steps.",
        "fix": "Raise the learning rate to 1e-3 (Adam's default): upd/w goes to ~1e-3 and "
        "the loss falls.",
    },
    "lr_too_high": {
        "title": "Learning rate too high",
        "line": "4-layer ReLU MLP with Adam at lr=0.1: each update is half the size of the weights",
        "see": "The first updates are about half the size of the weights themselves "
        "(upd/w ~0.5). Within a few steps most units of a layer are dead. gradtop raises "
        "'learning rate too high' at step 6, then 'dead units'.",
        "why": "Adam's step is about λ per weight; λ = 0.1 against weights of ~0.2 "
        "rewrites every weight at every step. Such large jumps push some ReLU inputs "
        "below 0 for every sample, and those units never recover.",
        "fix": "Lower the learning rate to 1e-3.",
    },
    "frozen_layer": {
        "title": "A frozen layer",
        "line": "a healthy 6-layer ReLU MLP whose first layer was frozen with "
        "requires_grad_(False)",
        "see": "The first layer has no gradient: '– frozen' in the table. gradtop reports "
        "it as information, not as a problem, and keeps it out of every other rule (a "
        "frozen layer is never 'vanishing').",
        "why": "A parameter with requires_grad=False gets no gradient, so the optimizer "
        "never changes it. That is what you want when fine-tuning on purpose, and a bug "
        "when it happens by accident.",
        "fix": "If it was an accident: requires_grad_(True) on the layer, and make sure "
        "the optimizer holds its parameters.",
    },
    "unused_layer": {
        "title": "A layer that forward never calls",
        "line": "a 6-layer ReLU MLP with a layer that forward never calls: its gradient stays None",
        "see": "One layer shows '∅ no grad': it requires a gradient but never receives "
        "one. gradtop raises 'no gradient' after 3 steps.",
        "why": "Backpropagation only reaches parameters that took part in computing the "
        "loss. A layer that is built but not used (or whose output is detached) keeps "
        ".grad = None: the optimizer never moves it.",
        "fix": "Call the layer in forward, or remove it; look for a .detach() or a "
        "torch.no_grad() block on its path.",
    },
    "healthy": {
        "title": "Healthy gradient flow",
        "line": "the same 20-layer MLP with ReLU, He init and BatchNorm: gradients reach "
        "every layer",
        "see": "The loss falls steadily. Every layer's |grad| is within a factor of about "
        "10 of the others, so the depth profile is high and flat, and upd/w is near 1e-3. "
        "gradtop reports no warnings.",
        "why": "Each change keeps the chain-rule factors near 1: ReLU's slope is 1 for "
        "active units, He initialisation keeps the size of the signal from layer to "
        "layer, and BatchNorm re-scales every layer on every batch.",
        "fix": "Nothing to fix: this is what a healthy network looks like. Compare it "
        "with 'gradtop demo vanishing'.",
    },
    "transformer": {
        "title": "A healthy small transformer",
        "line": "a 2-layer pre-norm transformer learning to reverse sequences with Adam lr=1e-3",
        "see": "The loss falls, attention and feed-forward layers all receive gradient, "
        "and gradtop reports no warnings. Embedding rows of tokens missing from a batch "
        "get exactly zero gradient; gradtop knows that this is normal.",
        "why": "Pre-norm (LayerNorm before each block) and residual connections give the "
        "gradient a direct path through every block, and Adam scales each step to the "
        "gradient's typical size.",
        "fix": "Nothing to fix: a reference for what a healthy transformer looks like.",
    },
}

FIXES: dict[str, dict[str, str]] = {
    "relu": {
        "label": "ReLU",
        "what": "Replaces Sigmoid with ReLU, whose derivative is exactly 1 for every "
        "active unit, so the activation no longer shrinks the gradient. With PyTorch's "
        "default init the weights still do (each layer scales the signal by about "
        "√(1/6)) and many units fall silent: the depth ratio R improves by many orders of "
        "magnitude, but the first layers still starve. The initialisation is next.",
    },
    "he_init": {
        "label": "He init",
        "what": "He (Kaiming) initialisation draws weights with Var(W) = 2/fan_in. ReLU "
        "zeroes about half of its inputs, and this variance exactly makes up for it: the "
        "signal keeps its size from layer to layer, forwards and backwards, so the "
        "chain-rule product stays near 1 at any depth.",
    },
    "batchnorm": {
        "label": "BatchNorm",
        "what": "BatchNorm re-centres and re-scales each layer's inputs to the activation "
        "over the batch, so they stay where the activation has a useful slope (sigmoid is "
        "steepest near 0). It also makes a deep network far less sensitive to its "
        "initialisation and learning rate.",
    },
    "residual": {
        "label": "residual",
        "what": "Residual (skip) connections compute h + f(h) instead of f(h). The chain "
        "rule then gets a factor 1 + ∂f/∂h per block instead of ∂f/∂h: the gradient has a "
        "direct path back to the first layer that does not shrink.",
    },
    "lower_lr": {
        "label": "lower lr",
        "what": "A smaller step λ in x_{n+1} = x_n - λ∇F(x_n). Too large a step overshoots "
        "the minimum: the loss jumps, gradients spike, and ReLU units can be pushed to "
        "where they output 0 for every input.",
    },
    "raise_lr": {
        "label": "raise lr",
        "what": "A larger step λ. With Adam every weight moves by about λ per step, so "
        "lr = 1e-5 changes the weights by a few hundred-thousandths of their size per "
        "step; 1e-3 is Adam's usual default.",
    },
    "clip": {
        "label": "clip grad",
        "what": "Gradient clipping (torch.nn.utils.clip_grad_norm_) scales the whole "
        "gradient down when its norm is above a limit (here 1.0). It caps the length of "
        "each step, so one huge gradient cannot wreck the weights. It contains an "
        "explosion but does not remove its cause: gradtop logs the norm before clipping, "
        "so you still see it.",
    },
    "gain_1": {
        "label": "gain 1",
        "what": "The recurrent matrix W_hh is initialised orthogonal with gain 1 instead "
        "of 2. Multiplying by it 100 times then keeps the gradient's size instead of "
        "doubling it at every time step.",
    },
    "bias_0": {
        "label": "bias 0",
        "what": "Resets every bias from -3 to 0, so about half of the ReLU inputs are "
        "positive again: the units output something, their slope is 1, and the gradient "
        "flows.",
    },
    "leaky_relu": {
        "label": "LeakyReLU",
        "what": "LeakyReLU has a slope of 0.01 instead of 0 for negative inputs, so a "
        "'dead' unit still passes a little gradient. With bias -3 everywhere, that is a "
        "factor 0.01 per layer: the units are alive, but the gradient now vanishes.",
    },
    "unfreeze": {
        "label": "unfreeze",
        "what": "requires_grad_(True) on the first layer: it gets a gradient again and the "
        "optimizer updates it.",
    },
    "use_layer": {
        "label": "drop unused",
        "what": "Removes the layer that forward never called, so every parameter left "
        "takes part in the loss and gets a gradient.",
    },
}

# Names of the finding kinds, as the lesson panel shows them, by the texts key of each
# kind's entry in gradtop.diagnosis.kinds (tests/diagnosis/test_kinds_registry.py).
KINDS: dict[str, str] = {
    "vanishing": "vanishing gradients",
    "exploding": "exploding gradients",
    "grad_spike": "gradient spike",
    "nonfinite": "NaN/Inf",
    "dead_units": "dead units",
    "no_grad": "no gradient",
    "frozen": "frozen layer",
    "not_in_optimizer": "not in optimizer",
    "lr_too_high": "learning rate too high",
    "lr_too_low": "learning rate too low",
    "loss_divergence": "loss diverging",
    "no_update": "nothing reaches the weights",
    "zero_grad_missing": "zero_grad missing",
    "over_clipped": "over-clipped",
    "lr_collapsed": "learning rate collapsed",
    "weight_collapse": "weights collapsing",
    "fp16_underflow": "fp16 underflow",
    "loss_plateau": "loss plateau",
}

UI: dict[str, str] = {
    "lesson": "gradtop demo",
    "broken": "original net",
    "watching": "Training… watch the loss and the |grad| column ({steps} steps so far).",
    "sick": "gradtop finds: {kinds}.",
    "sick_earlier": "gradtop found {kinds} earlier in this run (cleared since).",
    "earlier": "(earlier: {kinds})",
    "healthy": "No warnings: this run is healthy. Compare it with the runs above.",
    "healthy_reference": "No warnings: a healthy reference run.",
    "healthy_first": "No warnings: this run is healthy.",
    "notes": "gradtop notes (info): {kinds}.",
    "try": "Try {keys}.",
    "try_headless": "Try next:",
    "or": " or ",
    "more_fixes": "Other cures for the original net (press 0 first): {keys}.",
    "restarting": "Restarting the training with the new settings…",
    "starting": "Starting the training…",
    "expect_clears": "Expected: {kinds} goes away.",
    "expect_softens": "Expected: {kinds} gets milder (no longer critical).",
    "claim_ok": "✓ as expected: {kinds} gone.",
    "claim_soft_ok": "✓ as expected: {kinds} no longer critical — but not cured yet.",
    "claim_bad": "✗ {kinds} still there: read why with t.",
    "claim_traded": "✓ {kinds} gone, ✗ but now {new}: read why with t.",
    "claim_soft_traded": "✓ {kinds} no longer critical, ✗ but now {new}: read why with t.",
    "finished": "Run finished.",
    "loading": "gradtop demo: loading PyTorch and starting the lesson…",
    "error": "training stopped: {error}",
    "keys_hint": "0 original net   t why?   c other demo   z 中文",
    "runs": "runs",
    "col_run": "run",
    "col_changes": "changes",
    "col_profile": "in → out",
    "col_loss": "loss",
    "col_ratio": "R",
    "col_findings": "findings",
    "none_found": "✓ none",
    "cut_short": "stopped before it could be judged",
    "col_earlier": "earlier:",
    "text_title": "Why? (t closes)",
    "see": "What you are seeing",
    "why": "Why it happens",
    "fix": "What fixes it",
    "basics": "The maths behind it",
    "applied": "this run",
    "viewing_other": (
        "You are viewing run #{number}; the advice is about the newest run, #{newest} "
        "(r: back to the newest)"
    ),
    "ratio_note": "R = first layer's gradient / last hidden layer's (healthy: about 0.1 to 10)",
    "picker_title": "Choose a demo (Enter starts it, Esc cancels)",
    "no_fixes": "(no fixes: a reference run)",
    "progress": "step {step:>5}/{steps}  loss {loss}",
    "stopped_nonfinite": "stopped after {done} steps: the loss has been NaN/Inf since step "
    "{first}, so there is nothing more to learn from this run",
    "writing": "writing {path}",
    "saved": "The runs are in {path} — open them again with: gradtop watch {path}",
    "removed": "The demo's files are removed ({path}); keep them with --out FILE",
    "changes": "changes",
    "no_torch": "gradtop demo trains small PyTorch models, and torch is not installed.\n"
    'Install it with:  pip install "gradtop-live[torch]"',
    "list_title": "Demos (gradtop demo NAME; --no-ui to train headless):",
    "list_fixes": "fixes: ",
    "next_cmd": "Next: {cmd}",
}

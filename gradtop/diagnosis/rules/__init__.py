"""The rules, in the order their findings are most useful to read (root causes first).

Each rule is a pure function ``View -> list[Signal]`` (see ``gradtop.diagnosis.signals``).
"""

from __future__ import annotations

from collections.abc import Callable

from gradtop.diagnosis.rules.flow import exploding, grad_spike, vanishing
from gradtop.diagnosis.rules.health import (
    dead_units,
    fp16_underflow,
    frozen,
    no_grad,
    nonfinite,
)
from gradtop.diagnosis.rules.optimizer import (
    lr_collapsed,
    no_update,
    over_clipped,
    weight_collapse,
    zero_grad_missing,
)
from gradtop.diagnosis.rules.training import learning_rate, loss_divergence, loss_plateau
from gradtop.diagnosis.signals import Signal
from gradtop.diagnosis.view import View

Rule = Callable[[View], list[Signal]]

RULES: tuple[Rule, ...] = (
    nonfinite,
    zero_grad_missing,
    no_update,
    exploding,
    vanishing,
    fp16_underflow,
    dead_units,
    no_grad,
    frozen,
    over_clipped,
    lr_collapsed,
    weight_collapse,
    learning_rate,
    loss_divergence,
    grad_spike,
    loss_plateau,
)

KINDS: tuple[str, ...] = (
    "nonfinite",
    "zero_grad_missing",
    "no_update",
    "exploding",
    "vanishing",
    "fp16_underflow",
    "dead_units",
    "no_grad",
    "frozen",
    "not_in_optimizer",
    "over_clipped",
    "lr_collapsed",
    "weight_collapse",
    "lr_too_high",
    "lr_too_low",
    "loss_divergence",
    "grad_spike",
    "loss_plateau",
)

__all__ = ["KINDS", "RULES", "Rule"]

"""Named teaching scenarios: a small real model + synthetic data per gradient pathology.

``run_scenario(name, steps, out_path)`` trains it headless on CPU with the real
``gradtop.Logger`` into a real JSONL file, which any gradtop viewer can then read.
Each scenario is deterministic for a given seed and runs in seconds on 2 cores. Every
fix is an override of the recipe, e.g.::

    run_scenario("vanishing_sigmoid", 300, "run.jsonl")                    # sick
    run_scenario("vanishing_sigmoid", 300, "run.jsonl", batchnorm=True)    # cured
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from gradtop.demos import data
from gradtop.demos.models import Recipe, build, optimizer_for


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str  # one line: what you will see
    recipe: Recipe
    expect: tuple[str, ...] = ()  # finding kinds (warning or worse) it should raise
    expect_info: tuple[str, ...] = ()  # info-level kinds it should raise
    allow: tuple[str, ...] = ()  # other kinds that are right too (consequences, not causes)
    steps: int = 300
    fix: dict[str, Any] = field(default_factory=dict)  # the overrides that cure it


_SIGMOID_20 = Recipe(depth=20, width=64, activation="sigmoid", lr=0.1)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "vanishing_sigmoid",
            "20-layer sigmoid MLP: the first layers get ~1e-16 of the gradient and never learn",
            _SIGMOID_20,
            expect=("vanishing",),
            expect_info=("loss_plateau",),
            allow=("lr_too_low",),
            fix={"activation": "relu", "init": "he", "batchnorm": True},
        ),
        Scenario(
            "fixed_relu_bn",
            "the same 20-layer MLP with ReLU, He init and BatchNorm: gradients reach every layer",
            dataclasses.replace(_SIGMOID_20, activation="relu", init="he", batchnorm=True),
        ),
        Scenario(
            "fixed_residual",
            "the same 20-layer sigmoid MLP with residual connections: the skip path carries "
            "the gradient",
            dataclasses.replace(_SIGMOID_20, residual=True, lr=0.001),
        ),
        Scenario(
            "exploding_init",
            "8-layer ReLU MLP with N(0,1) weights and SGD lr=1: the loss is astronomical at "
            "step 0 and NaN right after",
            Recipe(depth=8, width=64, init="normal", lr=1.0),
            expect=("exploding",),
            allow=("nonfinite", "lr_too_high", "loss_divergence", "dead_units", "grad_spike"),
            steps=40,
            fix={"init": "he", "lr": 0.05},
        ),
        Scenario(
            "exploding_lr",
            "4-layer ReLU MLP with plain SGD at lr=2: each step overshoots more until the "
            "loss is NaN",
            Recipe(depth=4, width=64, init="he", lr=2.0, momentum=0.0),
            expect=("exploding",),
            allow=("nonfinite", "lr_too_high", "loss_divergence", "dead_units", "grad_spike"),
            steps=60,
            fix={"lr": 0.1},
        ),
        Scenario(
            "exploding_rnn",
            "tanh RNN over 100 steps with recurrent gain 2: gradients through time grow ~1e6x",
            Recipe(model="rnn", width=32, recurrent_gain=2.0, lr=0.01, batch=32),
            expect=("exploding",),
            # one exploded step saturates every tanh unit: zero gradients follow
            allow=("nonfinite", "lr_too_high", "loss_divergence", "dead_units", "grad_spike"),
            steps=150,
            fix={"recurrent_gain": 1.0},
        ),
        Scenario(
            "dead_relu",
            "8-layer ReLU MLP with every bias at -3: all units output 0 and no gradient flows",
            Recipe(depth=8, width=64, init="he", bias=-3.0, lr=0.05),
            expect=("dead_units",),
            expect_info=("loss_plateau",),
            fix={"bias": 0.0},
        ),
        Scenario(
            "frozen_layer",
            "a healthy 6-layer ReLU MLP whose first layer was frozen with requires_grad_(False)",
            Recipe(depth=6, width=64, init="he", lr=0.05, freeze=("inp.",)),
            expect_info=("frozen",),
            fix={"freeze": ()},
        ),
        Scenario(
            "unused_layer",
            "a 6-layer ReLU MLP with a layer that forward never calls: its gradient stays None",
            Recipe(depth=6, width=64, init="he", lr=0.05, unused=True),
            expect=("no_grad",),
            fix={"unused": False},
        ),
        Scenario(
            "lr_too_low",
            "4-layer ReLU MLP with Adam at lr=1e-5: updates are 1e-5 of the weights, the loss "
            "crawls",
            Recipe(depth=4, width=64, init="he", optimizer="adam", lr=1e-5),
            expect=("lr_too_low",),
            expect_info=("loss_plateau",),
            fix={"lr": 1e-3},
        ),
        Scenario(
            "lr_too_high",
            "4-layer ReLU MLP with Adam at lr=0.1: updates are half the weights' size",
            Recipe(depth=4, width=64, init="he", optimizer="adam", lr=0.1),
            expect=("lr_too_high",),
            allow=("dead_units", "loss_divergence", "grad_spike", "exploding", "loss_plateau"),
            fix={"lr": 1e-3},
        ),
        Scenario(
            "transformer",
            "a 2-layer pre-norm transformer learning to reverse sequences with Adam lr=1e-3: "
            "healthy",
            Recipe(
                model="transformer",
                depth=2,
                width=32,
                optimizer="adam",
                lr=1e-3,
                seq_len=12,
                batch=32,
            ),
        ),
    )
}


@dataclass(frozen=True)
class Result:
    name: str
    path: str
    steps: int  # optimizer steps run
    first_nonfinite_loss: int | None
    final_loss: float
    seconds: float


def _task(recipe: Recipe, seed: int) -> tuple[nn.Module, data.Batches, Callable[..., Any]]:
    ce = nn.CrossEntropyLoss()
    if recipe.model == "rnn":
        x, y = data.remember_first(seed, recipe.seq_len)
        model = build(recipe, data.RNN_FEATURES, data.CLASSES)
        return model, data.Batches(x, y, recipe.batch, seed), ce
    if recipe.model == "transformer":
        x, y = data.reverse_tokens(seed, recipe.seq_len)
        model = build(recipe, data.VOCAB, data.VOCAB)
        return (
            model,
            data.Batches(x, y, recipe.batch, seed),
            (lambda out, target: ce(out.reshape(-1, data.VOCAB), target.reshape(-1))),
        )
    x, y = data.classification(seed)
    model = build(recipe, data.FEATURES, data.CLASSES)
    return model, data.Batches(x, y, recipe.batch, seed), ce


def run_scenario(
    name: str,
    steps: int | None = None,
    out_path: str | os.PathLike[str] = "gradtop-demo.jsonl",
    *,
    seed: int = 0,
    every: int = 1,
    step_delay: float = 0.0,
    stop: threading.Event | None = None,
    nonfinite_patience: int = 5,
    meta: dict[str, Any] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    detail_every: int = 1,
    **overrides: Any,
) -> Result:
    """Train scenario ``name`` and log it with the real Logger to ``out_path``.

    ``overrides`` replace recipe fields (the fixes: ``activation``, ``init``,
    ``batchnorm``, ``residual``, ``lr``, ``clip``, ...). Training stops early after
    ``nonfinite_patience`` steps with a non-finite loss (nothing more to see), or when
    ``stop`` is set; ``step_delay`` slows it down for watching live. ``meta`` goes into
    the run's header (``gradtop demo`` labels its runs with it); ``on_step(step, loss)``
    is called after every optimizer step (headless progress). ``detail_every`` is the
    Logger's: 1 (every statistic on every step) by default, because these nets are tiny
    and the lesson shows update ratios live; the thresholds were calibrated that way.
    """
    from gradtop import Logger

    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    scenario = SCENARIOS[name]
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Recipe)}
    if unknown:
        raise TypeError(f"unknown recipe option(s): {', '.join(sorted(unknown))}")
    recipe = dataclasses.replace(scenario.recipe, **overrides)
    n_steps = scenario.steps if steps is None else steps
    torch.manual_seed(seed)
    model, batches, loss_fn = _task(recipe, seed)
    opt = optimizer_for(model, recipe)
    model.train()
    first_bad: int | None = None
    loss_value = math.nan
    started = time.perf_counter()
    done = 0
    with Logger(
        out_path, model, optimizer=opt, every=every, meta=meta, detail_every=detail_every
    ) as log:
        for step, (x, y) in zip(range(n_steps), batches, strict=False):
            if stop is not None and stop.is_set():
                break
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            log.log(loss)  # before clipping: gradtop shows the real norms
            if recipe.clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=recipe.clip)
            opt.step()
            done = step + 1
            loss_value = float(loss.detach())
            if on_step is not None:
                on_step(step, loss_value)
            if not math.isfinite(loss_value):
                first_bad = step if first_bad is None else first_bad
                if step - first_bad + 1 >= nonfinite_patience:
                    break
            if step_delay > 0:
                time.sleep(step_delay)
    return Result(
        name, os.fspath(out_path), done, first_bad, loss_value, time.perf_counter() - started
    )

"""Vanishing, exploding and spikes on synthetic series with known shapes."""

from __future__ import annotations

import math

import numpy as np

from gradtop.diagnosis import Severity
from gradtop.history import History
from tests.diagnosis.synth import Spec, diagnose, feed, header, kinds, mlp_specs, only, per_layer

DEPTH = 8


def _sigmoid_like(depth: int = DEPTH, low: float = -10) -> np.ndarray:
    """Per-layer gradient norms falling geometrically toward the input."""
    return np.logspace(low, 0, depth)


def test_vanishing_names_the_first_layers_and_only_weight_matrices() -> None:
    h = History()
    g = per_layer(_sigmoid_like())
    run = feed(
        h,
        header(mlp_specs(DEPTH), activations=("Sigmoid",)),
        range(1, 121),
        grad=lambda s: g,
        update=lambda s: g * 1e-3,
    )
    f = only(diagnose(run), "vanishing")
    assert f.severity == Severity.CRITICAL  # R ~ 1e-9 < 1e-6
    names = [run.params[i].name for i in f.params]
    assert names[0] == "net.0.weight"
    assert all(n.endswith(".weight") for n in names), "biases are never named by depth rules"
    # layers 0..3 are below 1e-3 of the last hidden layer (net.6), later ones are not
    assert names == [f"net.{i}.weight" for i in range(4)]
    assert f.first_step == 10 + 30  # min_steps rows, then 30 rows of persistence
    assert f.fixes[0].key == "non_saturating_activation" and "Sigmoid" in f.fixes[0].title
    assert "clip_grad_norm" not in {x.key for x in f.fixes}
    assert f.evidence[0].comparison == "<" and f.evidence[0].value < 1e-6


def test_convergence_is_not_vanishing() -> None:
    """Norms shrinking 1000x while the loss falls: ratios across layers stay healthy."""
    h = History()
    depth_profile = per_layer(np.linspace(0.3, 1.0, DEPTH))
    run = feed(
        h,
        header(mlp_specs(DEPTH)),
        range(1, 301),
        grad=lambda s: depth_profile * math.exp(-s / 40),
        update=lambda s: 1e-3 * math.exp(-s / 40) + 1e-7,
        loss=lambda s: 2.3 * math.exp(-s / 40) + 1e-4,
    )
    assert kinds(diagnose(run), at_least=Severity.WARNING) == set()


def test_an_init_transient_that_reverses_is_not_reported() -> None:
    """Glorot: the init-time vanishing trend reverses within a few steps of training."""
    h = History()
    sick, well = per_layer(_sigmoid_like()), per_layer(np.ones(DEPTH))
    run = feed(
        h,
        header(mlp_specs(DEPTH)),
        range(1, 201),
        grad=lambda s: sick if s < 30 else well,
        update=lambda s: 1e-9 if s < 30 else 1e-3,
        loss=lambda s: 2.3 - s * 0.005,
    )
    assert "vanishing" not in kinds(diagnose(run))


def test_tiny_bias_and_norm_gain_gradients_are_ignored() -> None:
    specs = [Spec("norm0.weight", "LayerNorm", (16,)), Spec("norm0.bias", "LayerNorm", (16,))]
    specs += mlp_specs(DEPTH)
    h = History()
    g = np.ones(len(specs))
    g[:2] = 1e-14  # the norm gain and bias at the front: tiny, and irrelevant
    g[3::2] = 1e-14  # every Linear bias: tiny too
    run = feed(h, header(specs, norms=("LayerNorm",)), range(1, 121), grad=lambda s: g)
    assert kinds(diagnose(run), at_least=Severity.WARNING) == set()


def test_without_update_ratio_the_depth_ratio_alone_decides() -> None:
    h = History()
    g = per_layer(_sigmoid_like(low=-5))  # R ~ 1e-4: warning territory
    run = feed(h, header(mlp_specs(DEPTH)), range(1, 121), grad=lambda s: g, update=None)
    f = only(diagnose(run), "vanishing")
    assert f.severity == Severity.WARNING


def test_adam_tolerates_small_ratios_until_gradients_near_eps() -> None:
    h1, h2 = History(), History()
    small = per_layer(_sigmoid_like(low=-4))  # R ~ 1e-4 but g_rms >> eps: Adam copes
    run = feed(h1, header(mlp_specs(DEPTH), optimizer="Adam"), range(1, 121), grad=lambda s: small)
    assert "vanishing" not in kinds(diagnose(run))
    tiny = per_layer(_sigmoid_like(low=-12)) * 1e-2  # g_rms of layer 0 far below 1e-8
    run = feed(h2, header(mlp_specs(DEPTH), optimizer="AdamW"), range(1, 121), grad=lambda s: tiny)
    f = only(diagnose(run), "vanishing")
    assert f.extra["cause"] == "adam_eps" and f.fixes[0].key == "adam_eps"


def test_residual_nets_may_have_large_depth_ratios() -> None:
    h = History()
    g = per_layer(np.logspace(2, 0, DEPTH))  # R = 100, like the residual demo (72)
    run = feed(h, header(mlp_specs(DEPTH)), range(1, 201), grad=lambda s: g)
    assert kinds(diagnose(run), at_least=Severity.WARNING) == set()


# ---------------------------------------------------------------------------- exploding


def test_a_single_spike_is_a_spike_not_an_explosion_and_it_clears() -> None:
    h = History()
    rng = np.random.default_rng(0)
    noise = rng.lognormal(0, 0.1, 300)
    run = feed(
        h,
        header(mlp_specs(4)),
        range(1, 301),
        grad=lambda s: np.full(8, noise[s - 1] * (50.0 if s == 100 else 1.0)),
        loss=lambda s: 2.3 - s * 0.003,
    )
    findings = diagnose(run)
    spike = only(findings, "grad_spike")
    assert spike.first_step == 100 and spike.severity == Severity.WARNING
    assert spike.cleared_step is not None and 100 < spike.cleared_step <= 160
    assert "exploding" not in {f.kind for f in findings}


def test_sustained_growth_is_raised_before_the_loss_turns_nan() -> None:
    h = History()

    def loss(s: int) -> float:
        return 2.3 if s < 40 else (math.nan if s >= 60 else 2.3 * 1.6 ** (s - 40))

    def grad(s: int) -> np.ndarray:
        scale = 1.0 if s < 40 else (math.inf if s >= 60 else 1.7 ** (s - 40))
        return np.full(8, scale)

    run = feed(h, header(mlp_specs(4)), range(1, 80), grad=grad, loss=loss)
    findings = diagnose(run)
    boom = only(findings, "exploding")
    assert run.first_nonfinite_loss == 60
    assert boom.first_step < 60 - 3, "the warning must come well before the first NaN"
    assert boom.extra["cause"] == "growth"
    assert boom.fixes[0].key == "lower_lr"
    nan = only(findings, "nonfinite")
    assert nan.severity == Severity.CRITICAL and nan.extra["cause"] == "training"


def test_a_huge_first_step_is_an_init_problem_and_clipping_is_not_offered() -> None:
    h = History()
    run = feed(
        h,
        header(mlp_specs(4)),
        range(1, 6),
        grad=lambda s: np.full(8, 1e7 if s == 1 else math.nan),
        loss=lambda s: 3e7 if s == 1 else math.nan,
    )
    boom = only(diagnose(run), "exploding")
    assert boom.first_step == 1 and boom.severity == Severity.CRITICAL
    assert boom.extra["cause"] == "init"
    keys = [f.key for f in boom.fixes]
    assert keys[0] == "he_init" and "clip_grad_norm" not in keys


def test_recurrent_explosions_suggest_gating_and_orthogonal_init() -> None:
    specs = [
        Spec("rnn.weight_ih_l0", "RNN", (32, 8)),
        Spec("rnn.weight_hh_l0", "RNN", (32, 32)),
        Spec("rnn.bias_ih_l0", "RNN", (32,)),
        Spec("head.weight", "Linear", (10, 32)),
    ]
    h = History()
    run = feed(h, header(specs, activations=()), range(1, 30), grad=lambda s: 1e6)
    boom = only(diagnose(run), "exploding")
    assert boom.extra["cause"] == "recurrent" and boom.extra["from_first_step"]
    keys = [f.key for f in boom.fixes]
    # huge at the first step: the recurrent init is the cause, clipping only contains it
    assert keys[:2] == ["orthogonal_init", "lstm_gru"]
    assert keys[-1] == "clip_grad_norm"
    clip = boom.fixes[-1]
    assert "not the cure" in clip.title and "symptom" in boom.explanation


def test_recurrent_growth_after_a_sane_start_offers_clipping_as_a_fix() -> None:
    specs = [
        Spec("rnn.weight_ih_l0", "RNN", (32, 8)),
        Spec("rnn.weight_hh_l0", "RNN", (32, 32)),
        Spec("rnn.bias_ih_l0", "RNN", (32,)),
        Spec("head.weight", "Linear", (10, 32)),
    ]

    def loss(s: int) -> float:
        return 2.3 if s < 40 else 2.3 * 1.6 ** (s - 40)

    def grad(s: int) -> float:
        return 1.0 if s < 40 else 1.7 ** (s - 40)

    run = feed(History(), header(specs, activations=()), range(1, 58), grad=grad, loss=loss)
    boom = only(diagnose(run), "exploding")
    assert boom.extra["cause"] == "recurrent" and not boom.extra["from_first_step"]
    keys = [f.key for f in boom.fixes]
    assert keys[:2] == ["lstm_gru", "orthogonal_init"] and "clip_grad_norm" in keys
    clip = next(f for f in boom.fixes if f.key == "clip_grad_norm")
    assert "not the cure" not in clip.title


def test_growth_explosions_offer_weight_decay_and_l1() -> None:
    def loss(s: int) -> float:
        return 2.3 if s < 40 else 2.3 * 1.6 ** (s - 40)

    run = feed(
        History(),
        header(mlp_specs(4)),
        range(1, 58),
        grad=lambda s: np.full(8, 1.0 if s < 40 else 1.7 ** (s - 40)),
        loss=loss,
    )
    keys = [f.key for f in only(diagnose(run), "exploding").fixes]
    assert keys[0] == "lower_lr" and {"weight_decay", "l1_regularisation"} <= set(keys)
    l1 = next(f for f in only(diagnose(run), "exploding").fixes if f.key == "l1_regularisation")
    assert "abs()" in l1.code and l1.why and l1.when

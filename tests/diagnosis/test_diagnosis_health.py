"""Non-finite values (with and without AMP), dead units, missing and frozen parameters."""

from __future__ import annotations

import math

import numpy as np

from gradtop.diagnosis import Severity
from gradtop.history import History
from tests.diagnosis.synth import Spec, diagnose, feed, header, kinds, mlp_specs, only

N = 8  # parameters of mlp_specs(4)


def test_nan_without_amp_is_critical_and_names_where_it_started() -> None:
    h = History()

    def grad(s: int) -> np.ndarray:
        g = np.ones(N)
        if s >= 50:
            g[6] = math.nan  # the last layer's weight first
        if s >= 51:
            g[:] = math.nan
        return g

    run = feed(h, header(mlp_specs(4)), range(1, 60), grad=grad, loss=lambda s: 2.0)
    f = only(diagnose(run), "nonfinite")
    assert f.severity == Severity.CRITICAL and f.first_step == 50
    assert [run.params[i].name for i in f.params] == ["net.3.weight"]
    assert f.extra["first_nonfinite_step"] == 50


def test_nan_at_the_very_first_step_points_at_the_data() -> None:
    h = History()
    run = feed(
        h, header(mlp_specs(4)), range(1, 5), grad=lambda s: math.nan, loss=lambda s: math.nan
    )
    f = only(diagnose(run), "nonfinite")
    assert f.extra["cause"] == "data" and f.fixes[0].key == "check_data_nan"


def test_amp_isolated_overflows_are_normal() -> None:
    """GradScaler skips an overflow step and halves the scale: that is not a finding."""
    h = History()
    overflow = {1, 2, 3, 4, 5, 120, 260}  # the initial scale search, then rare overflows
    run = feed(
        h,
        header(mlp_specs(4)),
        range(1, 301),
        grad=lambda s: math.inf if s in overflow else 1.0,
        scale=lambda s: 2.0**16 / 2 ** min(s, 5),
        loss=lambda s: 2.3 - s * 0.003,
    )
    assert "nonfinite" not in {f.kind for f in diagnose(run)}


def test_amp_repeated_overflows_and_a_collapsing_scale_are_reported() -> None:
    h = History()
    run = feed(
        h,
        header(mlp_specs(4)),
        range(1, 101),
        grad=lambda s: math.inf if s > 20 and s % 3 == 0 else 1.0,
        scale=lambda s: 1024.0,
    )
    f = only(diagnose(run), "nonfinite")
    assert f.severity == Severity.WARNING and f.extra["cause"] == "amp"
    h2 = History()
    run = feed(
        h2,
        header(mlp_specs(4), run_id="collapse"),
        range(1, 60),
        grad=lambda s: math.inf if s % 2 else 1.0,
        scale=lambda s: 2.0 ** (16 - s // 2),
    )
    f = only(diagnose(run), "nonfinite")
    assert f.severity == Severity.CRITICAL
    assert f.fixes[0].key == "amp_dtype"


# ---------------------------------------------------------------------------- dead units


def test_a_dead_network_is_critical() -> None:
    h = History()
    run = feed(
        h,
        header(mlp_specs(4)),
        range(1, 60),
        grad=lambda s: np.array([0, 0, 0, 0, 0, 0, 0.1, 0.1]),
        zero=lambda s: np.array([1, 1, 1, 1, 1, 1, 0, 0.0]),
        loss=lambda s: 2.3,
    )
    f = only(diagnose(run), "dead_units")
    assert f.severity == Severity.CRITICAL and f.first_step == 20
    assert f.extra["whole_layers"] == ["net.0", "net.1", "net.2"]
    assert f.fixes[0].key == "reset_bias"


def _saturated(**head: object) -> list[str]:
    """Fix keys for a net whose first three layers pass back exactly zero gradient."""
    run = feed(
        History(),
        header(mlp_specs(4), **head),  # type: ignore[arg-type]
        range(1, 60),
        grad=lambda s: np.array([0, 0, 0, 0, 0, 0, 0.1, 0.1]),
        zero=lambda s: np.array([1, 1, 1, 1, 1, 1, 0, 0.0]),
        loss=lambda s: 2.3,
    )
    return [f.key for f in only(diagnose(run), "dead_units").fixes]


def test_saturated_tanh_units_get_saturation_fixes_not_relu_ones() -> None:
    keys = _saturated(activations=("Tanh",))
    assert keys[:4] == ["lower_lr", "xavier_init", "batchnorm", "non_saturating_activation"]
    assert "reset_bias" not in keys and "leaky_relu" not in keys
    with_relu = _saturated(activations=("Tanh", "ReLU"))  # both kinds of zero-slope unit
    assert with_relu[0] == "lower_lr" and with_relu[-2:] == ["leaky_relu", "reset_bias"]
    relu_only = _saturated(activations=("ReLU",))
    assert relu_only[:2] == ["reset_bias", "leaky_relu"]


def test_partly_dead_layer_warns_and_names_it() -> None:
    h = History()
    zero = np.zeros(N)
    zero[2:4] = 0.5  # net.1: half of its units dead (weight rows and bias entries)
    run = feed(h, header(mlp_specs(4)), range(1, 60), grad=lambda s: 1.0, zero=lambda s: zero)
    f = only(diagnose(run), "dead_units")
    assert f.severity == Severity.WARNING and f.extra["layers"] == ["net.1"]


def test_embeddings_and_batchnorm_rounded_biases_are_not_dead_units() -> None:
    specs = [Spec("tok_embed.weight", "Embedding", (1000, 16)), *mlp_specs(4)]
    zero = np.zeros(len(specs))
    zero[0] = 0.97  # rows of tokens not in the batch: zero gradient by design
    zero[2::2] = 1.0  # biases exactly 0 (a BatchNorm follows), weights fine
    h = History()
    run = feed(h, header(specs), range(1, 80), grad=lambda s: 1.0, zero=lambda s: zero)
    assert "dead_units" not in kinds(diagnose(run))


def test_all_zero_gradients_at_zero_loss_is_convergence() -> None:
    h = History()
    run = feed(
        h,
        header(mlp_specs(4)),
        range(1, 60),
        grad=lambda s: 0.0,
        zero=lambda s: 1.0,
        loss=lambda s: 0.0,
    )
    assert "dead_units" not in kinds(diagnose(run))


# ---------------------------------------------------------------------------- no grad, frozen


def test_unused_parameter_has_no_gradient() -> None:
    specs = [*mlp_specs(4), Spec("unused.weight", "Linear", (16, 16))]
    g = np.ones(len(specs), dtype=object)
    g[-1] = None
    h = History()
    run = feed(h, header(specs), range(1, 30), grad=lambda s: list(g))
    f = only(diagnose(run), "no_grad")
    assert f.severity == Severity.WARNING and f.first_step == 3
    assert [run.params[i].name for i in f.params] == ["unused.weight"]
    assert f.fixes[0].key == "unused_param"
    # the unused layer registered last must not pose as the head in the depth rules
    assert kinds(diagnose(run), at_least=Severity.WARNING) == {"no_grad"}


def test_frozen_layer_is_info_and_never_vanishing() -> None:
    specs = mlp_specs(6)
    specs[0] = Spec("net.0.weight", "Linear", (16, 16), requires_grad=False, in_optimizer=False)
    specs[1] = Spec("net.0.bias", "Linear", (16,), requires_grad=False, in_optimizer=False)
    h = History()
    run = feed(
        h,
        header(specs),
        range(1, 150),
        grad=lambda s: 1.0,
        update=lambda s: 1e-3,
        loss=lambda s: 2.3 * math.exp(-s / 50),
    )
    findings = diagnose(run)
    frozen = only(findings, "frozen")
    assert frozen.severity == Severity.INFO and frozen.params == (0, 1)
    assert kinds(findings) == {"frozen"}


def test_trainable_parameter_missing_from_the_optimizer() -> None:
    specs = mlp_specs(4)
    specs[2] = Spec("net.1.weight", "Linear", (16, 16), in_optimizer=False)
    h = History()
    run = feed(h, header(specs), range(1, 20), grad=lambda s: 1.0)
    f = only(diagnose(run), "not_in_optimizer")
    assert f.params == (2,) and f.fixes[0].key == "add_to_optimizer"

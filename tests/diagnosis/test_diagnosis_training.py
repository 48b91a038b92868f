"""Learning rate (update/weight ratio with the loss trend) and loss divergence / plateau."""

from __future__ import annotations

import math

import numpy as np

from gradtop.diagnosis import Severity
from gradtop.history import History
from tests.diagnosis.synth import diagnose, feed, header, kinds, mlp_specs, only, per_layer

ADAM_LOW = 3e-5  # Adam at lr 1e-5 on He-initialised weights (measured: 2.8e-5)


def _flat_loss(s: int) -> float:
    return 2.3 + 0.02 * math.sin(s)


def test_uniformly_tiny_updates_with_a_stalled_loss_mean_lr_too_low() -> None:
    h = History()
    run = feed(
        h,
        header(mlp_specs(4), optimizer="Adam"),
        range(1, 201),
        grad=lambda s: 1.0,
        update=lambda s: ADAM_LOW,
        loss=_flat_loss,
        lr=lambda s: 1e-5,
    )
    f = only(diagnose(run), "lr_too_low")
    assert f.severity == Severity.WARNING
    assert f.first_step == 51 + 29  # lr_window rows of history, then 30 of persistence
    assert f.fixes[0].key == "raise_lr"


def test_warmup_annealing_fast_progress_and_vanishing_are_not_lr_too_low() -> None:
    cases = {
        # LR still rising: updates are small on purpose
        "warmup": {"lr": lambda s: 1e-5 * s},
        # LR annealed to 1% of its peak at the end of a schedule
        "annealed": {"lr": lambda s: 1e-3 if s < 20 else 1e-5},
        # the loss is falling fast: whatever the ratio says, it learns
        "learning": {"loss": lambda s: 2.3 * math.exp(-s / 40)},
        # the loss already fell far: converged, small updates are expected
        "converged": {"loss": lambda s: 2.3 if s <= 10 else 0.05 + 0.001 * math.sin(s)},
    }
    for name, kw in cases.items():
        h = History()
        run = feed(
            h,
            header(mlp_specs(4), optimizer="Adam", run_id=name),
            range(1, 201),
            grad=lambda s: 1.0,
            update=lambda s: ADAM_LOW,
            **{"loss": _flat_loss, "lr": lambda s: 1e-5, **kw},  # type: ignore[arg-type]
        )
        assert "lr_too_low" not in kinds(diagnose(run)), name
    # Vanishing: the median is tiny but the last layers move normally.
    h = History()
    g = per_layer(np.logspace(-10, 0, 8))
    run = feed(
        h,
        header(mlp_specs(8)),
        range(1, 201),
        grad=lambda s: g,
        update=lambda s: g * 1e-3,
        loss=_flat_loss,
    )
    assert "lr_too_low" not in kinds(diagnose(run))


def test_huge_updates_at_the_start_mean_lr_too_high() -> None:
    h = History()
    run = feed(
        h,
        header(mlp_specs(4), optimizer="Adam"),
        range(1, 100),
        grad=lambda s: 1.0,
        update=lambda s: 0.5 * math.exp(-s / 5) + 5e-3,
        loss=lambda s: 2.3 + 3 * math.exp(-s / 3),
    )
    f = only(diagnose(run), "lr_too_high")
    assert f.first_step <= 7 and f.severity >= Severity.WARNING
    assert f.fixes[0].key == "lower_lr"


def test_a_large_head_ratio_alone_is_not_lr_too_high() -> None:
    h = History()
    uw = np.full(8, 3e-3)
    uw[6:] = 5e-2  # the output layer moves faster, normal (research §6: 1.8e-2 vs 3e-3)
    run = feed(
        h,
        header(mlp_specs(4)),
        range(1, 200),
        grad=lambda s: 1.0,
        update=lambda s: uw,
        loss=lambda s: 2.3 * math.exp(-s / 60),
    )
    assert kinds(diagnose(run), at_least=Severity.WARNING) == set()


def test_loss_climbing_back_is_divergence_and_a_10x_jump_is_a_spike() -> None:
    h = History()

    def loss(s: int) -> float:
        return 2.3 * math.exp(-s / 20) + 0.1 if s < 100 else 0.1 + 0.02 * (s - 100)

    run = feed(h, header(mlp_specs(4)), range(1, 200), grad=lambda s: 1.0, loss=loss)
    f = only(diagnose(run), "loss_divergence")
    assert f.severity == Severity.WARNING and 100 < f.first_step < 150
    h2 = History()
    run = feed(
        h2,
        header(mlp_specs(4)),
        range(1, 60),
        grad=lambda s: 1.0,
        loss=lambda s: 500.0 if s == 40 else 2.3 - 0.01 * s,
    )
    f = only(diagnose(run), "loss_divergence")
    assert f.severity == Severity.CRITICAL and f.first_step == 40


def test_a_noisy_loss_near_its_best_is_not_divergence() -> None:
    h = History()
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.05, 400)
    run = feed(
        h,
        header(mlp_specs(4)),
        range(1, 401),
        grad=lambda s: 1.0,
        loss=lambda s: 0.3 + 2.0 * math.exp(-s / 30) + abs(noise[s - 1]),
    )
    assert "loss_divergence" not in kinds(diagnose(run))


def test_plateau_is_info_and_says_whether_updates_are_small() -> None:
    for uw, cause in ((1e-7, "small_updates"), (1e-3, "normal_updates")):
        h = History()
        run = feed(
            h,
            header(mlp_specs(4)),
            range(1, 200),
            grad=lambda s: 1.0,
            update=lambda s, uw=uw: uw,
            loss=_flat_loss,
        )
        f = only(diagnose(run), "loss_plateau")
        assert f.severity == Severity.INFO and f.extra["cause"] == cause
        assert f.fixes[0].key == ("raise_lr" if cause == "small_updates" else "check_pipeline")

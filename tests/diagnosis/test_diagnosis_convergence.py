"""Property tests for the false-alarm traps of the exploding and spike rules.

A converged net's gradient norm falls by many orders of magnitude and then wanders
(1e-9 up to 1e-4 on a small ReLU net trained to zero loss): measured against its own
minimum that is enormous "growth" and every wander is a "spike", yet every step is far
smaller than the stable ones the run took at its start. LR warmup makes norms and
updates rise while the loss falls: learning, not exploding. Neither may raise a warning.

The runs are fed to the Diagnoser in chunks, as a live viewer does, so runs longer than
the window are judged with the run's memory (its reference norm), not from the tail.
Hypothesis is derandomised: the examples are the same on every run, no flaky seeds.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradtop.diagnosis import Diagnoser, Finding, Severity
from gradtop.history import History
from tests.diagnosis.synth import feed, header, mlp_specs, watch

LAYERS = 4
PARAMS = 2 * LAYERS  # weight and bias per layer
STEPS = 320  # longer than the 256-row window
PROPERTY = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _loud(findings: list[Finding]) -> list[str]:
    return [
        f"{f.kind} {f.severity.label} at {f.first_step}: {f.title}"
        for f in findings
        if f.severity >= Severity.WARNING
    ]


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    g0=st.floats(0.05, 50.0),
    decay=st.floats(4.0, 30.0),  # e-folding steps of the loss (and of the norm)
    floor=st.floats(1e-10, 1e-7),  # where the norm bottoms out, relative to g0
    wander=st.floats(0.0, 4.0),  # decades the converged norm wanders back up
    sigma=st.floats(0.0, 1.0),  # lognormal noise of the converged norm, shared by layers
    zeros=st.floats(0.0, 1.0),  # fraction of converged steps whose loss is exactly 0.0
)
def test_a_run_converging_to_zero_loss_raises_nothing(
    *,
    seed: int,
    g0: float,
    decay: float,
    floor: float,
    wander: float,
    sigma: float,
    zeros: float,
) -> None:
    rng = np.random.default_rng(seed)
    # converged: a random walk in log10 between the floor and `wander` decades above it
    walk = np.abs(np.cumsum(rng.normal(0.0, 0.3, STEPS + 1)))
    walk = np.minimum(walk, wander)
    late_noise = rng.lognormal(0.0, sigma, STEPS + 1)
    early_noise = rng.lognormal(0.0, 0.2, STEPS + 1)  # training: mild batch-to-batch noise
    zero_loss = rng.random(STEPS + 1) < zeros
    tiny = np.abs(rng.normal(0.0, 1e-8, STEPS + 1))

    def scale(s: int) -> float:
        return math.exp(-s / decay)

    def grad(s: int) -> np.ndarray:
        fall = scale(s)
        converged = floor * 10 ** walk[s] * late_noise[s]
        norm = g0 * (fall * early_noise[s] if fall > floor else converged)
        return np.full(PARAMS, norm)

    def loss(s: int) -> float:
        if scale(s) < 1e-6:  # converged: 0.0 or float noise around it
            return 0.0 if zero_loss[s] else float(tiny[s])
        return 2.3 * scale(s) * float(early_noise[s] ** 0.25)

    _, findings = watch(
        header(mlp_specs(LAYERS)),
        range(1, STEPS + 1),
        grad=grad,
        loss=loss,
        update=lambda s: 1e-3 * max(scale(s), 1e-6),
    )
    assert _loud(findings) == []


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    warmup=st.integers(10, 150),
    start=st.floats(1e-3, 0.3),  # LR at step 1, as a fraction of the peak
    norm_rise=st.floats(1.0, 100.0),  # the grad norm grows this much during warmup
    g_end=st.floats(0.1, 10.0),
    uw_end=st.floats(1e-4, 3e-3),  # healthy update/weight ratio once warm
    sigma=st.floats(0.0, 0.3),  # batch-to-batch noise of the norm, shared by layers
    loss_noise=st.floats(0.0, 0.05),
    tau=st.floats(100.0, 2000.0),  # e-folding steps of the (falling) loss
)
def test_lr_warmup_with_rising_norms_and_updates_raises_nothing(
    *,
    seed: int,
    warmup: int,
    start: float,
    norm_rise: float,
    g_end: float,
    uw_end: float,
    sigma: float,
    loss_noise: float,
    tau: float,
) -> None:
    rng = np.random.default_rng(seed)
    g_noise = rng.lognormal(0.0, sigma, STEPS + 1)
    l_noise = rng.lognormal(0.0, loss_noise, STEPS + 1)
    peak = 0.1

    def progress(s: int) -> float:
        return min(1.0, s / warmup)

    def lr(s: int) -> float:
        return peak * (start + (1.0 - start) * progress(s))

    def norm(s: int) -> float:
        return g_end * norm_rise ** (progress(s) - 1.0)  # geometric rise to g_end

    def update(s: int) -> float:
        # ||dw|| / ||w|| grows with the LR and with the gradient
        return uw_end * (lr(s) / peak) * (norm(s) / g_end)

    _, findings = watch(
        header(mlp_specs(LAYERS)),
        range(1, STEPS + 1),
        grad=lambda s: np.full(PARAMS, norm(s) * g_noise[s]),
        loss=lambda s: 2.3 * math.exp(-s / tau) * float(l_noise[s]),
        update=update,
        lr=lr,
    )
    assert _loud(findings) == []


def test_the_reference_norm_outlives_the_window() -> None:
    """A converged tail whose 1e-9 norm jumps 1000x now and then is quiet when the
    Diagnoser saw the run's start, and the rule really needs that start: judged from the
    tail alone (one pass over more rows than the window, so the first steps are gone)
    the jumps are spikes, as they would be for a run that really lives at 1e-9."""
    noise = np.random.default_rng(0).lognormal(0.0, 0.2, 500)

    def grad(s: int) -> np.ndarray:
        if s <= 60:
            return np.full(PARAMS, math.exp(-s / 3) * noise[s])  # 1 -> 1e-9, loss -> 0
        return np.full(PARAMS, 1e-9 * noise[s] * (1000.0 if s % 40 == 0 else 1.0))

    def loss(s: int) -> float:
        return 2.3 * math.exp(-s / 3) if s <= 60 else 0.0

    steps = range(1, 400)
    _, live = watch(header(mlp_specs(LAYERS)), steps, grad=grad, loss=loss)
    assert _loud(live) == []
    run = feed(History(), header(mlp_specs(LAYERS)), steps, grad=grad, loss=loss)
    tail_only = Diagnoser().update(run, force=True)
    assert "grad_spike" in {f.kind for f in tail_only if f.severity >= Severity.WARNING}

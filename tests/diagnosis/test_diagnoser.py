"""The Diagnoser's own promises: hysteresis, clearing, ordering, call-rate independence,
no false alarms on healthy noise, overridable thresholds and an honest fix catalogue."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradtop.check import Check, read_all
from gradtop.diagnosis import CATALOGUE, Diagnoser, Finding, Severity, Thresholds
from gradtop.diagnosis.fixes import fixes_for
from gradtop.diagnosis.view import roles_for
from gradtop.history import History, RunHistory
from gradtop.records import Step
from tests.diagnosis.synth import (
    diagnose,
    feed,
    header,
    kinds,
    mlp_specs,
    per_layer,
    write_jsonl,
)

DEPTH = 6


def _profile(r: float) -> np.ndarray:
    """Per-parameter grad norms whose depth ratio (first / last hidden layer) is ``r``."""
    layers = np.ones(DEPTH)
    layers[: DEPTH - 2] = r
    return per_layer(layers)


def _summary(findings: list[Finding]) -> list[tuple[str, int, int, int | None]]:
    return sorted((f.kind, int(f.severity), f.first_step, f.cleared_step) for f in findings)


def test_hovering_at_the_threshold_does_not_flicker_and_recovery_clears() -> None:
    rng = np.random.default_rng(3)
    jitter = rng.choice([5e-4, 2e-3], 400)  # either side of 1e-3, inside the clear band

    def r(s: int) -> float:
        if s <= 60:
            return 1e-4
        return float(jitter[s]) if s <= 200 else 1.0

    h, d = History(), Diagnoser()
    head = header(mlp_specs(DEPTH))
    raised_kinds: list[list[str]] = []
    for s in range(1, 301, 4):  # as a live viewer would: a few new rows at a time
        run = feed(
            h,
            head,
            range(s, s + 4),
            grad=lambda s: _profile(r(s)),
            update=lambda s: 1e-9 if s <= 200 else 1e-3,
        )
        raised_kinds.append([f.kind for f in d.update(run) if f.active])
    findings = d.update(run, force=True)
    vanishing = [f for f in findings if f.kind == "vanishing"]
    assert len(vanishing) == 1, "one finding for the whole episode, never re-raised"
    (f,) = vanishing
    assert f.first_step == 40 and f.cleared_step == 220
    assert not f.active and findings[-1] is f  # cleared findings come last
    on = ["vanishing" in k for k in raised_kinds]
    assert on.count(True) > 0
    flips = sum(a != b for a, b in itertools.pairwise(on))
    assert flips == 2, "raised once and cleared once, no flicker in between"


def test_update_cadence_does_not_change_the_findings() -> None:
    """Fed row by row (the UI) or in one go (a small file): the same findings and steps."""

    def build(h: History) -> RunHistory:
        return h.runs["run"]

    def grad(s: int) -> np.ndarray:
        base = _profile(1e-5 if 30 < s < 120 else 1.0)
        return base * (40.0 if s == 150 else 1.0)

    h_live, d_live = History(), Diagnoser()
    head = header(mlp_specs(DEPTH))
    live: list[Finding] = []
    for s in range(1, 241):
        feed(h_live, head, range(s, s + 1), grad=grad, update=lambda s: 1e-9 if s < 120 else 1e-3)
        live = d_live.update(build(h_live))
    live = d_live.update(build(h_live), force=True)
    h_once = History()
    run = feed(h_once, head, range(1, 241), grad=grad, update=lambda s: 1e-9 if s < 120 else 1e-3)
    once = diagnose(run)
    assert _summary(live) == _summary(once)
    assert {"vanishing", "grad_spike"} <= {f.kind for f in once}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    noise=st.floats(0.05, 0.5),
    depth_spread=st.floats(0.1, 30.0),
    uw=st.floats(3e-4, 8e-3),
    decay=st.floats(20, 400),
)
def test_healthy_noisy_training_raises_no_warning(
    seed: int, noise: float, depth_spread: float, uw: float, decay: float
) -> None:
    """Log-normal noise on every statistic of a run that learns: never a warning."""
    rng = np.random.default_rng(seed)
    n_steps = 300
    layers = np.geomspace(1.0, depth_spread, DEPTH)
    g_noise = rng.lognormal(0, noise, (n_steps + 1, DEPTH * 2))
    l_noise = rng.normal(0, noise * 0.05, n_steps + 1)
    h = History()
    run = feed(
        h,
        header(mlp_specs(DEPTH)),
        range(1, n_steps + 1),
        grad=lambda s: per_layer(layers) * g_noise[s] * (0.3 + math.exp(-s / decay)),
        update=lambda s: uw * g_noise[s],
        zero=lambda s: 0.01,
        loss=lambda s: (0.2 + 2.1 * math.exp(-s / decay)) * (1 + l_noise[s]),
    )
    found = [f for f in diagnose(run) if f.severity >= Severity.WARNING]
    assert found == [], [f.title for f in found]


def test_ordering_active_by_severity_then_depth_then_cleared() -> None:
    h = History()
    specs = mlp_specs(DEPTH)
    g = _profile(1e-8)

    def grad(s: int) -> list[float | None]:
        out: list[float | None] = list(g * (60.0 if s == 80 else 1.0))
        return out

    run = feed(
        h,
        header(specs),
        range(1, 200),
        grad=grad,
        update=lambda s: 1e-12,
        zero=lambda s: np.r_[np.zeros(8), 0.3, 0.3, 0.0, 0.0],
    )
    findings = Diagnoser().update(run, force=True)
    active = [f for f in findings if f.active]
    cleared = [f for f in findings if not f.active]
    assert findings == active + cleared and cleared
    sev = [int(f.severity) for f in active]
    assert sev == sorted(sev, reverse=True)
    assert active[0].kind == "vanishing"


def test_rate_limit_and_a_restarted_run_id() -> None:
    h = History()
    head = header(mlp_specs(DEPTH))
    run = feed(h, head, range(1, 80), grad=lambda s: _profile(1e-8), update=lambda s: 1e-12)
    d = Diagnoser()
    first = d.update(run)
    assert d.update(run) == first  # nothing new: the same answer, no work
    assert "vanishing" in kinds(d.update(run, force=True))
    h.add(header(mlp_specs(DEPTH)))  # the same run_id starts over
    fresh = feed(h, head, range(1, 5), grad=lambda s: 1.0)
    assert "vanishing" not in kinds(d.update(fresh))


def test_thresholds_override_and_parse() -> None:
    h = History()
    run = feed(
        h,
        header(mlp_specs(DEPTH)),
        range(1, 120),
        grad=lambda s: _profile(1e-4),
        update=lambda s: 1e-9,
    )
    assert "vanishing" in kinds(diagnose(run))
    assert "vanishing" not in kinds(diagnose(run, vanishing_ratio=1e-5))
    th = Thresholds.from_overrides(["vanishing_ratio=1e-5", "vanishing-persist=7"])
    assert th.vanishing_ratio == 1e-5 and th.vanishing_persist == 7
    for bad, message in (
        (["nope=1"], "unknown threshold"),
        (["vanishing_ratio"], "expected name=value"),
        (["vanishing_persist=1.5"], "not an integer"),
        (["vanishing_ratio=-1"], "must not be negative"),
    ):
        with pytest.raises(ValueError, match=message):
            Thresholds.from_overrides(bad)


def test_every_fix_is_complete_and_fixes_follow_the_model() -> None:
    for fix in CATALOGUE.values():
        assert fix.key and fix.title and fix.why and fix.code and fix.when, fix.key
    sigmoid_bn = roles_for(
        header(mlp_specs(4), activations=("Sigmoid",), norms=("BatchNorm1d",)), Thresholds()
    )
    keys = [f.key for f in fixes_for("vanishing", sigmoid_bn)]
    assert keys[0] == "non_saturating_activation" and "batchnorm" not in keys
    relu = roles_for(header(mlp_specs(4), activations=("ReLU",)), Thresholds())
    keys = [f.key for f in fixes_for("vanishing", relu)]
    assert "non_saturating_activation" not in keys and "batchnorm" in keys
    assert "he_init" in keys
    for roles in (sigmoid_bn, relu):
        assert "clip_grad_norm" not in {f.key for f in fixes_for("exploding", roles, "init")}


def test_a_step_with_no_statistics_is_tolerated() -> None:
    h = History()
    head = header(mlp_specs(2))
    h.add(head)
    h.add(Step("run", 1, 1, 1.0, loss=2.0))
    assert Diagnoser().update(h.runs["run"], force=True) == []


def test_every_threshold_is_documented_with_a_source_tag() -> None:
    """docs/diagnosis.md must list every Thresholds field with its default and a tag."""
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "diagnosis.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in doc.splitlines()
        if line.startswith("| `")
    }
    defaults = Thresholds()
    for name in Thresholds.names():
        assert name in rows, f"{name} is not documented in docs/diagnosis.md"
        cells = [c.strip() for c in rows[name].split("|")]
        assert float(cells[2]) == float(getattr(defaults, name)), f"{name}: default differs"
        assert any(tag in cells[4] for tag in ("[src]", "[demo]", "[proposal]")), name


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.integers(1, 120), min_size=1, max_size=60), spike_at=st.integers(60, 200))
def test_any_feeding_cadence_gives_the_same_findings(chunks: list[int], spike_at: int) -> None:
    """However the rows arrive (1 to 120 at a time, within the window), same findings."""
    head = header(mlp_specs(DEPTH))

    def grad(s: int) -> np.ndarray:
        return _profile(1e-5 if 30 < s < 120 else 1.0) * (40.0 if s == spike_at else 1.0)

    def update(s: int) -> float:
        return 1e-9 if s < 120 else 1e-3

    once = diagnose(feed(History(), head, range(1, 241), grad=grad, update=update))
    h, d, s = History(), Diagnoser(), 1
    for size in [*chunks, 240]:
        end = min(241, s + size)
        if end > s:
            d.update(feed(h, head, range(s, end), grad=grad, update=update))
        s = end
    fed = d.update(h.runs["run"], force=True)
    assert _summary(fed) == _summary(once)
    # and in the same order: cleared ones newest first by step, not by when a replay saw them
    assert [(f.kind, f.first_step) for f in fed] == [(f.kind, f.first_step) for f in once]


@pytest.mark.parametrize("live", [True, False], ids=["row_by_row", "one_replay"])
def test_each_episode_keeps_the_words_of_its_own_rows(live: bool) -> None:
    """Two spikes far enough apart to be two findings: each one's title names its own
    step and ratio, whether the rows came one at a time or in one replay (where the rule's
    words describe only the newest spike of the window)."""
    head = header(mlp_specs(DEPTH))
    spikes = {120: 40.0, 200: 400.0}

    def grad(s: int) -> np.ndarray:
        return _profile(1.0) * spikes.get(s, 1.0)

    def update(s: int) -> float:
        return 1e-3

    h, d = History(), Diagnoser()
    if live:
        for s in range(1, 241):
            d.update(feed(h, head, range(s, s + 1), grad=grad, update=update))
    else:
        feed(h, head, range(1, 241), grad=grad, update=update)
    found = sorted(
        (f for f in d.update(h.runs["run"], force=True) if f.kind == "grad_spike"),
        key=lambda f: f.first_step,
    )
    assert [(f.first_step, f.last_step) for f in found] == [(120, 120), (200, 200)]
    first, second = found
    assert first.cleared_step is not None and not first.active
    assert first.title.startswith("Gradient spike at step 120: ")
    assert second.title.startswith("Gradient spike at step 200: ")
    ratio = {f.first_step: f.evidence[0].value for f in found}
    assert ratio[200] > 5 * ratio[120]  # 400x against 40x the usual norm


def test_the_bulk_cadence_leaves_every_rule_its_look_back() -> None:
    """Rows replayed in one update keep the longest look-back of a rule inside the window
    (what makes the bulk cadence report what an update per row would)."""
    from gradtop.diagnosis.diagnoser import REPLAY_EVERY
    from gradtop.diagnosis.view import param_margin

    th = Thresholds()
    look_back = max(th.spike_window, th.plateau_window, th.lr_window, param_margin(th))
    assert REPLAY_EVERY + look_back <= th.window


def _words(findings: list[Finding], kind: str) -> list[tuple[object, ...]]:
    return [
        (f.first_step, f.last_step, f.cleared_step, f.title, f.params, f.evidence, f.extra)
        for f in findings
        if f.kind == kind
    ]


_SPLITS = {
    "one_replay": [range(1, 241)],
    "replays_at_125": [range(1, 126), range(126, 241)],
    "replays_of_100": [range(1, 101), range(101, 201), range(201, 241)],
}


@pytest.mark.parametrize("split", list(_SPLITS))
@pytest.mark.parametrize(
    ("spikes", "episodes"),
    [
        ({120: 40.0, 200: 400.0}, 2),
        ({120: 40.0, 130: 400.0}, 1),  # the second spike comes before the first clears
        ({60: 40.0, 120: 30.0, 200: 400.0}, 3),
    ],
    ids=["two_episodes", "one_episode_two_spikes", "three_episodes"],
)
def test_every_episode_is_worded_as_an_update_per_row_words_it(
    spikes: dict[int, float], episodes: int, split: str
) -> None:
    """Whether a finding starts, is flagged again or clears inside one replay or across
    two, it ends with the words an update per row gives it (its own last flagged row)."""
    head = header(mlp_specs(DEPTH))

    def grad(s: int) -> np.ndarray:
        return _profile(1.0) * spikes.get(s, 1.0)

    def run(chunks: list[range]) -> list[tuple[object, ...]]:
        h, d = History(), Diagnoser()
        for rows in chunks:
            d.update(feed(h, head, rows, grad=grad), force=True)
        return _words(d.update(h.runs["run"], force=True), "grad_spike")

    live = run([range(s, s + 1) for s in range(1, 241)])
    assert len(live) == episodes
    assert run(_SPLITS[split]) == live


def test_a_cleared_nonfinite_episode_is_not_described_by_a_later_one() -> None:
    """A NaN loss at steps 20-22 (finite gradients) that cleared, then NaN gradients from
    step 200: re-described in one replay, the first finding names no parameter and no
    gradient step of the second (run-level firsts past the cut are not its to tell)."""
    head = header(mlp_specs(DEPTH))

    def grad(s: int) -> np.ndarray:
        g = _profile(1.0)
        if s >= 200:
            g = g.copy()
            g[4] = np.nan
        return g

    def loss(s: int) -> float:
        return math.nan if 20 <= s <= 22 else 2.3

    def run(chunks: list[range]) -> list[tuple[object, ...]]:
        h, d = History(), Diagnoser()
        for rows in chunks:
            d.update(feed(h, head, rows, grad=grad, loss=loss), force=True)
        return _words(d.update(h.runs["run"], force=True), "nonfinite")

    live = run([range(s, s + 1) for s in range(1, 211)])
    cleared = [w for w in live if w[2] is not None]
    assert len(cleared) == 1 and cleared[0][4] == ()  # no parameter: the loss went NaN
    assert cleared[0][6]["first_nonfinite_step"] is None
    assert run([range(1, 211)]) == live


def test_a_short_window_shortens_the_replay(tmp_path: Path) -> None:
    """``--threshold window=100``: a bulk read replays at most what that window leaves the
    rules, so NaN gradients at steps 140-142 are reported as an update per row reports
    them (with a 128-step replay the rows between two windows were never evaluated)."""
    th = Thresholds(window=100)
    assert Diagnoser().replay_every == 128  # 256 - spike_window
    assert Diagnoser(Thresholds(window=200)).replay_every == 72
    assert Diagnoser(th).replay_every == 1  # spike_window fills the window: row by row

    def grad(s: int) -> np.ndarray:
        g = _profile(1.0)
        if 140 <= s <= 142:
            g = g.copy()
            g[2] = np.nan
        return g

    sink: list = []
    feed(History(), header(mlp_specs(DEPTH)), range(1, 301), grad=grad, sink=sink)
    path = write_jsonl(tmp_path / "run.jsonl", sink)
    check = Check(str(path), thresholds=th)
    read_all(check)
    found = [(f.kind, f.first_step) for f in check.findings(check.history.runs["run"])]
    assert ("nonfinite", 140) in found


def test_a_finding_whose_own_row_has_no_words_claims_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rule that reads ahead in its window (here: it flags a step only once ten more rows
    follow) cannot word a cut window's last row; a finding raised and cleared in one
    replay then shows its kind's name and no evidence, not the words of a later episode."""
    from gradtop.diagnosis import diagnoser as diagnoser_module
    from gradtop.diagnosis.findings import Evidence
    from gradtop.diagnosis.signals import OFF, WARNING, Signal, last_on, levels

    def reads_ahead(v):
        level = levels(v.n, OFF)
        steps = v.steps.tolist()
        for i, s in enumerate(steps):
            if s in (50, 150) and i + 10 < v.n:
                level[i] = WARNING
        sig = Signal("grad_spike", level, clear_steps=5)
        at = last_on(level)
        if at is not None:
            sig.title = f"event at step {steps[at]}"
            sig.evidence = (Evidence("event step", float(steps[at]), 0.0, ">"),)
        return [sig]

    monkeypatch.setattr(diagnoser_module, "RULES", (reads_ahead,))
    h = History()
    run = feed(h, header(mlp_specs(DEPTH)), range(1, 201), grad=lambda s: _profile(1.0))
    found = sorted(Diagnoser().update(run, force=True), key=lambda f: f.first_step)
    assert [(f.first_step, f.cleared_step) for f in found] == [(50, 55), (150, 155)]
    assert found[0].title == "grad spike" and found[0].evidence == ()
    assert found[1].title == "event at step 150"

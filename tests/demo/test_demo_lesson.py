"""The lesson's state machine and its advice, on hand-made findings (pure, no training)."""

from __future__ import annotations

import pytest

from gradtop.diagnosis import Finding, Severity
from gradtop.teaching.lesson import (
    DEMO_META,
    DEMOS,
    LessonState,
    advise,
    claim_holds,
    find_claim,
    suggestions,
    worst_by_kind,
)

VANISHING = DEMOS["vanishing"]


def finding(
    kind: str, severity: Severity, *, cleared: int | None = None, **extra: object
) -> Finding:
    return Finding(kind, severity, kind, (0,), 40, 90, cleared_step=cleared, extra=dict(extra))


def test_fixes_toggle_in_the_order_pressed_and_reset() -> None:
    state = LessonState(VANISHING).toggle("he_init").toggle("relu")
    assert state.applied == ("he_init", "relu")
    assert state.overrides() == {"activation": "relu", "init": "he"}
    assert state.toggle("he_init").applied == ("relu",)
    assert state.reset().applied == () and state.reset().overrides() == {}
    with pytest.raises(KeyError, match="no fix 'clip'"):
        state.toggle("clip")
    meta = state.meta("s1")[DEMO_META]
    assert meta == {"demo": "vanishing", "fixes": ["he_init", "relu"], "session": "s1"}


def test_suggestions_follow_the_claims_from_where_the_student_is() -> None:
    assert suggestions(VANISHING, frozenset()) == ("relu", "batchnorm", "residual")
    assert suggestions(VANISHING, frozenset({"relu"})) == ("he_init", "batchnorm")
    assert suggestions(VANISHING, frozenset({"relu", "he_init"})) == ("batchnorm", "lower_lr")
    assert suggestions(VANISHING, frozenset({"relu", "he_init", "batchnorm"})) == ()


def test_worst_by_kind_keeps_cleared_findings_and_causes() -> None:
    worst = worst_by_kind(
        [
            finding("exploding", Severity.CRITICAL, cleared=60, cause="init"),
            finding("exploding", Severity.WARNING, cause="growth"),
            finding("loss_plateau", Severity.INFO),
        ]
    )
    assert worst == {
        "exploding": 2,
        "exploding:init": 2,
        "exploding:growth": 1,
        "loss_plateau": 0,
    }


def test_claims_clear_below_warning_and_soften_below_the_old_level() -> None:
    he = find_claim(VANISHING, frozenset({"relu"}), "he_init")
    relu = find_claim(VANISHING, frozenset(), "relu")
    assert he is not None and relu is not None
    assert claim_holds(he, {"vanishing": 1}, {"dead_units": 2})
    assert not claim_holds(he, {"vanishing": 1}, {"vanishing": 1})
    assert not claim_holds(he, {}, {}), "nothing to clear: the claim cannot be shown"
    assert claim_holds(relu, {"vanishing": 2}, {"vanishing": 1})
    assert not claim_holds(relu, {"vanishing": 2}, {"vanishing": 2})
    frozen = DEMOS["frozen_layer"].claims[0]
    assert not claim_holds(frozen, {"frozen": 0}, {"frozen": 0}), "info clears only when gone"


def test_advice_on_the_broken_net() -> None:
    state = LessonState(VANISHING)
    watching = advise(state, [], steps=20, finished=False)
    assert watching.status == "watching" and watching.suggest == ()
    sick = advise(state, [finding("vanishing", Severity.CRITICAL)], steps=60, finished=False)
    assert sick.status == "sick" and sick.kinds == ("vanishing",)
    assert sick.suggest == ("relu", "batchnorm", "residual") and sick.claim is None


def test_verdict_waits_for_enough_steps_then_judges() -> None:
    state = LessonState(VANISHING).toggle("relu")
    before = {"vanishing": 2}
    early = advise(state, [], steps=30, finished=False, before=before)
    assert early.status == "watching" and early.verdict == "wait"
    mild = [finding("vanishing", Severity.WARNING), finding("dead_units", Severity.CRITICAL)]
    judged = advise(state, mild, steps=150, finished=False, before=before)
    # vanishing softened as promised, but dead units came critical: not "as expected"
    assert judged.status == "sick" and judged.verdict == "traded"
    assert judged.new_kinds == ("dead_units",)
    assert judged.suggest == ("he_init", "batchnorm")
    softer = advise(state, mild[:1], steps=150, finished=False, before=before)
    assert softer.verdict == "soft_ok" and softer.new_kinds == ()
    still = advise(state, [finding("vanishing", Severity.CRITICAL)], 150, False, before)
    assert still.verdict == "bad"


def test_a_cleared_kind_that_comes_back_fails_at_once() -> None:
    state = LessonState(VANISHING).toggle("relu").toggle("he_init")
    back = advise(state, [finding("vanishing", Severity.WARNING)], 50, False, {"vanishing": 1})
    assert back.verdict == "bad"
    gone = advise(state, [], 150, False, {"vanishing": 1})
    assert gone.status == "healthy" and gone.verdict == "ok"
    assert gone.alternatives == ("batchnorm", "residual"), "other cures from the start"


def test_no_verdict_on_a_finding_the_earlier_run_never_had() -> None:
    """Another seed may fail differently: the lesson then says nothing rather than lie."""
    state = LessonState(DEMOS["exploding_lr"]).toggle("lower_lr")
    advice = advise(state, [], 80, True, before={"dead_units": 2})
    assert advice.claim is None and advice.verdict == ""
    unknown = advise(state, [], 80, True, before=None)  # headless: assume the lesson's case
    assert unknown.claim is not None and unknown.verdict == "ok"


def test_a_reference_demo_is_healthy_once_judged() -> None:
    state = LessonState(DEMOS["healthy"])
    assert advise(state, [], 20, False).status == "watching"
    done = advise(state, [finding("loss_plateau", Severity.INFO)], 150, False)
    assert done.status == "healthy" and done.suggest == () and done.alternatives == ()


def test_a_finding_that_cleared_still_counts() -> None:
    """The RNN's explosion clears after one step wrecks the weights: still the lesson."""
    state = LessonState(DEMOS["exploding_rnn"])
    calm = [finding("exploding", Severity.CRITICAL, cleared=51)]
    advice = advise(state, calm, steps=200, finished=False)
    assert advice.status == "sick" and advice.kinds == () and advice.earlier == ("exploding",)
    assert advice.suggest == ("clip", "gain_1")
    info_only = advise(state, [finding("loss_plateau", Severity.INFO, cleared=90)], 200, False)
    assert info_only.status == "healthy" and info_only.earlier == ()


def test_info_findings_are_noted_on_a_healthy_run() -> None:
    """The frozen-layer lesson is that frozen is info, not vanishing: the lesson must say
    the info finding, not only 'no warnings'."""
    state = LessonState(DEMOS["frozen_layer"])
    findings = [
        finding("frozen", Severity.INFO),
        finding("loss_plateau", Severity.INFO),  # active, but not what this lesson teaches
        finding("dead_units", Severity.INFO, cleared=60),
    ]
    advice = advise(state, findings, 40, False)
    assert advice.status == "healthy"
    assert advice.notes == ("frozen",)
    # On the vanishing lesson's cured net, a plateau info is no note.
    cured = advise(LessonState(VANISHING), [finding("loss_plateau", Severity.INFO)], 150, False)
    assert cured.status == "healthy" and cured.notes == ()

"""A finding's step range is said once: not again after a title that already says it."""

from __future__ import annotations

from gradtop.diagnosis import Finding, Severity
from gradtop.ui.findings_text import finding_lines


def _head(title: str, first: int, last: int) -> str:
    f = Finding(
        kind="nonfinite",
        severity=Severity.CRITICAL,
        title=title,
        params=(0,),
        first_step=first,
        last_step=last,
    )
    return "".join(text for text, _ in finding_lines(f, detail=False)[0])


def test_a_title_that_says_since_when_is_not_followed_by_the_same_words() -> None:
    head = _head("NaN/Inf weights: training is broken since step 2", 2, 6)
    assert head.count("since step 2") == 1, head


def test_other_titles_still_get_their_step_range() -> None:
    assert _head("Exploding gradients in 3 layers", 10, 40).endswith("  (since step 10)")
    assert _head("Exploding gradients in 3 layers", 7, 7).endswith("  (step 7)")

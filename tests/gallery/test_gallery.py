"""The gallery: realistic small models, healthy and broken, each trained once per session.

(a) ``test_evidence_supports_label``: the run's own measurements (cases.py ``Probe``)
show what the case's label says. These must pass: a failing one means the case is
mislabelled, not that gradtop is wrong.

(b) ``test_gradtop_diagnosis``: gradtop's diagnosis of the same file fits the label
(judge.py): the right kind, by step 60, on the right layers, with fixes that fit the
model, and no evidence line whose number contradicts its threshold.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gallery.cases import ALL_BY_NAME, CASES, CaseResult, run_case, variants
from tests.gallery.judge import describe, judge, seen_findings

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore")]

_RUNS: dict[str, CaseResult] = {}


@pytest.fixture(scope="session")
def gallery_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gallery")


@pytest.fixture
def trained(request: pytest.FixtureRequest, gallery_dir: Path) -> CaseResult:
    """Each case trains once per session; (a) and (b) share its file and evidence."""
    name = request.param
    if name not in _RUNS:
        _RUNS[name] = run_case(ALL_BY_NAME[name], gallery_dir)
    return _RUNS[name]


# Every case, and again with other seeds and widths (cases.variants): a rule tuned to one
# run must hold on its variations too.
NAMES = [c.name for c in CASES] + [c.name for c in variants()]


@pytest.mark.parametrize("trained", NAMES, indirect=True)
def test_evidence_supports_label(trained: CaseResult) -> None:
    failed = [text for text, ok in trained.claims if not ok]
    assert trained.claims, f"{trained.case.name}: no claims"
    assert not failed, f"{trained.case.name}: evidence does not support the label: {failed}"


@pytest.mark.parametrize("trained", NAMES, indirect=True)
def test_gradtop_diagnosis(trained: CaseResult) -> None:
    findings = seen_findings(trained.path)
    problems = judge(trained.case, findings, trained.evidence)
    assert not problems, (
        f"{trained.case.name} (expected {trained.case.expected}): {problems}; "
        f"gradtop found: {describe(findings) or 'nothing at warning+'}"
    )

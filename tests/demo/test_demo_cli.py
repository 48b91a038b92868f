"""``gradtop demo --no-ui`` through the real CLI: every demo teaches its finding, and every
fix of every lesson does what the lesson claims (the claims are replayed, not trusted).

Runs are short (the scenario suite calibrates the rules on full-length runs) and each
distinct recipe is trained once and shared by the tests that need it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from gradtop.cli import main
from gradtop.demos.scenarios import SCENARIOS
from gradtop.diagnosis import Severity
from gradtop.teaching.lesson import DEMOS, Claim, Demo, claim_holds
from tests.demo.demo_support import worst_in_file

pytestmark = pytest.mark.slow

# Steps per demo: enough for every finding its lesson relies on (docs/diagnosis.md).
STEPS = {
    "vanishing": 150,
    "exploding": 40,
    "exploding_lr": 60,
    "exploding_rnn": 80,
    "dead_relu": 100,
    "lr_too_low": 150,
    "lr_too_high": 60,
    "frozen_layer": 40,
    "unused_layer": 40,
    "healthy": 150,
    "transformer": 100,
}
WARNING = int(Severity.WARNING)
Cache = dict[tuple[str, frozenset[str]], tuple[Path, str]]


@pytest.fixture(autouse=True, scope="module")
def _keep_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained() -> Cache:
    return {}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo_runs")


def _headless(
    demo: Demo,
    fixes: frozenset[str],
    trained: Cache,
    runs_dir: Path,
) -> tuple[Path, str]:
    """Train ``demo`` with ``fixes`` through the CLI once; the file and the CLI's output."""
    key = (demo.name, fixes)
    out = runs_dir / f"{demo.name}-{'-'.join(sorted(fixes)) or 'original'}.jsonl"
    if key in trained:
        return trained[key]
    args = ["demo", demo.name, "--no-ui", "--steps", str(STEPS[demo.name]), "--out", str(out)]
    for f in sorted(fixes):
        args += ["--fix", f]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    trained[key] = (out, result.output)
    return trained[key]


@pytest.mark.parametrize("name", list(DEMOS))
def test_each_demo_teaches_its_finding(name: str, trained: Cache, runs_dir: Path) -> None:
    demo = DEMOS[name]
    scenario = SCENARIOS[demo.scenario]
    out, output = _headless(demo, frozenset(), trained, runs_dir)
    worst = worst_in_file(out)
    for kind in scenario.expect:
        assert worst.get(kind, -1) >= WARNING, f"{name}: {kind} missing in {worst}"
    for kind in scenario.expect_info:
        if kind == "loss_plateau":  # needs a 100-step window: tests/scenarios covers it
            continue
        assert kind in worst, f"{name}: {kind} missing in {worst}"
    if not scenario.expect and not scenario.expect_info:
        loud = {k: v for k, v in worst.items() if v >= WARNING}
        assert loud == {}, f"{name} should be healthy: {loud}"
    # The printed report is the check report plus the lesson.
    assert f"gradtop demo {name}" in output and "gradtop check" in output
    assert "What you are seeing" in output and "Why it happens" in output


CLAIMS = [(d.name, c) for d in DEMOS.values() for c in d.claims]


@pytest.mark.parametrize(
    ("name", "claim"),
    CLAIMS,
    ids=[f"{n}:{'+'.join(sorted(c.before)) or 'original'}>{c.fix}" for n, c in CLAIMS],
)
def test_each_fix_removes_what_it_targets(
    name: str,
    claim: Claim,
    trained: Cache,
    runs_dir: Path,
) -> None:
    demo = DEMOS[name]
    before_path, _ = _headless(demo, claim.before, trained, runs_dir)
    after_path, _ = _headless(demo, claim.before | {claim.fix}, trained, runs_dir)
    before, after = worst_in_file(before_path), worst_in_file(after_path)
    for kind in (*claim.clears, *claim.softens):
        assert kind in before, f"{kind} must be there before {claim.fix}: {before}"
    assert claim_holds(claim, before, after), f"{claim}: before {before}, after {after}"


def test_headless_output_judges_the_fix_and_names_the_next(tmp_path: Path) -> None:
    out = tmp_path / "relu.jsonl"
    args = ["demo", "--no-ui", "--steps", "120", "--out", str(out), "--fix", "relu"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "changes: ReLU (Sigmoid → ReLU)" in text
    assert "step   120/120" in text
    # ReLU alone softens vanishing, and the default init leaves most units dead: the
    # verdict says both, never a bare "as expected" beside a critical finding
    assert "✓ vanishing gradients no longer critical, ✗ but now dead units" in text
    assert f"--fix relu --fix he_init --out {out}" in text  # the next step, ready to paste


def test_a_run_stopped_by_nan_says_why(trained: Cache, runs_dir: Path) -> None:
    _, text = _headless(DEMOS["exploding"], frozenset(), trained, runs_dir)
    assert f"step    40/{STEPS['exploding']}" not in text  # it did stop early
    assert "the loss has been NaN/Inf since step" in text


def test_chinese_headless_output(tmp_path: Path) -> None:
    out = tmp_path / "zh.jsonl"
    args = ["demo", "dead_relu", "--no-ui", "--steps", "40", "--lang", "zh", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "你看到的现象" in result.output and "为什么会这样" in result.output
    assert "--fix bias_0 --lang zh" in result.output


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["demo", "nope", "--no-ui"])
    assert bad.exit_code == 2 and "unknown demo 'nope'" in bad.output
    assert "Traceback" not in bad.output
    fix = runner.invoke(main, ["demo", "vanishing", "--no-ui", "--fix", "clip"])
    assert fix.exit_code == 2 and "has no fix 'clip'" in fix.output and "relu" in fix.output
    listing = runner.invoke(main, ["demo", "--list"])
    assert listing.exit_code == 0
    for name in DEMOS:
        assert f"  {name} " in listing.output


CURES = [(d.name, f) for d in DEMOS.values() for f in d.cures]


@pytest.mark.parametrize(("name", "fix"), CURES, ids=[f"{n}:{f}" for n, f in CURES])
def test_each_cure_alone_removes_what_the_demo_teaches(
    name: str, fix: str, trained: Cache, runs_dir: Path
) -> None:
    demo = DEMOS[name]
    scenario = SCENARIOS[demo.scenario]
    after, _ = _headless(demo, frozenset({fix}), trained, runs_dir)
    worst = worst_in_file(after)
    for kind in scenario.expect:
        assert worst.get(kind, -1) < WARNING, f"{name} + {fix}: {kind} still {worst}"
    for kind in scenario.expect_info:
        assert kind not in worst, f"{name} + {fix}: {kind} still there"

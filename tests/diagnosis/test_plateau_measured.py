"""A plateau's explanation says what was measured: the Logger measures update ratios on
detail steps only, so the step the finding is judged at usually has none, yet the run
does; "not measured" is then false (seen on a real run with the optimizer passed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import gradtop
from gradtop.diagnosis import Finding
from gradtop.teaching.scorecard import diagnose_file


def _train(path: Path, **logger: object) -> None:
    """Random labels: no model can learn them, so the loss plateaus near chance. The
    plateau ends before the newest steps, whose rows alone still hold update ratios in
    the diagnosis's window: the case that read "not measured"."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 2),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(256, 8), torch.randint(0, 2, (256,))
    with gradtop.Logger(path, model, opt, **logger) as log:
        for _ in range(300):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            log.log(loss)
            opt.step()


def _plateau(path: Path) -> Finding:
    _, findings = diagnose_file(path)
    found = [f for f in findings if f.kind == "loss_plateau"]
    assert found, [f.kind for f in findings]
    return found[0]


@pytest.mark.slow
def test_a_plateau_with_measured_updates_does_not_say_unmeasured(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    _train(path)
    steps = [json.loads(line) for line in path.read_text().splitlines()]
    ratios = [r["stats"]["update_ratio"] for r in steps if r["kind"] == "step"]
    measured = [r for r in ratios if any(v is not None for v in r)]
    assert 0 < len(measured) < len(ratios)  # detail steps only: the case that misled
    plateau = _plateau(path)
    assert "was not measured" not in plateau.explanation
    assert any(e.metric == "median update/weight ratio" for e in plateau.evidence)


@pytest.mark.slow
def test_without_update_ratios_the_plateau_says_so(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    _train(path, update_ratio=False)
    assert "was not measured" in _plateau(path).explanation

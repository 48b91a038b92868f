"""The words ``gradtop check`` prints are true of what it did: a one-shot read does not say
"following", and ``--follow`` text reports a finding that changed severity as --json does."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from click.testing import CliRunner

from gradtop.check_summary import CheckSummary, FindingReport, RunReport
from gradtop.check_text import describe_changes
from gradtop.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_one_shot_read_says_read_and_follow_says_following() -> None:
    path = str(DATA / "healthy.jsonl")
    once = CliRunner().invoke(main, ["check", "--json", path])
    assert once.exit_code == 0, once.stderr
    assert json.loads(once.stdout)["state"] == "read"
    follow = ["--follow", "--idle-exit", "0.3", "--poll", "--tick", "0.05"]
    followed = CliRunner().invoke(main, ["check", "--json", *follow, path])
    assert followed.exit_code == 0, followed.stderr
    states = {json.loads(line)["state"] for line in followed.stdout.splitlines()}
    assert states == {"following"}
    text = CliRunner().invoke(main, ["check", path])
    assert "file read" not in text.stdout and "file following" not in text.stdout


def test_follow_text_reports_a_finding_whose_severity_rose() -> None:
    info = FindingReport(
        kind="loss_plateau",
        key="loss_plateau",
        severity="info",
        active=True,
        title="The loss has stopped improving",
        first_step=100,
        last_step=200,
    )
    warning = dataclasses.replace(info, severity="warning", last_step=300)
    run = RunReport(run_id="r1", steps=200, findings=(info,))
    prev = CheckSummary("run.jsonl", state="following", run=run)
    cur = dataclasses.replace(prev, run=dataclasses.replace(run, findings=(warning,)))
    lines = describe_changes(prev, cur)
    assert any(line.lstrip().startswith("WARNING") and info.title in line for line in lines), lines
    assert describe_changes(cur, cur) == []


def test_user_scalars_and_the_loggers_own_cost_are_reported(tmp_path: Path) -> None:
    """``log.log(loss, accuracy=acc)`` is stored, so check shows it (text and --json), and
    the Logger's measured share of the step time, computed here from the file itself."""
    import torch

    import gradtop

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "run.jsonl"
    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    with gradtop.Logger(path, model, opt) as log:
        for _ in range(20):
            opt.zero_grad()
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out, y)
            loss.backward()
            accuracy = (out.argmax(1) == y).float().mean().item()
            log.log(loss, accuracy=accuracy, phase_two=0.5)
            opt.step()
    steps = [json.loads(line) for line in path.read_text().splitlines()]
    steps = [r for r in steps if r["kind"] == "step"]
    spent = sum(r["logger_time"] for r in steps[1:])
    wall = sum(r["step_time"] for r in steps[1:])
    result = CliRunner().invoke(main, ["check", "--json", str(path)])
    report = json.loads(result.stdout)
    assert report["scalars"] == {"accuracy": steps[-1]["scalars"]["accuracy"], "phase_two": 0.5}
    assert abs(report["logger_share"] - spent / wall) < 1e-9
    text = CliRunner().invoke(main, ["check", str(path)]).stdout
    assert f"  scalars   accuracy {steps[-1]['scalars']['accuracy']:.4g}, phase_two 0.5" in text
    assert f"gradtop took {spent / wall:.1%} of the step time" in text

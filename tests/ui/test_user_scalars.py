"""What ``log.log(loss, accuracy=acc)`` stores, and the Logger's own measured cost, reach
the dashboard: drawn from a file written by the real Logger on a tiny model, read
through the real reader, and checked against the file's own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradtop.ui.app import GradtopApp
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded

STEPS = 30


@pytest.fixture(scope="module")
def scalar_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 steps of a tiny classifier, logged with accuracy and a made-up f1 each step."""
    import torch

    import gradtop

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path_factory.mktemp("scalars") / "run.jsonl"
    x, y = torch.randn(64, 8), torch.randint(0, 2, (64,))
    with gradtop.Logger(path, model, opt) as log:
        for i in range(STEPS):
            opt.zero_grad()
            out = model(x)
            loss = torch.nn.functional.cross_entropy(out, y)
            loss.backward()
            accuracy = (out.argmax(1) == y).float().mean().item()
            log.log(loss, accuracy=accuracy, f1=0.5 + i / 100)
            opt.step()
    return path


def step_records(path: Path) -> list[dict]:  # type: ignore[type-arg]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if r["kind"] == "step"]


def header_text(app: GradtopApp) -> str:
    return str(app.header.render())


async def test_the_header_shows_the_loggers_measured_share(scalar_run: Path) -> None:
    steps = step_records(scalar_run)
    share = sum(r["logger_time"] for r in steps[1:]) / sum(r["step_time"] for r in steps[1:])
    app = make_app(scalar_run)
    async with app.run_test(size=(200, 40)) as pilot:
        await until_loaded(pilot)
        assert f"gradtop {share:.1%} of step time" in header_text(app)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        app.redraw(full=True)
        narrow = header_text(app)
        assert "of step time" not in narrow and f"step {steps[-1]['step']}" in narrow


async def test_no_cost_is_claimed_for_a_file_that_did_not_record_it() -> None:
    app = make_app(fixture_path("healthy.jsonl"))  # format 1.2: no logger_time
    async with app.run_test(size=(200, 40)) as pilot:
        await until_loaded(pilot)
        assert "step" in header_text(app) and "of step time" not in header_text(app)

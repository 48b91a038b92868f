"""What ``log.log(loss, accuracy=acc)`` stores, and the Logger's own measured cost, reach
the dashboard: drawn from a file written by the real Logger on a tiny model, read
through the real reader, and checked against the file's own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradtop.history import History, RunHistory
from gradtop.ui.app import GradtopApp
from gradtop.ui.format import fmt_loss
from gradtop.ui.loss_plot import LossPlot
from gradtop.ui.loss_summary import loss_line
from gradtop.ui.scalar_strip import scalar_names, scalar_strip
from gradtop.ui.series import EMPTY, scalar_series
from tests.support import read_records, wait_until
from tests.ui.test_loss_title import _plot_text
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


def read_run(path: Path) -> RunHistory:
    history = History()
    for record in read_records(path):
        history.add(record)
    run = history.current
    assert run is not None
    return run


def text(frags: list[tuple[str, str]]) -> str:
    return "".join(t for t, _ in frags)


def newest_scalars(path: Path) -> dict[str, float]:
    return step_records(path)[-1]["scalars"]


def test_the_strip_shows_each_scalars_newest_value_in_logged_order(scalar_run: Path) -> None:
    run = read_run(scalar_run)
    newest = newest_scalars(scalar_run)
    assert scalar_names(run) == ["accuracy", "f1"]
    line = text(scalar_strip(run, 120))
    acc, f1 = f"accuracy {fmt_loss(newest['accuracy'])} ", f"f1 {fmt_loss(newest['f1'])} "
    assert line.startswith(acc) and f1 in line and line.index(acc) < line.index(f1)
    glyphs = line.split(f1, 1)[1].split(" ", 1)[0]
    assert len(glyphs) == 10 and glyphs[0] == "▁" and glyphs[-1] == "█"
    assert list(glyphs) == sorted(glyphs), "f1 rises each step: so does its sparkline"
    assert line.endswith("v plots one")


def test_a_narrow_strip_counts_what_it_left_out(scalar_run: Path) -> None:
    run = read_run(scalar_run)
    line = text(scalar_strip(run, 45))
    assert line.startswith("accuracy ") and "f1" not in line
    assert line.endswith("+1 more (v)") and len(line) <= 45
    assert text(scalar_strip(run, 30)) == "2 scalars logged (v shows each)"


def test_a_run_without_user_scalars_has_no_strip() -> None:
    run = read_run(fixture_path("healthy.jsonl"))
    assert scalar_names(run) == [] and scalar_strip(run, 200) == []
    assert scalar_strip(None, 200) == []


async def test_v_cycles_the_loss_plot_through_each_scalar(scalar_run: Path) -> None:
    newest = newest_scalars(scalar_run)
    app = make_app(scalar_run)
    async with app.run_test(size=(200, 40)) as pilot:
        await until_loaded(pilot)
        assert app.scalar_strip.display and app.scalar_strip.region.height == 1
        strip = str(app.scalar_strip.render())
        assert f"accuracy {fmt_loss(newest['accuracy'])}" in strip
        plot = app.query_one(LossPlot)
        for title in (
            f"accuracy {fmt_loss(newest['accuracy'])} (v: next)",
            f"f1 {fmt_loss(newest['f1'])} (v: next)",
            "loss ",
        ):
            await pilot.press("v")
            await wait_until(
                pilot,
                lambda title=title: title in " ".join(_plot_text(plot).split()),
                f"the plot titled {title!r}",
            )
        assert "(v: next)" not in " ".join(_plot_text(plot).split())


async def test_at_80x24_v_puts_each_scalar_in_the_loss_line(scalar_run: Path) -> None:
    newest = newest_scalars(scalar_run)
    app = make_app(scalar_run)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        assert not app.scalar_strip.region.area  # no room: the loss line carries them
        line = str(app.loss_line.render())
        assert line.startswith("loss ") and line.endswith("  v: 2 scalars"), line
        for name in ("accuracy", "f1"):
            await pilot.press("v")
            want = f"{name} {fmt_loss(newest[name])} "
            await wait_until(
                pilot, lambda want=want: str(app.loss_line.render()).startswith(want), want
            )
            line = str(app.loss_line.render())
            assert "lr " not in line, "the lr belongs to the loss"
            assert line.endswith("  v: next"), line
        await pilot.press("v")
        await wait_until(pilot, lambda: str(app.loss_line.render()).startswith("loss "), "back")


async def test_v_says_how_to_log_scalars_when_there_are_none() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=(200, 40), notifications=True) as pilot:
        await until_loaded(pilot)
        assert not app.scalar_strip.region.area
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: app.loss_line.region.area > 0, "the 80x24 loss line")
        assert "v:" not in str(app.loss_line.render())
        await pilot.press("v")
        await wait_until(
            pilot,
            lambda: any(
                "no scalars logged (log.log(loss, accuracy=acc))" in str(t.render())
                for t in app.query("Toast")
            ),
            "a notification says how",
        )
        assert app.plot_name is None


def test_a_scalars_line_has_no_good_direction_and_drops_the_hint_first(
    scalar_run: Path,
) -> None:
    """f1 rises each step: "↑" is right, but a warning tone would call that bad."""
    run = read_run(scalar_run)
    series, smooth = scalar_series(run, "f1")
    wide = loss_line(
        series, smooth, EMPTY, 80, log=False, steps=run.steps, name="f1", hint="v: next"
    )
    assert text(wide).startswith(f"f1 {fmt_loss(newest_scalars(scalar_run)['f1'])} ")
    arrow = next(f for f in wide if f[0].startswith("  ↑"))
    assert arrow[1] not in ("ok", "warning") and text(wide).endswith("  v: next")
    narrow = text(
        loss_line(series, smooth, EMPTY, 36, log=False, steps=run.steps, name="f1", hint="v: next")
    )
    assert "v: next" not in narrow and "↑" in narrow

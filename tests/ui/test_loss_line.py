"""The compact layout's loss line: every claim it makes is checked against the numbers,
and ``l`` does something visible at every size (or says why it cannot)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gradtop.ui.format import fmt_loss
from gradtop.ui.loss_line import LossLine
from gradtop.ui.loss_plot import LossPlot
from gradtop.ui.loss_summary import loss_line, trend
from gradtop.ui.series import EMPTY, Series, ema
from tests.support import wait_until
from tests.ui.test_dashboard_truth import _lesson_app
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded


def series(values: list[float], bad: tuple[int, ...] = ()) -> Series:
    steps = np.arange(1, len(values) + 1, dtype=float)
    return Series(steps, np.array(values, dtype=float), np.array(bad, dtype=float))


def text(frags: list[tuple[str, str]]) -> str:
    return "".join(t for t, _ in frags)


def test_trend_states_the_measured_change_of_the_smoothed_loss() -> None:
    falling = series([2.0 - 0.01 * i for i in range(120)])
    smooth = ema(falling.values, 8)
    change = (smooth[-1] - smooth[-51]) / smooth[-51]
    assert trend(falling, smooth) == (f"↓ {abs(change):.0%} in 50 steps", "ok")
    rising = series([1.0 + 0.02 * i for i in range(120)])
    assert trend(rising, ema(rising.values, 8))[0].startswith("↑ ")
    flat = series([1.0 + 0.001 * (-1) ** i for i in range(120)])
    assert trend(flat, ema(flat.values, 8)) == ("→ flat in 50 steps", "muted")
    short = series([1.0, 0.9])
    assert trend(short, short.values) == ("", ""), "two points are no trend"


def test_the_line_shows_the_newest_loss_the_non_finite_step_and_fits() -> None:
    loss = series([3.0, 2.5, 2.0, 1.5, 1.25], bad=(6, 7))
    lr = series([0.1] * 5)
    for width in (40, 78, 200):
        frags = loss_line(loss, ema(loss.values, 4), lr, width, log=False, steps=7)
        line = text(frags)
        assert line.startswith("loss ✖ NaN/Inf since step 6"), line
        assert (", last finite 1.25 " in line) is (width > 40) and len(line) <= width
    recovered = Series(loss.steps, loss.values, np.array([3.0]))  # step 3 was NaN, not now
    line = text(loss_line(recovered, recovered.values, lr, 78, log=False, steps=5))
    assert line.startswith("loss 1.25 ") and "✖ NaN/Inf at step 3" in line
    assert "lr 0.1" in text(loss_line(recovered, recovered.values, lr, 78, log=False, steps=5))
    assert "lr" not in text(loss_line(recovered, recovered.values, lr, 40, log=False, steps=5))
    logged = text(loss_line(loss, loss.values, lr, 78, log=True, steps=6))
    assert "[log]" in logged


def test_no_loss_says_why() -> None:
    waiting = text(loss_line(EMPTY, np.zeros(0), EMPTY, 78, log=False, steps=0))
    assert "waiting for the first step" in waiting
    unlogged = text(loss_line(EMPTY, np.zeros(0), EMPTY, 78, log=False, steps=10))
    assert "not logged" in unlogged


async def test_80x24_shows_the_loss_and_l_switches_its_scale() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        line = app.query_one(LossLine)
        assert line.region.height == 1 and not app.query_one(LossPlot).region.area
        run = app.current_run()
        assert run is not None
        last = float(run.scalars["loss"].column(0).last[-1])
        await wait_until(pilot, lambda: "loss " in str(line.render()), "the loss line drawn")
        shown = str(line.render())
        assert shown.startswith(f"loss {last:.4g} ") and "lr " in shown and " in " in shown
        await pilot.press("l")
        assert "[log]" in str(line.render()) and app.query_one(LossPlot).log_scale
        await pilot.press("l")
        assert "[log]" not in str(line.render())


async def test_the_roomy_layout_has_the_plot_not_the_line() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=(160, 48)) as pilot:
        await until_loaded(pilot)
        assert not app.query_one(LossLine).region.area
        assert app.query_one(LossPlot).region.height > 6


async def test_l_says_why_when_no_loss_view_is_on_screen(tmp_path: Path) -> None:
    """The lesson at 80x24 gives the top rows to its panel: no plot, no loss line."""
    app, _runner = _lesson_app(tmp_path / "lesson.jsonl")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await wait_until(
            pilot,
            lambda: any("No loss plot or loss line" in str(t.render()) for t in app.query("Toast")),
            "a notification says why l shows nothing",
        )


async def test_the_last_records_reach_the_loss_line_without_more_data(
    copy_fixture: Callable[[str], Path],
) -> None:
    """The loss views redraw at most once a second; records that came inside that second,
    with nothing after them (a finished run, a pause), must still be drawn."""
    path = copy_fixture("healthy.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:101]))
    app = make_app(path, tick=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        line = app.query_one(LossLine)
        before = fmt_loss(json.loads(lines[100])["loss"])
        await wait_until(pilot, lambda: f"loss {before} " in str(line.render()), "step 100")
        after = fmt_loss(json.loads(lines[110])["loss"])
        assert after != before
        with path.open("ab") as f:
            f.write(b"".join(lines[101:111]))
        await wait_until(pilot, lambda: f"loss {after} " in str(line.render()), "step 110 drawn")

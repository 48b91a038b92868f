"""The loss plot's title: the loss now, shown at every width.

plotext drops a title that does not fit: at 100 columns, after ``l``, the exploding
run's title (loss, NaN step, lr, [log]) vanished. And "loss 89.69" read as the current
loss of a run whose loss had been NaN for five steps.
"""

from __future__ import annotations

import numpy as np

from gradtop.ui.loss_plot import LossPlot, loss_title
from gradtop.ui.series import Series
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded


def _loss(values: list[float], bad: list[float]) -> Series:
    steps = np.arange(1, len(values) + 1, dtype=float)
    return Series(steps, np.array(values), np.array(bad, dtype=float))


def test_a_loss_that_is_nan_now_is_not_shown_as_its_last_finite_value() -> None:
    title = loss_title(_loss([2.3, 5.0, 89.69], bad=[4.0, 5.0]))
    assert title == "loss ✖ NaN/Inf since step 4, last finite 89.69"
    assert loss_title(_loss([], bad=[1.0])) == "loss ✖ NaN/Inf since step 1"


def test_a_loss_that_recovered_shows_its_value_and_the_nan_step() -> None:
    title = loss_title(_loss([2.3, 2.2, 2.1, 2.0], bad=[2.5]))
    assert title == "loss 2  ✖ NaN/Inf at step 2"
    assert loss_title(_loss([2.3], bad=[])) == "loss 2.3"


def _plot_text(plot: LossPlot) -> str:
    return "\n".join(
        "".join(seg.text for seg in plot.render_line(y)) for y in range(plot.size.height)
    )


async def test_the_title_shows_at_100_columns_in_log_scale() -> None:
    app = make_app(fixture_path("exploding.jsonl"))
    async with app.run_test(size=(100, 40)) as pilot:
        await until_loaded(pilot)
        await pilot.press("l")
        await pilot.pause()
        plot = app.query_one(LossPlot)
        text = " ".join(_plot_text(plot).split())
        assert "loss ✖ NaN/Inf since step 186" in text and "[log]" in text, text

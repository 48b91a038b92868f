"""The detail screen's axes and words: short labels, no invented range, a message at every size.

A run whose first layer starves the way the vanishing demo's does (gradients of 1e-17,
so the weights never change in float32 and the update ratio is exactly 0) is written to
a real file, read by the real app, and the panels are read back as the user sees them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from gradtop.records import End, Header, Step
from gradtop.ui.detail_screen import DetailScreen, StatPlot
from gradtop.ui.plot_base import axis_labels, linear_ticks, nothing_to_plot
from gradtop.ui.series import Series
from tests.data.make_fixtures import DT, T0, header, mlp_params, steps, wobble, write
from tests.support import wait_until
from tests.ui.ui_helpers import make_app, until_loaded

STARVED = (0, 1)  # the first layer's weight and bias
N_STEPS = 120


def starved_run() -> list[Header | Step | End]:
    """Six layers; the first gets |grad| ~3e-17: too small to move a float32 weight."""
    head = header("starved-0001", mlp_params(6), model="DeepSigmoidMLP", activations=("Sigmoid",))

    def norm(s: int, i: int, n: int) -> float:
        return (3e-17 if i in STARVED else 0.05) * wobble(s, i)

    out: list[Header | Step | End] = [head]
    for step in steps(head, N_STEPS, norm, lambda s: 2.3 - 0.001 * s):
        stats = {k: list(v) for k, v in step.stats.items()}
        for i in STARVED:
            stats["weight_norm"][i] = 4.65
            stats["update_ratio"][i] = None if step.step == 1 else 0.0  # no update yet
        out.append(dataclasses.replace(step, stats=stats))
    out.append(End(head.run_id, seq=N_STEPS + 1, time=T0 + (N_STEPS + 1) * DT, steps=N_STEPS))
    return out


@pytest.fixture
def starved_file(tmp_path: Path) -> Path:
    path = tmp_path / "starved.jsonl"
    write(path, starved_run())
    return path


def panel_text(plot: StatPlot) -> str:
    """What the panel shows inside its border, line by line, as plain text."""
    height = plot.content_region.height
    return "\n".join("".join(seg.text for seg in plot.render_line(y)) for y in range(height))


async def open_detail(pilot, index: int = 0) -> DetailScreen:  # type: ignore[no-untyped-def]
    app = pilot.app
    await until_loaded(pilot)
    await pilot.press(*(["down"] * index), "enter")
    await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen), "detail screen")
    app.redraw()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, DetailScreen)
    return screen


# ---------------------------------------------------------------------------- labels


def test_tiny_linear_ticks_are_short_and_read_back_as_their_values() -> None:
    ticks, labels = linear_ticks(3e-17, 8e-17)
    assert labels == ["4e-17", "6e-17", "8e-17"]
    assert all(float(t) == pytest.approx(v) for t, v in zip(labels, ticks, strict=True))
    _ticks, labels = linear_ticks(0.0, 3e-16)
    assert "3e-16" in labels and all(len(t) <= 6 for t in labels)


def test_axis_labels_never_round_a_tick_to_another_value() -> None:
    assert axis_labels([4.5, 5.0]) == ["4.5", "5"]  # '%.1g' would print 4 for 4.5
    assert axis_labels([4.6500001, 4.6500002]) == ["4.6500001", "4.6500002"]
    ticks, labels = linear_ticks(4.19, 5.12)
    assert labels == ["4.2", "4.4", "4.6", "4.8", "5"] and len(ticks) <= 5
    assert linear_ticks(0, 40000, 3)[1] == ["0", "20,000", "40,000"]  # not 26666.7
    assert linear_ticks(2.0, 2.2, 5)[1] == ["2", "2.05", "2.1", "2.15", "2.2"]


# ---------------------------------------------------------------------------- words


def _series(values: list[float], bad: list[float] | None = None) -> Series:
    steps_ = np.arange(1, len(values) + 1, dtype=float)
    return Series(steps_, np.array(values, dtype=float), np.array(bad or [], dtype=float))


def test_all_zero_and_flat_series_are_said_in_words() -> None:
    zeros = _series([0.0] * 50)
    assert nothing_to_plot([zeros], log=False, finished=True) == "all values are 0 (steps 1–50)"
    on_log = nothing_to_plot([zeros], log=True, finished=True)
    assert on_log == "all values are 0 (steps 1–50): nothing to draw on a log axis"
    flat = nothing_to_plot([_series([4.65] * 50)], log=False, finished=True)
    assert flat == "all values are 4.65e+00 (steps 1–50)"
    assert nothing_to_plot([_series([])], log=True, finished=True) == "not logged in this run"
    assert nothing_to_plot([_series([])], log=True, finished=False) == "no values yet"


def test_one_nonzero_point_is_plotted_not_called_all_zero() -> None:
    values = [0.0] * 50
    values[17] = 1e-9  # decimation keeping the last of each bin would hide it
    assert nothing_to_plot([_series(values)], log=True, finished=True) is None


def test_nan_is_named_alongside_the_words() -> None:
    said = nothing_to_plot([_series([0.0] * 10, bad=[11.0])], log=False, finished=True)
    assert said == "✖ NaN/Inf from step 11; the finite values are 0 (steps 1–10)"
    only_nan = nothing_to_plot([_series([], bad=[1.0])], log=True, finished=True)
    assert only_nan == "✖ NaN/Inf from step 1; no finite value to plot"


# ---------------------------------------------------------------------------- the screen


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_all_zero_update_ratio_is_said_at_every_size(
    starved_file: Path, size: tuple[int, int]
) -> None:
    app = make_app(starved_file)
    async with app.run_test(size=size) as pilot:
        screen = await open_detail(pilot)
        update = screen.query_one("#plot-update", StatPlot)
        text = panel_text(update)
        assert "all values are 0" in text, f"blank update-ratio panel at {size}:\n{text}"
        assert update.border_title == "update ratio ‖Δw‖/‖w‖ · log"
        await pilot.press("l")
        await pilot.pause()
        text = panel_text(update)
        assert f"all values are 0 (steps 2–{N_STEPS})" in text
        assert "-0.50" not in text and "0.50" not in text, "no invented axis around 0"
        assert update.border_title == "update ratio ‖Δw‖/‖w‖ · linear"


async def test_linear_axis_of_tiny_gradients_has_short_labels(starved_file: Path) -> None:
    app = make_app(starved_file)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(pilot)
        await pilot.press("l")
        await pilot.pause()
        grad = screen.query_one("#plot-grad", StatPlot)
        text = panel_text(grad)
        assert "e-17" in text and "0.0000" not in text, text
        assert grad.border_title.endswith("· linear")
        weight = screen.query_one("#plot-weight", StatPlot)
        assert "all values are 4.65e+00" in panel_text(weight)


async def test_a_healthy_layer_is_still_plotted(starved_file: Path) -> None:
    app = make_app(starved_file)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_detail(pilot, index=4)
        for name in ("#plot-grad", "#plot-update", "#plot-weight"):
            plot = screen.query_one(name, StatPlot)
            assert plot.note is None, f"{name}: {panel_text(plot)}"
            assert "┤" in panel_text(plot), f"{name} draws an axis"

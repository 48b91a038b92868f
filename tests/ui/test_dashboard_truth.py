"""Issue 15: at 80x24 and in every state, what the dashboard says is true and every key
is findable. Driven through the real pipeline (file -> FileReader -> History -> app)."""

from __future__ import annotations

from pathlib import Path

from gradtop.ui.app import GradtopApp
from gradtop.ui.findings_panel import FindingsPanel
from gradtop.ui.layer_table import LayerTable
from gradtop.ui.layers import SortKey
from tests.support import wait_until
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded


def heading_text(app: GradtopApp) -> str:
    return str(app.table_heading.render())


def expected_heading(app: GradtopApp) -> str:
    heading = ""
    for text, x in app.table.heading():
        heading = heading.ljust(x) + text
    return heading


async def test_resize_of_a_finished_file_relays_out_without_new_data() -> None:
    """No data arrives after the resize: the heading must follow the columns anyway."""
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=(200, 50)) as pilot:
        await until_loaded(pilot)
        assert "shape" in heading_text(app)
        frames = app.frames
        for size, compact in (((80, 24), True), ((200, 50), False)):
            await pilot.resize_terminal(*size)
            await wait_until(
                pilot,
                lambda frames=frames, width=size[0]: (
                    app.frames > frames
                    and app.table.size.width <= width
                    and heading_text(app) == expected_heading(app)
                ),
                f"heading re-laid out at {size}",
            )
            frames = app.frames
            assert ("shape" in heading_text(app)) is not compact
            assert app.query_one(FindingsPanel).compact is compact


def bar_text(app: GradtopApp) -> str:
    return str(app.table_bar.render())


async def test_layers_with_no_step_yet_are_waiting_not_ok(tmp_path: Path) -> None:
    """A header and no step: every value is "—", so no row and no count may say ok."""
    path = tmp_path / "header_only.jsonl"
    path.write_bytes(fixture_path("vanishing.jsonl").read_bytes().split(b"\n", 1)[0] + b"\n")
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        table = app.query_one(LayerTable)
        assert len(table.rows) == 20
        assert {r.status.key for r in table.rows} == {"waiting"}
        assert all("✓ ok" not in table.row_text(i) for i in range(len(table.rows)))
        assert "… waiting" in table.row_text(0)
        assert "none sick" not in bar_text(app) and "no step yet" in bar_text(app)


async def test_sort_shows_the_top_of_the_new_order() -> None:
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        table = app.query_one(LayerTable)
        await pilot.press("end")
        assert table.cursor == 19 and table.scroll_offset.y > 0
        await pilot.press("s")
        assert app.sort_key is SortKey.GRAD_NORM
        assert table.cursor == 0 and table.scroll_offset.y == 0, "the top row is on screen"
        top = max(r.grad_norm or 0.0 for r in table.rows)
        assert table.rows[0].grad_norm == top


async def test_a_filter_matching_nothing_says_so_and_how_to_clear_it() -> None:
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        await pilot.press("slash", *"xyz", "enter")
        await pilot.pause()
        assert app.query_one(LayerTable).rows == []
        assert "no layer matches 'xyz'" in heading_text(app)
        assert "Esc clears the filter" in heading_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert heading_text(app) == expected_heading(app)
        assert len(app.query_one(LayerTable).rows) == 20

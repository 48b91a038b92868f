"""Issue 15: at 80x24 and in every state, what the dashboard says is true and every key
is findable. Driven through the real pipeline (file -> FileReader -> History -> app)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from rich.cells import cell_len

from gradtop.teaching.lesson import DEMOS, LessonState
from gradtop.ui.app import GradtopApp
from gradtop.ui.detail_screen import DetailScreen
from gradtop.ui.findings_panel import FindingsPanel
from gradtop.ui.format import fmt_bytes
from gradtop.ui.header_bar import HeaderBar
from gradtop.ui.help_screen import HelpScreen, help_content
from gradtop.ui.layer_table import LayerTable
from gradtop.ui.layers import SortKey
from gradtop.ui.lesson_app import LessonApp
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


def header_text(app: GradtopApp) -> str:
    return str(app.query_one(HeaderBar).render())


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


# Bindings no help line covers, on purpose: the table never scrolls sideways (its
# columns are planned to the width), and super+c is the desktop copy of selected text.
NOT_KEYS = {"scroll_left", "scroll_right", "page_left", "page_right", "screen.copy_text"}


class _IdleRunner:
    """A lesson runner that trains nothing: these tests look at keys, not at training."""

    error = ""

    def __init__(self) -> None:
        self.started: list[dict[str, object]] = []

    def start(self, overrides: dict[str, object], meta: dict[str, object]) -> None:
        self.started.append(overrides)

    def stop(self, timeout: float = 10.0) -> bool:
        return True


def _lesson_app(path: Path) -> tuple[LessonApp, _IdleRunner]:
    runner = _IdleRunner()
    app = LessonApp(path, LessonState(DEMOS["vanishing"]), lambda _demo: runner, tick=0.1)
    return app, runner


def _help_and_palette_cover_every_key(app: GradtopApp) -> None:
    lines = app.key_help()
    covered = {action for line in lines for action in line.actions}
    for key, active in app.screen.active_bindings.items():
        if active.enabled and active.binding.action not in NOT_KEYS:
            assert active.binding.action in covered, f"{key} ({active.binding.action}) not in ?"
    help_text = str(help_content(lines))
    titles = {c.title for c in app.get_system_commands(app.screen)}
    for line in lines:
        assert f"{line.keys} " in help_text and line.what in help_text
        if line.command:
            assert line.command in titles, f"{line.command} not in the palette"
            name = line.call.split("(", 1)[0]
            assert callable(getattr(app, f"action_{name}", None)), line.call


async def test_help_and_palette_list_every_key_of_the_dashboard() -> None:
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        _help_and_palette_cover_every_key(app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = str(app.screen.query_one("#help-text").render())
        assert "ctrl+c" in shown and "log scale" in shown and "switch run" in shown


async def test_help_and_palette_list_the_lessons_keys(tmp_path: Path) -> None:
    app, runner = _lesson_app(tmp_path / "lesson.jsonl")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        _help_and_palette_cover_every_key(app)
        fixes = DEMOS["vanishing"].fixes
        keys = {line.keys for line in app.key_help()}
        assert {f.key for f in fixes} | {"0", "t", "c", "z"} <= keys
        unused = next(k for k in "123456789" if DEMOS["vanishing"].by_key(k) is None)
        active = app.screen.active_bindings.get(unused)
        assert active is None or not active.enabled, "no fix: the key is off"
        await pilot.press("ctrl+p")
        await pilot.press(*f"Fix {fixes[0].key}")
        await pilot.pause(0.3)  # the palette searches on a short debounce
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(runner.started) == 2, "the palette applied the fix")
        assert fixes[0].id in app.state.applied


async def test_footer_keys_fit_80_columns(tmp_path: Path) -> None:
    for app in (make_app(fixture_path("vanishing.jsonl")), _lesson_app(tmp_path / "l.jsonl")[0]):
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda app=app: bool(app.screen.query("FooterKey")), "footer")
            await pilot.pause()
            keys = list(app.screen.query("FooterKey"))
            palette = [k for k in keys if k.has_class("-command-palette")]
            shown = [k for k in keys if not k.has_class("-command-palette")]
            assert len(palette) == 1 and len(shown) >= 8
            assert all(k.region.right <= palette[0].region.x for k in shown), "none under ^p"
            assert palette[0].region.right <= 80


async def test_ctrl_c_quits() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: app.return_code == 0, "the app quit")


async def test_paused_is_not_stalled_while_the_file_grows(
    copy_fixture: Callable[[str], Path],
) -> None:
    """The view stops reading on `p`; the writer's liveness comes from the file's size."""
    path = copy_fixture("healthy.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:101]))  # header + 100 steps; more come while paused
    now = [float(json.loads(lines[100])["time"]) + 2.0]
    app = make_app(path, clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert "⏸ PAUSED, file unchanged" in header_text(app)
        now[0] += 60.0  # a minute with nothing written: that is a stall, paused or not
        await wait_until(pilot, lambda: "STALLED" in header_text(app), "the header's tick")
        assert "file unchanged" in header_text(app)
        with path.open("ab") as f:
            f.write(b"".join(lines[101:150]))
        now[0] += 1.0
        await wait_until(pilot, lambda: "file growing" in header_text(app), "growth seen")
        text = header_text(app)
        grown = fmt_bytes(len(b"".join(lines[101:150])))
        assert "STALLED" not in text and "● live" in text and f"(+{grown})" in text
        assert app.current_run().last_step == 100, "nothing was read: only stat"  # type: ignore[union-attr]
        now[0] += 60.0  # the writer stops again: stalled, with the unread bytes said
        await wait_until(pilot, lambda: "STALLED" in header_text(app), "the header's tick")
        assert f"(+{grown} unread)" in header_text(app)
        await pilot.press("p")
        await wait_until(pilot, lambda: "PAUSED" not in header_text(app), "resumed")


async def test_palette_runs_a_key_by_name() -> None:
    """The palette's entries come from the help lines: one picked runs the key's action."""
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        await pilot.press("down", "ctrl+p", *"Layer detail")
        await pilot.pause(0.3)  # the palette searches on a short debounce
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen), "detail open")
        assert app.screen.index == 1  # type: ignore[attr-defined]


async def test_every_help_line_fits_80_columns(tmp_path: Path) -> None:
    """The help box is 76 cells inside at 80 columns: a wrapped line splits a key's row."""
    for app in (make_app(fixture_path("healthy.jsonl")), _lesson_app(tmp_path / "l.jsonl")[0]):
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for line in str(help_content(app.key_help())).splitlines():
                assert cell_len(line) <= 76, line


async def test_80_columns_still_say_which_of_several_runs_is_shown() -> None:
    app = make_app(fixture_path("two_runs.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        await pilot.pause()
        assert "healthy-0005 (2/2)" in header_text(app), "r has something to switch to"

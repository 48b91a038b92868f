"""The comparison screen in ``gradtop watch``: its key, its polling, and how it looks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.pilot import Pilot

from gradtop.check import Check, read_all
from gradtop.ui.compare_screen import CompareRunPicker, CompareScreen
from gradtop.ui.compare_view import CompareSide, compare_side
from tests.support import wait_until
from tests.ui.ui_helpers import DATA, fixture_path, make_app, until_loaded


async def open_compare(pilot: Pilot[None]) -> CompareScreen:
    await until_loaded(pilot)
    await pilot.press("d")
    app = pilot.app
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, CompareScreen) and app.screen.draws > 0,
        "comparison drawn",
    )
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    return screen


async def test_d_compares_the_two_runs_of_the_file_and_esc_closes() -> None:
    app = make_app(fixture_path("two_runs.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(pilot)
        labels = [s.measured.run_id for s in screen.sides]
        assert labels == ["vanishing-0002", "healthy-0005"]  # file order: A before B
        verdict = str(screen.verdict.render())
        assert verdict.startswith("A → B: vanishing gradients gone;")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CompareScreen), "closed")


async def test_q_closes_the_comparison_not_the_app() -> None:
    app = make_app(fixture_path("two_runs.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compare(pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: not isinstance(app.screen, CompareScreen), "closed")
        assert app.is_running


async def test_a_single_run_file_says_there_is_nothing_to_compare() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        assert any("single run" in str(n.message) for n in app._notifications)


async def test_with_three_runs_the_user_picks_the_other(tmp_path: Path) -> None:
    path = tmp_path / "three.jsonl"
    runs = (DATA / "two_runs.jsonl").read_bytes() + (DATA / "exploding.jsonl").read_bytes()
    path.write_bytes(runs)
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_loaded(pilot)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareRunPicker), "picker")
        await pilot.press("down", "enter")  # newest first: the shown (newest) run is left out
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, CompareScreen) and app.screen.draws > 0,
            "comparison drawn",
        )
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        newest = app.model.history.current
        assert newest is not None
        # The second newest choice, then the shown one, in file order (A is the earlier run).
        assert [s.measured.run_id for s in screen.sides] == ["vanishing-0002", newest.run_id]


def fixture_sides() -> list[CompareSide]:
    c = Check(str(DATA / "two_runs.jsonl"))
    read_all(c)
    return [compare_side("AB"[i], r, c.findings(r)) for i, r in enumerate(c.history.runs.values())]


async def test_the_screen_redraws_only_when_the_generation_moves() -> None:
    sides = fixture_sides()
    state: dict[str, object] = {"gen": 1, "sides": sides[:1] + sides[:1], "calls": 0}

    def poll() -> tuple[int, Sequence[CompareSide]]:
        state["calls"] = int(state["calls"]) + 1  # type: ignore[call-overload]
        return state["gen"], state["sides"]  # type: ignore[return-value]

    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        screen = CompareScreen(poll, poll=0.05)
        app.push_screen(screen)
        await wait_until(pilot, lambda: screen.draws == 1, "first draw")
        calls = int(state["calls"])  # type: ignore[call-overload]
        await wait_until(pilot, lambda: int(state["calls"]) > calls + 2, "polled again")  # type: ignore[call-overload]
        assert screen.draws == 1  # same generation: nothing redrawn
        assert "no active findings in either run" not in str(screen.verdict.render())
        state["sides"], state["gen"] = sides, 2
        await wait_until(pilot, lambda: screen.draws == 2, "redrawn for the new generation")
        assert "vanishing gradients gone" in str(screen.verdict.render())


def test_compare_at_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(fixture_path("two_runs.jsonl"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_compare)


def test_compare_at_200x60(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(fixture_path("two_runs.jsonl"))
    assert snap_compare(app, terminal_size=(200, 60), run_before=open_compare)


async def test_cancelling_the_picker_compares_nothing(tmp_path: Path) -> None:
    path = tmp_path / "three.jsonl"
    path.write_bytes((DATA / "two_runs.jsonl").read_bytes() + (DATA / "healthy.jsonl").read_bytes())
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until_loaded(pilot)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareRunPicker), "picker")
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CompareRunPicker), "closed")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)

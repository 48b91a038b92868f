"""The live lesson, driven like a student would: real training thread, real file, real
dashboard (Textual Pilot). Conditions are awaited with deadlines, never slept on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from gradtop.demos.runner import DemoRunner
from gradtop.teaching.lesson import DEMOS, Demo, LessonState
from gradtop.ui.lesson_app import LessonApp
from gradtop.ui.lesson_panel import DemoPicker, TeachingScreen
from tests.demo.demo_support import wait_until

pytestmark = pytest.mark.slow
STEPS = 240  # enough for the vanishing finding (step ~40) and the lesson's judgement (100)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _app(path: Path, demo: str = "vanishing") -> tuple[LessonApp, list[DemoRunner]]:
    runners: list[DemoRunner] = []

    def make_runner(d: Demo) -> DemoRunner:
        runners.append(DemoRunner(path, d.scenario, steps=STEPS, step_delay=0.0))
        return runners[-1]

    app = LessonApp(path, LessonState(DEMOS[demo]), make_runner, tick=0.1)
    return app, runners


def _current_kinds(app: LessonApp) -> set[str]:
    if not app.summaries:
        return set()
    return {kind for kind, _ in app.summaries[-1].active}


async def test_a_fix_key_restarts_training_and_the_finding_clears(tmp_path: Path) -> None:
    path = tmp_path / "lesson.jsonl"
    app, runners = _app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(
            pilot, lambda: "vanishing" in _current_kinds(app), "the broken net's vanishing finding"
        )
        first = app.summaries[-1]
        assert first.fixes == () and first.ratio is not None and first.ratio < 1e-6
        assert app.advice is not None and app.advice.status == "sick"
        assert "batchnorm" in app.advice.suggest + app.advice.alternatives

        await pilot.press("3")  # BatchNorm, alone on the sigmoid net
        await wait_until(
            pilot,
            lambda: len(app.summaries) == 2 and app.summaries[-1].fixes == ("batchnorm",),
            "a new run with BatchNorm in the file",
        )
        second = app.summaries[-1]
        assert second.run_id != first.run_id
        shown = app.model.run(None)  # what the dashboard shows: the newest run
        assert shown is not None and shown.run_id == second.run_id

        await wait_until(
            pilot,
            lambda: app.advice is not None and app.advice.verdict == "ok",
            "the lesson to judge the fix (vanishing gone)",
        )
        assert "vanishing" not in app.summaries[-1].worst
        assert app.summaries[-1].ratio is not None and app.summaries[-1].ratio > 1e-3
        strip = str(app.query_one("#lesson-strip").render())
        assert "#1" in strip and "#2" in strip and "BatchNorm" in strip
        assert "▶#2" in strip

        # `r` shows the first run in the table: the lesson must not describe another one.
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("end", "enter")  # the picker lists newest first: the oldest is last
        await wait_until(pilot, lambda: app.run_id == first.run_id, "run #1 picked with r")

        def says_viewing() -> bool:
            guide = str(app.query_one("#lesson-guide").render())
            return "viewing run #1" in guide and "newest run, #2" in guide

        await wait_until(pilot, says_viewing, "the panel to say which run the table shows")
        strip = str(app.query_one("#lesson-strip").render())
        assert "▶#1" in strip and "▶#2" not in strip
    assert not runners[-1].running, "quitting the app stops the training thread"


async def test_keys_toggle_fixes_reset_and_open_the_texts(tmp_path: Path) -> None:
    path = tmp_path / "keys.jsonl"
    app, runners = _app(path, "dead_relu")

    def newest_is(fixes: tuple[str, ...], runs: int) -> bool:
        return len(app.summaries) >= runs and app.summaries[-1].fixes == fixes

    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: newest_is((), 1), "the first run")
        await pilot.press("1")
        assert app.state.applied == ("bias_0",)
        await wait_until(pilot, lambda: newest_is(("bias_0",), 2), "a run with bias 0")
        await pilot.press("1")  # pressed again: switched off
        assert app.state.applied == ()
        await wait_until(pilot, lambda: newest_is((), 3), "the original net again")
        await pilot.press("2")
        await wait_until(pilot, lambda: newest_is(("leaky_relu",), 4), "a run with LeakyReLU")
        await pilot.press("0")
        assert app.state.applied == ()
        await wait_until(pilot, lambda: newest_is((), 5), "reset to the original net")
        await pilot.press("9")  # no such fix: nothing restarts
        assert app.state.applied == () and runners[0].starts == 5

        await pilot.press("t")  # 80 columns: the text opens over the dashboard
        assert isinstance(app.screen, TeachingScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, TeachingScreen)

        await pilot.press("z")  # Chinese
        assert app.lang == "zh"
        guide = str(app.query_one("#lesson-guide").render())
        assert any("\u4e00" <= ch <= "\u9fff" for ch in guide), guide

        await pilot.press("c")
        assert isinstance(app.screen, DemoPicker)
        await pilot.press("escape")
        assert app.state.demo.name == "dead_relu" and len(runners) == 1

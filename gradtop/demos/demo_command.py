"""The body of ``gradtop demo``: list, check torch, then the live lesson or headless.

Imports nothing heavy at module level: ``--list`` and the "install torch" message work
without torch, and only the live lesson loads Textual.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from gradtop.teaching import texts
from gradtop.teaching.lesson import DEFAULT_DEMO, DEMOS, Demo, LessonState, resolve

Echo = Callable[[str], None]
EXIT_USAGE = 2
LIVE_STEPS = 2000  # the live lesson trains longer than the headless default: to watch
LIVE_DELAY = 0.01  # seconds after each step: ~50 steps/s, a pathology within seconds


@dataclass
class DemoOptions:
    name: str | None = None
    list_only: bool = False
    no_ui: bool = False
    steps: int | None = None
    out: str | None = None
    fixes: tuple[str, ...] = ()
    lang: str = "en"
    seed: int = 0
    delay: float | None = None


def run_demo_command(o: DemoOptions, echo: Echo = print, echo_err: Echo = print) -> int:
    """Run ``gradtop demo`` with options ``o``; returns the exit code."""
    if o.list_only:
        list_demos(o.lang, echo)
        return 0
    try:
        demo = resolve(o.name or DEFAULT_DEMO)
        state = LessonState(demo)
        for fix_id in o.fixes:
            state = state.toggle(fix_id) if fix_id not in state.applied else state
    except KeyError as exc:
        echo_err(f"gradtop demo: {exc.args[0]} (gradtop demo --list shows them)")
        return EXIT_USAGE
    if not torch_available():
        echo_err(texts.ui(o.lang, "no_torch"))
        return EXIT_USAGE
    out = o.out or os.path.join(tempfile.mkdtemp(prefix="gradtop-demo-"), f"{demo.name}.jsonl")
    if o.no_ui:
        from gradtop.demos.headless import run_headless

        return run_headless(state, out, echo, steps=o.steps, seed=o.seed, lang=o.lang)
    return _live(state, out, o, echo)


def _live(state: LessonState, out: str, o: DemoOptions, echo: Echo) -> int:
    echo(texts.ui(o.lang, "loading"))  # importing torch and the Logger takes seconds
    from gradtop.demos.runner import DemoRunner
    from gradtop.ui.lesson_app import run_lesson

    delay = LIVE_DELAY if o.delay is None else o.delay

    def make_runner(demo: Demo) -> DemoRunner:
        return DemoRunner(
            out, demo.scenario, steps=o.steps or LIVE_STEPS, step_delay=delay, seed=o.seed
        )

    run_lesson(out, state, make_runner, lang=o.lang)
    echo(texts.ui(o.lang, "saved", path=out))
    return 0


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except Exception:  # ImportError, or a broken install (missing shared library)
        return False
    return True


def list_demos(lang: str, echo: Echo) -> None:
    echo(texts.ui(lang, "list_title"))
    width = max(len(name) for name in DEMOS) + 2
    for demo in DEMOS.values():
        line = texts.scenario(lang, demo.name)["line"]
        echo(f"  {demo.name:<{width}}{line}")
        if demo.fixes:
            fixes = ", ".join(f"{f.id} ({f.change})" for f in demo.fixes)
            echo(f"  {'':<{width}}{texts.ui(lang, 'list_fixes')}{fixes}")

"""The body of ``gradtop demo``: list, check torch, then the live lesson or headless.

Imports nothing heavy at module level: ``--list`` and the "install torch" message work
without torch, and only the live lesson loads Textual.

Files: each demo of a session writes its own file. Without ``--out`` they live in a
temporary folder that is removed when the command ends, however it ends (quit, Ctrl-C,
the terminal closing, a kill): an hour of the live lesson writes tens of megabytes.
With ``--out FILE`` the first demo writes FILE, another chosen with ``c`` writes
``FILE-<demo>`` beside it, and they are kept.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

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
    files = DemoFiles(o.out)
    try:
        with _exit_on_hangup():
            if o.no_ui:
                from gradtop.demos.headless import run_headless

                path = files.path_for(demo.name)
                return run_headless(
                    state, path, echo, steps=o.steps, seed=o.seed, lang=o.lang, keep=files.kept
                )
            return _live(state, files, o, echo)
    finally:
        files.close(o.lang, echo)


@dataclass
class DemoFiles:
    """Where each demo of one ``gradtop demo`` writes, and what is left when it ends."""

    out: str | None  # --out FILE: the user's, kept
    folder: str | None = None  # our temporary folder (made on first use), removed at the end
    paths: dict[str, str] = field(default_factory=dict)  # demo name -> its file

    @property
    def kept(self) -> bool:
        return self.out is not None

    def path_for(self, demo_name: str) -> str:
        """The demo's own file: the same one each time the demo is chosen again."""
        if demo_name not in self.paths:
            if self.out is not None:
                path = Path(self.out)
                if self.paths:  # not the first demo: beside FILE, never appended to it
                    path = path.with_name(f"{path.stem}-{demo_name}{path.suffix}")
                self.paths[demo_name] = str(path)
            else:
                if self.folder is None:
                    self.folder = tempfile.mkdtemp(prefix="gradtop-demo-")
                self.paths[demo_name] = os.path.join(self.folder, f"{demo_name}.jsonl")
        return self.paths[demo_name]

    def close(self, lang: str, echo: Echo) -> None:
        """Remove the temporary folder, or say where the kept files are."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            echo(texts.ui(lang, "removed", path=self.folder))
            return
        for path in self.paths.values():
            if os.path.exists(path):
                echo(texts.ui(lang, "saved", path=path))


@contextlib.contextmanager
def _exit_on_hangup() -> Iterator[None]:
    """SIGTERM and SIGHUP (a kill, a closed terminal or SSH session) end the command the
    way Ctrl-C does, by an exception, so the ``finally`` that removes the files runs."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (tests call us there)
        return

    def leave(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    before = {sig: signal.signal(sig, leave) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _live(state: LessonState, files: DemoFiles, o: DemoOptions, echo: Echo) -> int:
    echo(texts.ui(o.lang, "loading"))  # importing torch and the Logger takes seconds
    from gradtop.demos.runner import DemoRunner
    from gradtop.ui.lesson_app import run_lesson

    delay = LIVE_DELAY if o.delay is None else o.delay

    def make_runner(demo: Demo) -> DemoRunner:
        return DemoRunner(
            files.path_for(demo.name),
            demo.scenario,
            steps=o.steps or LIVE_STEPS,
            step_delay=delay,
            seed=o.seed,
        )

    run_lesson(lambda demo: files.path_for(demo.name), state, make_runner, lang=o.lang)
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

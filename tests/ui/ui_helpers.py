"""Shared helpers for the UI tests: fixture files, a frozen clock, an app read to the end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from gradtop.ui.app import GradtopApp
from tests.support import wait_until

DATA = Path(__file__).resolve().parent.parent / "data"


def fixture_path(name: str) -> Path:
    return DATA / name


def frozen_clock(path: Path, after: float = 3.0) -> Callable[[], float]:
    """A clock stuck ``after`` seconds past the file's newest record: ages never move."""
    last_line = path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    now = float(json.loads(last_line)["time"]) + after
    return lambda: now


def make_app(path: Path, **kwargs: object) -> GradtopApp:
    kwargs.setdefault("clock", frozen_clock(path) if path.exists() else (lambda: 0.0))
    return GradtopApp(path, **kwargs)  # type: ignore[arg-type]


async def until_loaded(pilot: Pilot[None]) -> None:
    """The whole file is read, following has begun, and the screen shows it."""
    app = pilot.app
    assert isinstance(app, GradtopApp)
    await wait_until(pilot, lambda: app.loaded and app.following, "file read and followed")
    app.redraw(full=True)
    await pilot.pause()

"""Helpers for the demo tests: wait on a condition with a deadline, read a run back."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from gradtop.teaching.lesson import worst_by_kind
from gradtop.teaching.scorecard import diagnose_file


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = 60.0
) -> None:
    """Let the app run until ``condition`` holds; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        await pilot.pause(0.05)


def worst_in_file(path: Path) -> dict[str, int]:
    """Each finding kind's worst severity in the newest run of ``path``, read like a viewer."""
    _, findings = diagnose_file(path)
    return worst_by_kind(findings)

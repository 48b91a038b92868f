"""Helpers for the demo tests: a longer wait (demos train real models), read a run back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from gradtop.teaching.lesson import worst_by_kind
from gradtop.teaching.scorecard import diagnose_file
from tests import support


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], bool], what: str, timeout: float = 60.0
) -> None:
    """``tests.support.wait_until`` with the deadline a demo's real training needs."""
    await support.wait_until(pilot, condition, what, timeout=timeout, poll=0.05)


def worst_in_file(path: Path) -> dict[str, int]:
    """Each finding kind's worst severity in the newest run of ``path``, read like a viewer."""
    _, findings = diagnose_file(path)
    return worst_by_kind(findings)

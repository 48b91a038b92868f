"""The Textual viewer (``gradtop watch``). Imports Textual; never torch.

Layout of the package: pure builders (``format``, ``sparkline``, ``layers``, ``columns``,
``headline``, ``findings_text``, ``series``, ``heatmap``, ``model``) decide what is shown
and are unit-tested without a terminal; widgets (one per file) draw it; ``follower``
is the reader worker; ``app`` wires them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gradtop.diagnosis import Diagnoser
from gradtop.diagnosis.thresholds import Thresholds
from gradtop.ui.app import DEFAULT_REFRESH, GradtopApp


def run_watch(
    path: str | Path,
    *,
    poll: bool | None = None,
    refresh: float = DEFAULT_REFRESH,
    thresholds: Sequence[str] = (),
) -> None:
    """Run the dashboard on ``path`` until the user quits.

    ``thresholds`` are ``NAME=VALUE`` overrides, as ``gradtop check --threshold`` takes.
    """
    overrides = Thresholds.from_overrides(thresholds)
    GradtopApp(
        path,
        poll=poll,
        refresh_interval=refresh,
        make_diagnoser=lambda: Diagnoser(overrides),
    ).run()


__all__ = ["DEFAULT_REFRESH", "GradtopApp", "run_watch"]

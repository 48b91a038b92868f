"""The Textual viewer (``gradtop watch``). Imports Textual; never torch.

Layout of the package: pure builders (``format``, ``sparkline``, ``layers``, ``columns``,
``headline``, ``findings_text``, ``series``, ``heatmap``, ``model``) decide what is shown
and are unit-tested without a terminal; widgets (one per file) draw it; ``follower``
is the reader worker; ``app`` wires them together.
"""

from __future__ import annotations

from pathlib import Path

from gradtop.ui.app import DEFAULT_REFRESH, GradtopApp


def run_watch(
    path: str | Path, *, poll: bool | None = None, refresh: float = DEFAULT_REFRESH
) -> None:
    """Run the dashboard on ``path`` until the user quits."""
    GradtopApp(path, poll=poll, refresh_interval=refresh).run()


__all__ = ["DEFAULT_REFRESH", "GradtopApp", "run_watch"]

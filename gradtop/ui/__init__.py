"""The Textual viewer (``gradtop watch``). Imports Textual (in ``app``); never torch.

Layout of the package: pure builders (``PURE_BUILDERS``) decide what is shown and are
unit-tested without a terminal (they may measure text with rich, never import Textual);
widgets (one per file) draw it; ``follower`` is the reader worker; ``app`` wires them
together. tests/test_import_boundaries.py holds the builders to that and makes every new
module here choose a side.

Importing this package loads nothing else: ``gradtop.ui.model`` and the other pure
builders stay usable without Textual; the app is loaded when ``run_watch`` runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gradtop.reader.pace import TICK

PURE_BUILDERS = (
    "columns",
    "compare_view",
    "file_probe",
    "findings_text",
    "format",
    "headline",
    "heatmap",
    "layers",
    "lesson_guide",
    "lesson_view",
    "loss_summary",
    "model",
    "run_list",
    "scalar_strip",
    "series",
    "sparkline",
)


def run_watch(
    path: str | Path | Sequence[str],
    *,
    poll: bool | None = None,
    refresh: float | None = None,
    thresholds: Sequence[str] = (),
    tick: float = TICK,
) -> None:
    """Run the dashboard on ``path`` until the user quits.

    ``path``: one file, or several targets (files, directories, globs): then the run
    list, with each run's dashboard a key away, and two files are compared at once.
    ``refresh`` is seconds between redraws (None: the app's default); ``thresholds``
    are ``NAME=VALUE`` overrides, as ``gradtop check --threshold`` takes; ``tick`` is
    seconds between looks at the file when no change event arrives.
    """
    from functools import partial

    from gradtop.diagnosis import Diagnoser
    from gradtop.diagnosis.thresholds import Thresholds
    from gradtop.reader.targets import is_listing
    from gradtop.ui.app import DEFAULT_REFRESH, GradtopApp  # Textual: only when watching
    from gradtop.ui.run_list_app import RunListApp

    targets = [str(path)] if isinstance(path, str | Path) else [str(p) for p in path]
    overrides = Thresholds.from_overrides(thresholds)
    options = {
        "poll": poll,
        "tick": tick,
        "refresh_interval": DEFAULT_REFRESH if refresh is None else refresh,
        "make_diagnoser": partial(Diagnoser, overrides),
    }
    listing = [t for t in targets if is_listing(t)]
    if len(targets) == 1 and not listing:
        GradtopApp(targets[0], **options).run()  # type: ignore[arg-type]
        return
    compare = len(targets) == 2 and not listing
    RunListApp(targets, compare=compare, **options).run()  # type: ignore[arg-type]


__all__ = ["run_watch"]

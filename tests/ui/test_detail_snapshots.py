"""The detail and findings screens at 80x24, frozen as SVGs (``pytest --snapshot-update``).

80x24 is the size the README promises over SSH; these are the states where words stand
in for a plot (a starving layer: update ratio all 0, weight norm constant) and where the
findings must be shown in full.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from tests.data.make_fixtures import write
from tests.support import wait_until
from tests.ui.test_detail_axes import starved_run
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded

SIZE = (80, 24)


def _starved(tmp_path: Path) -> Path:
    path = tmp_path / "starved.jsonl"
    write(path, starved_run())
    return path


async def _open_detail(pilot: Pilot[None]) -> None:
    from gradtop.ui.detail_screen import DetailScreen

    await until_loaded(pilot)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), "detail")
    pilot.app.redraw()  # type: ignore[attr-defined]
    await pilot.pause()


def test_detail_starved_layer_log(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(_starved(tmp_path))
    assert snap_compare(app, terminal_size=SIZE, run_before=_open_detail)


def test_detail_starved_layer_linear(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app(_starved(tmp_path))

    async def linear(pilot: Pilot[None]) -> None:
        await _open_detail(pilot)
        await pilot.press("l")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=linear)


def test_findings_in_full(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(fixture_path("vanishing.jsonl"))

    async def open_findings(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await pilot.press("f")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=open_findings)

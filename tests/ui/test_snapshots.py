"""What the dashboard looks like, frozen as SVGs (update with ``pytest --snapshot-update``).

Each picture is drawn from a fixture file through the real reader and diagnosis, with
the app's clock frozen just after the file's newest record, so the pictures are the
same on every run. 80x24 is the compact layout (sick layers and the top finding must
still be there); 160x48 is the roomy one.
"""

from __future__ import annotations

import pytest
from textual.pilot import Pilot

from tests.ui.ui_helpers import fixture_path, make_app, until_loaded

FIXTURES = ("healthy", "vanishing", "exploding", "exploding_live", "hostile")
SIZES = ((80, 24), (160, 48))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", FIXTURES)
def test_dashboard(snap_compare, name: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = make_app(fixture_path(f"{name}.jsonl"))
    assert snap_compare(app, terminal_size=size, run_before=until_loaded)


def test_layer_detail(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = make_app(fixture_path("vanishing.jsonl"))

    async def open_detail(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await pilot.press("enter")
        await pilot.pause()
        app.redraw()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=open_detail)

"""What the dashboard looks like, frozen as SVGs (update with ``pytest --snapshot-update``).

Each picture is drawn from a fixture file through the real reader and diagnosis, with
the app's clock frozen just after the file's newest record, so the pictures are the
same on every run. 80x24 is the compact layout (sick layers and the top finding must
still be there); 160x48 is the roomy one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.support import wait_until
from tests.ui.ui_helpers import fixture_path, frozen_clock, make_app, until_loaded

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


# States of issue 15 at 80x24, where a wrong word is easiest to miss.


def test_waiting_for_the_first_step(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Header read, no step: layers say "… waiting", the bar "no step yet", never "ok"."""
    path = tmp_path / "header_only.jsonl"
    path.write_bytes(fixture_path("vanishing.jsonl").read_bytes().split(b"\n", 1)[0] + b"\n")
    app = make_app(path)
    assert snap_compare(app, terminal_size=(80, 24), run_before=until_loaded)


def test_filter_matching_nothing(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def filter_xyz(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await pilot.press("slash", *"xyz", "enter")
        await pilot.pause()

    app = make_app(fixture_path("vanishing.jsonl"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=filter_xyz)


def test_paused_while_the_file_grows(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "growing.jsonl"
    lines = fixture_path("healthy.jsonl").read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:101]))
    app = make_app(path)

    async def pause_then_grow(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await pilot.press("p")
        with path.open("ab") as f:
            f.write(b"".join(lines[101:150]))
        await wait_until(pilot, lambda: "file growing" in str(app.header.render()), "growth seen")

    assert snap_compare(app, terminal_size=(80, 24), run_before=pause_then_grow)


def test_help_at_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_help(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    app = make_app(fixture_path("healthy.jsonl"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_help)


def _with_scalars(path: Path) -> Path:
    """healthy.jsonl with accuracy and f1 logged each step (fixed numbers, so the picture
    is the same on every run; a real Logger run is tested in test_user_scalars.py)."""
    out = []
    for line in fixture_path("healthy.jsonl").read_bytes().splitlines():
        record = json.loads(line)
        if record["kind"] == "step":
            step = record["step"]
            record["scalars"] = {"accuracy": round(0.5 + 0.45 * step / 200, 4), "f1": 0.8}
        out.append(json.dumps(record, separators=(",", ":")))
    path.write_text("\n".join(out) + "\n")
    return path


def test_user_scalars_wide(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The strip under the loss plot: each scalar's newest value and its sparkline."""
    app = make_app(_with_scalars(tmp_path / "scalars.jsonl"))
    assert snap_compare(app, terminal_size=(160, 48), run_before=until_loaded)


def test_user_scalars_80x24_after_v(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No room for a strip: ``v`` puts the first scalar in the loss line."""
    app = make_app(_with_scalars(tmp_path / "scalars.jsonl"))

    async def press_v(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await pilot.press("v")
        await wait_until(
            pilot, lambda: str(app.loss_line.render()).startswith("accuracy "), "accuracy shown"
        )

    assert snap_compare(app, terminal_size=(80, 24), run_before=press_v)


def test_stalled_writer_at_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """No end record and a minute of silence: the header must say STALLED, not live."""
    path = fixture_path("exploding_live.jsonl")
    app = make_app(path, clock=frozen_clock(path, after=60.0))

    async def stalled(pilot: Pilot[None]) -> None:
        await until_loaded(pilot)
        await wait_until(pilot, lambda: "STALLED" in str(app.header.render()), "stalled shown")

    assert snap_compare(app, terminal_size=(80, 24), run_before=stalled)


def test_several_runs_at_80x24(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Two runs in one file: the header keeps the run's position, so `r` is findable."""
    app = make_app(fixture_path("two_runs.jsonl"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=until_loaded)

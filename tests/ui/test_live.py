"""The dashboard follows a file a real process is writing, and shows hostile text inertly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gradtop.ui.app import GradtopApp
from gradtop.ui.findings_panel import FindingsPanel
from gradtop.ui.header_bar import HeaderBar
from gradtop.ui.layer_table import LayerTable
from tests.support import wait_until
from tests.ui.pty_terminal import PtyApp, gradtop_argv
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded

WRITER = Path(__file__).resolve().parent / "slow_writer.py"
HOSTILE = "\x1b]0;pwn\x07[bold]x[/]"
HOSTILE_SHOWN = "\ufffd]0;pwn\ufffd[bold]x[/]"  # what safe_text makes of it


async def test_screen_follows_a_writer_process(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    app = GradtopApp(path, tick=0.1, refresh_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.following, "follow loop started")
        writer = subprocess.Popen([sys.executable, str(WRITER), str(path), "40", "0.02"])
        try:
            header = app.query_one(HeaderBar)
            await wait_until(
                pilot, lambda: "step 40" in str(header.render()), "last step on screen", 60
            )
            await wait_until(
                pilot, lambda: "finished (closed)" in str(header.render()), "end record shown"
            )
        finally:
            assert writer.wait(timeout=60) == 0
        rows = app.query_one(LayerTable).rows
        assert [r.name for r in rows] == [f"layers.{i}.weight" for i in range(6)]
        assert rows[5].grad_norm == 0.06


def _visible_text(app: GradtopApp) -> str:
    """Every character the main widgets would put on screen."""
    table = app.query_one(LayerTable)
    lines = [table.row_text(pos) for pos in range(len(table.rows))]
    lines.append(str(app.query_one(HeaderBar).render()))
    lines.append(str(app.query_one("FindingsPanel Static").render()))
    return "\n".join(lines)


async def test_hostile_names_render_literally_in_the_app() -> None:
    app = make_app(fixture_path("hostile.jsonl"))
    async with app.run_test(size=(160, 40)) as pilot:
        await until_loaded(pilot)
        assert app.query_one(FindingsPanel)
        text = _visible_text(app)
        assert HOSTILE_SHOWN in text, "the name is shown, literally, markup and all"
        assert "layers.0.attn[/]" in text
        for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\x00"):
            assert bad not in text
        await pilot.press("enter")  # the detail view of the hostile name must not raise
        await pilot.pause()
        await pilot.press("escape", "s", "s", "slash", *"[/]", "enter")
        names = [r.name for r in app.query_one(LayerTable).rows]
        assert names == [HOSTILE, "layers.0.attn[/]"], "markup in a filter is plain text too"


def test_no_escape_sequence_from_the_file_reaches_the_terminal() -> None:
    """Run ``gradtop watch`` on a real pty and inspect the raw bytes it writes."""
    term = PtyApp(gradtop_argv("watch", str(fixture_path("hostile.jsonl"))), cols=160, rows=40)
    try:
        term.wait_for(lambda out: HOSTILE_SHOWN.encode() in out, "the hostile name drawn")
        term.wait_for(lambda out: b"[link=https://example.com]click[/link]" in out, "markup")
    finally:
        status = term.close()
    out = bytes(term.output)
    assert status == 0
    for injected in (b"\x1b]0;pwn", b"\x1b[2J[blink]", b"\x1b]8;;http://x", b"\x1b[31mred"):
        assert injected not in out
    # Textual's own OSC 22 (mouse pointer shape) ends in BEL; any other BEL or OSC is data.
    ours = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", out)
    assert b"\x07" not in ours and b"\x1b]" not in ours
    assert b"\xc2\x9b" not in out and "\u202e".encode() not in out

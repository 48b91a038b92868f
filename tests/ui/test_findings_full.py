"""``f`` shows every finding in full: every word of each explanation, every fix, wrapped
and scrollable at 80x24 as at 200x60 (the main panel is the digest, cut to fit; its
snapshots in test_snapshots.py keep it as it was)."""

from __future__ import annotations

import re

import pytest

from gradtop.ui.findings_panel import FindingsPanel
from gradtop.ui.findings_screen import FindingsScreen
from tests.support import wait_until
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _rendered(panel: FindingsPanel) -> list[str]:
    """Every line the panel's text renders to (all of it, scrolled into view or not)."""
    body = panel.query_one("Static")
    return ["".join(s.text for s in body.render_line(y)) for y in range(body.size.height)]


def _shown(panel: FindingsPanel) -> str:
    return _words(" ".join(_rendered(panel)))


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_f_shows_every_word_and_every_fix(size: tuple[int, int]) -> None:
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=size) as pilot:
        await until_loaded(pilot)
        findings = [f for fs in app.model.findings.values() for f in fs if f.active]
        top = findings[0]
        assert len(top.explanation) > 600 and len(top.fixes) > 3, "the case that was cut"
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, FindingsScreen), "f screen")
        panel = app.screen.query_one(FindingsPanel)
        await wait_until(pilot, lambda: bool(_shown(panel)), "findings drawn")
        shown = _shown(panel)
        assert _words(top.explanation) in shown, "the explanation is cut"
        for fix in top.fixes:
            assert _words(fix.title) in shown and _words(fix.why) in shown
        # Wrapped lines hang under their own text: only a finding's head starts a line.
        heads = ("✖", "⚠", "ℹ", "✓")
        for line in _rendered(panel):
            assert not line.strip() or line.startswith(" ") or line.startswith(heads), line
        await pilot.press("end")
        await wait_until(pilot, lambda: panel.scroll_y == panel.max_scroll_y, "scrolled")
        if size == (80, 24):
            assert panel.max_scroll_y > 0, "at 80x24 the rest is reached by scrolling"
        await pilot.press("escape")
        assert not isinstance(app.screen, FindingsScreen)

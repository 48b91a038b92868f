"""Two claims the main screen made that the data did not back: a findings panel that cut
fixes without saying so, and a pace in the header while paused (nothing is read then)."""

from __future__ import annotations

from gradtop.ui.app import GradtopApp
from tests.support import wait_until
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded


def header_text(app: GradtopApp) -> str:
    return str(app.header.render())


async def test_the_panel_says_when_it_cut_a_findings_fixes() -> None:
    """vanishing.jsonl's vanishing finding has 5 fixes; the panel shows 3 and says +2."""
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=(200, 60)) as pilot:
        await until_loaded(pilot)
        run = app.current_run()
        assert run is not None
        finding = next(f for f in app.model.findings[run.run_id] if f.kind == "vanishing")
        assert len(finding.fixes) == 5
        body = str(app.findings_panel._body.render())
        assert f"3. {finding.fixes[2].title}" in body
        assert finding.fixes[3].title not in body
        assert "+ 2 more fixes (press f)" in body


async def test_the_pace_is_not_shown_as_live_while_paused() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=(200, 40)) as pilot:
        await until_loaded(pilot)
        assert "steps/s" in header_text(app)
        await pilot.press("p")
        await wait_until(pilot, lambda: "PAUSED" in header_text(app), "paused")
        assert "steps/s" not in header_text(app)
        await pilot.press("p")
        await wait_until(pilot, lambda: "steps/s" in header_text(app), "resumed, pace back")

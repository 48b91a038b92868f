"""Drive the dashboard with keys through the real pipeline: file -> FileReader -> History."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gradtop.records import encode_record
from gradtop.ui.detail_screen import DetailScreen
from gradtop.ui.findings_screen import FindingsScreen
from gradtop.ui.header_bar import HeaderBar
from gradtop.ui.help_screen import HelpScreen
from gradtop.ui.layer_table import LayerTable
from gradtop.ui.layers import SortKey
from gradtop.ui.loss_plot import LossPlot
from gradtop.ui.run_picker import RunPicker
from tests.support import wait_until
from tests.ui.ui_helpers import fixture_path, make_app, until_loaded

SIZE = (120, 40)


def header_text(app: object) -> str:
    return str(app.query_one(HeaderBar).render())  # type: ignore[attr-defined]


async def test_sort_cycles_through_depth_norm_severity() -> None:
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        table = app.query_one(LayerTable)
        assert [r.index for r in table.rows] == list(range(20))
        await pilot.press("s")
        assert app.sort_key is SortKey.GRAD_NORM
        norms = [r.grad_norm for r in table.rows]
        assert norms == sorted(norms, reverse=True)
        await pilot.press("s")
        assert app.sort_key is SortKey.SEVERITY
        assert table.rows[0].status.sick and not table.rows[-1].status.sick
        await pilot.press("s")
        assert [r.index for r in table.rows] == list(range(20))


async def test_filter_by_name_and_clear() -> None:
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        table = app.query_one(LayerTable)
        await pilot.press("slash", *"bias", "enter")
        assert app.filter_text == "bias"
        assert len(table.rows) == 10 and all(r.name.endswith("bias") for r in table.rows)
        assert table.has_focus, "Enter hands the keys back to the table"
        await pilot.press("slash", "escape")
        assert app.filter_text == "" and len(table.rows) == 20
        await pilot.press("slash", *"bias", "enter")
        assert len(table.rows) == 10 and table.has_focus
        await pilot.press("escape")  # from the table: the help promises Esc clears
        assert app.filter_text == "" and len(table.rows) == 20


async def test_jump_to_next_and_previous_sick_layer() -> None:
    app = make_app(fixture_path("vanishing.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        table = app.query_one(LayerTable)
        sick = [r.index for r in table.rows if r.status.sick]
        assert len(sick) >= 2, "the vanishing fixture has several starving layers"
        await pilot.press("end", "n")
        assert table.cursor_param == sick[0], "wraps around to the first sick layer"
        await pilot.press("n")
        assert table.cursor_param == sick[1]
        await pilot.press("N")
        assert table.cursor_param == sick[0]


async def test_healthy_run_has_no_sick_layer_to_jump_to() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        table = app.query_one(LayerTable)
        await pilot.press("n")
        assert table.cursor == 0


async def test_detail_view_opens_steps_and_closes() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        await pilot.press("down", "down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DetailScreen), "detail screen")
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.index == 2
        await pilot.pause()
        title = str(screen.query_one("#detail-title").render())
        assert "net.2.weight" in title and "64×64" in title
        hist = str(screen.query_one("#hist").render())
        assert "≥1e-" in hist, "the healthy fixture logs histograms"
        await pilot.press("right_square_bracket")
        assert screen.index == 3
        await pilot.pause()
        assert "net.2.bias" in str(screen.query_one("#detail-title").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)
        assert app.query_one(LayerTable).cursor_param == 3, "the table follows the detail view"


async def test_switch_run_in_a_multi_run_file() -> None:
    app = make_app(fixture_path("two_runs.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        assert "healthy-0005 (2/2)" in header_text(app), "the newest run is shown first"
        await pilot.press("r")
        assert isinstance(app.screen, RunPicker)
        # Options: follow newest, then runs newest first: healthy-0005, vanishing-0002.
        await pilot.press("down", "down", "enter")
        assert app.run_id == "vanishing-0002"
        await pilot.pause()
        assert "vanishing-0002 (1/2 pinned)" in header_text(app)
        assert len(app.query_one(LayerTable).rows) == 20
        await pilot.press("r", "home", "enter")
        assert app.run_id is None


async def test_help_screen_and_findings_screen() -> None:
    app = make_app(fixture_path("exploding.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "jump to the next" in str(app.screen.query_one("#help-text").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f")
        assert isinstance(app.screen, FindingsScreen)
        await pilot.pause()
        body = str(app.screen.query_one("FindingsPanel Static").render())
        assert "Exploding" in body and "Lower the learning rate" in body
        await pilot.press("escape")


async def test_log_scale_toggle_and_command_palette() -> None:
    app = make_app(fixture_path("healthy.jsonl"))
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        await pilot.press("l")
        assert app.query_one(LossPlot).log_scale
        await pilot.press("ctrl+p")
        await pilot.press(*"Sort layers")
        await pilot.pause(0.3)  # the palette searches on a short debounce
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.sort_key is SortKey.GRAD_NORM, "sorted by palette")


async def test_pause_stops_reading_and_resume_catches_up(
    copy_fixture: Callable[[str], Path],
) -> None:
    path = copy_fixture("healthy.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:101]))  # header + 100 steps now, 100 more later
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        assert app.current_run().last_step == 100  # type: ignore[union-attr]
        await pilot.press("p")
        assert app.paused and "PAUSED" in header_text(app)
        with path.open("ab") as f:
            f.write(b"".join(lines[101:]))
        waits = app.follow_stats.paused_waits
        await wait_until(
            pilot, lambda: app.follow_stats.paused_waits >= waits + 3, "worker idles paused"
        )
        assert app.current_run().last_step == 100, "nothing is read while paused"  # type: ignore[union-attr]
        await pilot.press("p")
        await wait_until(
            pilot,
            lambda: app.current_run().last_step == 200,  # type: ignore[union-attr]
            "resume catches up",
        )
        await wait_until(pilot, lambda: "step 200" in header_text(app), "header shows it")


async def test_waiting_for_a_file_that_appears_later(tmp_path: Path) -> None:
    path = tmp_path / "later.jsonl"
    source = fixture_path("healthy.jsonl").read_bytes()
    app = make_app(path, tick=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "waiting for file" in header_text(app), "waiting")
        path.write_bytes(source)
        await wait_until(pilot, lambda: "step 200" in header_text(app), "file picked up")


async def test_bad_lines_and_a_newer_format_are_shown_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = fixture_path("hostile.jsonl").read_bytes()
    newer = encode_record(
        {"kind": "header", "format": "gradtop", "version": "9.0", "run_id": "x", "time": 1.0}
    )
    path.write_bytes(good + b"{not json\n" + b"[1,2]\n" + newer)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        text = header_text(app)
        assert "skipped" in text and "bad lines" in text
        assert "9.0" in text, "a refused newer format version is spelt out"


async def test_truncated_file_is_noticed_and_reread(copy_fixture: Callable[[str], Path]) -> None:
    path = copy_fixture("vanishing.jsonl")
    app = make_app(path, tick=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        healthy = fixture_path("healthy.jsonl").read_bytes()
        with path.open("r+b") as f:  # truncate in place, then a new (shorter) run
            f.truncate(0)
            f.write(healthy[: len(healthy) // 2].rsplit(b"\n", 1)[0] + b"\n")
        await wait_until(pilot, lambda: "truncated" in header_text(app), "truncation shown")
        await wait_until(pilot, lambda: "healthy-0001" in header_text(app), "new run shown")


class _BrokenDiagnoser:
    """A diagnosis bug (as a real rule could have): every update raises."""

    def update(self, run: object, *, force: bool = False) -> list[object]:
        raise ZeroDivisionError("a rule divided by zero")


async def test_a_failing_diagnosis_is_shown_and_never_passes_for_healthy() -> None:
    app = make_app(fixture_path("vanishing.jsonl"), make_diagnoser=_BrokenDiagnoser)
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        panel = app.query_one("#findings")
        body = str(panel.query_one("QuietStatic").render())
        assert "diagnosis failed: ZeroDivisionError" in body
        assert "healthy so far" not in body
        assert panel.border_title == "findings: diagnosis failed"
        table = app.query_one(LayerTable)
        assert table.rows and all(r.status.key != "ok" for r in table.rows)
        await pilot.press("f")
        assert isinstance(app.screen, FindingsScreen)
        full = str(app.screen.query_one("QuietStatic").render())
        assert "diagnosis failed" in full and "healthy so far" not in full


async def test_watch_threshold_overrides_reach_the_dashboards_diagnosis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`gradtop watch --threshold` must diagnose like `gradtop check --threshold`."""
    from click.testing import CliRunner

    from gradtop.cli import main
    from gradtop.ui.app import GradtopApp

    built: list[GradtopApp] = []
    monkeypatch.setattr(GradtopApp, "run", lambda self, *a, **k: built.append(self))
    path = str(fixture_path("vanishing.jsonl"))
    for args in ([], ["--threshold", "vanishing_ratio=1e-30"]):
        result = CliRunner().invoke(main, ["watch", path, *args])
        assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(main, ["watch", path, "--threshold", "no_such=1"])
    assert bad.exit_code == 2 and "unknown threshold" in bad.output

    kinds = []
    for app in built:
        async with app.run_test(size=SIZE) as pilot:
            await until_loaded(pilot)
            run = app.current_run()
            assert run is not None
            kinds.append({f.kind for f in app.model.findings.get(run.run_id, [])})
    assert "vanishing" in kinds[0]
    assert "vanishing" not in kinds[1]


async def test_watch_reports_what_check_reports_on_an_existing_file(tmp_path: Path) -> None:
    """A finding that came and went early in a file (an explosion that calmed down) must
    be on the dashboard as it is in `gradtop check`, with the same first step: the
    back-fill replays the diagnosis while it reads, not once at the end."""
    import json
    import math

    from click.testing import CliRunner

    from gradtop.cli import main
    from tests.data.make_fixtures import header, mlp_params, steps, wobble

    head = header("calmed-0001", mlp_params(6), model="MLP", activations=("ReLU",))
    n_steps = 800  # far more than the Diagnoser's window (256): the early rows leave it
    records = [
        head,
        *steps(
            head,
            n_steps,
            lambda s, i, n: 0.05 * wobble(s, i),
            lambda s: 1e12 if s <= 3 else 0.2 + 2.1 * math.exp(-s / 40),
        ),
    ]
    path = tmp_path / "calmed.jsonl"
    path.write_bytes(b"".join(encode_record(r.to_json()) for r in records))

    result = CliRunner().invoke(main, ["check", "--json", "--fail-on", "never", str(path)])
    assert result.exit_code == 0, result.output
    reported = {
        (f["kind"], f["first_step"], f["cleared_step"])
        for f in json.loads(result.output)["findings"]
    }
    assert any(kind == "exploding" and cleared is not None for kind, _, cleared in reported)

    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await until_loaded(pilot)
        run = app.current_run()
        assert run is not None
        shown = {(f.kind, f.first_step, f.cleared_step) for f in app.model.findings[run.run_id]}
    assert shown == reported


def _calm_after_a_blowup(run_id: str, n_steps: int, first: int = 1) -> list[object]:
    """A run whose loss is absurd for its first 3 steps (exploding at once), then healthy."""
    import math

    from tests.data.make_fixtures import header, mlp_params, steps, wobble

    head = header(run_id, mlp_params(6), model="MLP", activations=("ReLU",))
    rows = steps(
        head,
        n_steps,
        lambda s, i, n: 0.05 * wobble(s, i),
        lambda s: 1e12 if s <= 3 else 0.2 + 2.1 * math.exp(-s / 40),
    )
    return [head, *(r for r in rows if r.step >= first)]


def test_a_rotation_keeps_the_findings_and_a_restart_drops_them() -> None:
    """The Logger writes its header again after a rotation: the findings of the run so far
    (here an explosion that came and went 400 steps back) must survive it, in the viewer's
    model and in `gradtop check`. The same id whose steps start over is a new run."""
    import dataclasses

    from gradtop.check import Check
    from gradtop.diagnosis import Diagnoser
    from gradtop.ui.model import WatchModel

    records = _calm_after_a_blowup("rotated-0001", 600)
    # The same header again mid-run, as a reader decodes it: equal, but another object.
    head = dataclasses.replace(records[0])  # type: ignore[type-var]
    rotated = [*records[:401], head, *records[401:]]

    model, session = WatchModel(Diagnoser), Check("rotated.jsonl", fail_on="never")
    model.add(rotated)  # type: ignore[arg-type]
    session.feed(rotated)
    model.diagnose()
    for findings in (model.findings["rotated-0001"], session.findings(session.selected())):  # type: ignore[arg-type]
        assert any(f.kind == "exploding" and f.cleared_step is not None for f in findings)

    again = dataclasses.replace(head)  # type: ignore[type-var]
    restarted = [*rotated, again, *_calm_after_a_blowup("rotated-0001", 600, first=10)[1:]]
    model = WatchModel(Diagnoser)
    model.add(restarted)  # type: ignore[arg-type]
    model.diagnose()
    run = model.history.runs["rotated-0001"]
    assert run.steps == 591 and model.history.restarted == 1
    assert not any(f.kind == "exploding" for f in model.findings["rotated-0001"])


async def test_steps_that_go_back_and_garbage_do_not_crash_the_dashboard(tmp_path: Path) -> None:
    """A bad file as users make them: a run, random bytes, a step number past int64, a
    header of a newer format, then steps of the run repeated (they go back in step)."""
    good = fixture_path("vanishing.jsonl").read_bytes().splitlines(keepends=True)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b"".join(good)
        + bytes(range(256)) * 4
        + b'\n{"kind":"step","run_id":"vanishing-0002","seq":999,"step":18446744073709551616}\n'
        + b'{"kind":"header","version":"9.0"}\n'
        + b"".join(good[-20:-15])
    )
    app = make_app(path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_loaded(pilot)
        await pilot.pause()
        assert "skipped" in header_text(app)
        table = app.query_one(LayerTable)
        assert len(table.rows) == 20 and table.rows[0].status.sick

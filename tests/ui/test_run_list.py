"""The run list (``gradtop watch DIR``), driven with a real Pilot over real files.

What each line must say is measured here from the raw JSON lines of each file (its last
step, its model, whether it ended), not taken from gradtop; the worst finding is held to
what ``gradtop check`` reports on the same file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.pilot import Pilot

from gradtop.check import CheckOptions
from gradtop.check_command import run_check
from gradtop.ui.compare_screen import CompareScreen
from gradtop.ui.help_screen import HelpScreen
from gradtop.ui.run_list import file_labels
from gradtop.ui.run_list_app import RunListApp
from gradtop.ui.run_list_screen import LIST_KEYS, RunListScreen
from tests.support import wait_until
from tests.ui.ui_helpers import fixture_path

# Ten runs in nine files, one file with two runs, one in a subdirectory.
TEN = {
    "a_healthy.jsonl": "healthy",
    "b_vanishing.jsonl": "vanishing",
    "c_exploding.jsonl": "exploding",
    "d_live.jsonl": "exploding_live",
    "e_two.jsonl": "two_runs",
    "f_hostile.jsonl": "hostile",
    "g_healthy.jsonl": "healthy",
    "h_vanishing.jsonl": "vanishing",
    "sub/i_exploding.jsonl": "exploding",
}


def _dir_of_runs(root: Path) -> Path:
    top = root / "runs"
    for name, fixture in TEN.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fixture_path(f"{fixture}.jsonl"), top / name)
    (top / "notes.txt").write_text("not a log\n")
    return top


def _raw_runs(path: Path) -> list[dict[str, object]]:
    """Per run, in file order: its model, last step and whether an end record came."""
    runs: dict[str, dict[str, object]] = {}
    for line in path.read_bytes().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict) or rec.get("kind") not in ("header", "step", "end"):
            continue
        rid = rec.get("run_id")
        if rec["kind"] == "header":
            runs[rid] = {"model": rec.get("model", ""), "step": None, "ended": False}
        elif rid in runs and rec["kind"] == "step":
            runs[rid]["step"] = rec["step"]
        elif rid in runs:
            runs[rid]["ended"] = True
    return list(runs.values())


def _newest_time(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        for line in path.read_bytes().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("time"), int | float):
                newest = max(newest, float(rec["time"]))
    return newest


def _app(targets: list[str], **kwargs: object) -> RunListApp:
    logs = [Path(p) for t in targets for p in _expanded(t)]
    now = _newest_time([p for p in logs if p.exists()]) + 3600.0  # all silent: stalled
    kwargs.setdefault("clock", lambda: now)
    return RunListApp(targets, poll=True, tick=0.05, **kwargs)  # type: ignore[arg-type]


def _expanded(target: str) -> list[str]:
    from gradtop.reader.targets import expand

    return expand([target]).files


async def _all_read(pilot: Pilot[None], app: RunListApp) -> RunListScreen:
    await wait_until(pilot, lambda: app.all_read, "every file read")
    screen = app.list_screen
    drawn = screen.draws
    await wait_until(pilot, lambda: screen.draws > drawn, "the list redrawn")
    return screen


SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def _check_worst(path: Path) -> str:
    """The most severe active finding of `gradtop check --json`, the first of equals."""
    out: list[str] = []
    run_check(CheckOptions(path=str(path), as_json=True), out.append, lambda _t: None)
    findings = [f for f in json.loads(out[0])["findings"] if f["active"]]
    if not findings:
        return ""
    return max(findings, key=lambda f: SEVERITY[f["severity"]])["kind"]


async def test_a_directory_of_ten_runs_lists_each_one_truthfully(tmp_path: Path) -> None:
    top = _dir_of_runs(tmp_path)
    app = _app([str(top)])
    async with app.run_test(size=(200, 60)) as pilot:
        screen = await _all_read(pilot, app)
        assert isinstance(app.screen, RunListScreen)
        rows = screen.rows
        top_level = sorted(str(top / n) for n in TEN if "/" not in n)
        files = [*top_level, str(top / "sub/i_exploding.jsonl")]
        assert sorted({r.path for r in rows}) == sorted(files)  # notes.txt is not a log
        assert len(rows) == 10
        for path in files:
            raw = _raw_runs(Path(path))
            mine = [r for r in rows if r.path == path]
            assert [(r.model, r.step) for r in mine] == [(x["model"], x["step"]) for x in raw]
            for row, run in zip(mine, raw, strict=True):
                # The clock is an hour past the newest record of all files: every unended run
                # here is silent for ages (stalled); the fixture host is not this machine.
                assert row.state == ("finished" if run["ended"] else "stalled"), path
            if len(raw) == 1:
                worst = mine[0].finding
                assert (worst.kind if worst is not None else "") == _check_worst(Path(path))
        labels = {r.name for r in rows}
        assert "sub/i_exploding" in labels and "e_two (1/2)" in labels and "e_two (2/2)" in labels
        for i, row in enumerate(rows):  # each line on screen names its run
            assert row.name in str(screen.options.get_option_at_index(i).prompt)


async def test_enter_opens_the_runs_dashboard_and_esc_comes_back(tmp_path: Path) -> None:
    top = _dir_of_runs(tmp_path)
    app = _app([str(top)])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _all_read(pilot, app)
        target = next(i for i, r in enumerate(screen.rows) if r.name == "e_two (1/2)")
        row = screen.rows[target]
        screen.options.highlighted = target
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, RunListScreen), "dashboard")
        assert app.path == row.path and app.run_id == row.run_id  # the older run, pinned
        run = app.current_run()
        assert run is not None and run.run_id == row.run_id
        await pilot.pause()
        assert "e_two" in str(app.header.render())  # the file's name as in the list
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.list_screen, "back to the list")
        assert screen.options.highlighted == target  # where the user left it
        # Opening the newest run of a file follows the newest run.
        newest = next(i for i, r in enumerate(screen.rows) if r.name == "e_two (2/2)")
        screen.options.highlighted = newest
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is not app.list_screen, "dashboard again")
        assert app.path == row.path and app.run_id is None
        # A filter is cleared by the first Esc, the second goes back.
        await pilot.press("slash", *"fc", "enter")
        await pilot.press("escape")
        assert app.filter_text == "" and app.screen is not app.list_screen
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.list_screen, "list after filter")
        # A file in a subdirectory: the header names it as the list does.
        screen.options.highlighted = next(
            i for i, r in enumerate(screen.rows) if r.name == "sub/i_exploding"
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is not app.list_screen, "its dashboard")
        app.redraw(full=True)
        await pilot.pause()
        assert "sub/i_exploding" in str(app.header.render())


async def test_runs_that_appear_later_are_added_and_grow(tmp_path: Path) -> None:
    top = tmp_path / "runs"
    top.mkdir()
    app = RunListApp([str(top)], poll=True, tick=0.05, rescan=0.1)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.list_screen
        await wait_until(pilot, lambda: screen.draws > 1, "the empty list drawn")
        assert screen.rows == [] and "waiting for *.jsonl" in str(screen.notes.render())
        lines = fixture_path("healthy.jsonl").read_bytes().splitlines(keepends=True)
        (top / "late.jsonl").write_bytes(b"".join(lines[:50]))
        await wait_until(
            pilot, lambda: [r.step for r in screen.rows] == [49], "the new file's run listed"
        )
        with (top / "late.jsonl").open("ab") as f:
            f.write(b"".join(lines[50:120]))
        await wait_until(pilot, lambda: [r.step for r in screen.rows] == [119], "its growth")
        assert screen.options.option_count == 1


WRITER = """
import os, sys, time, torch, gradtop
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
log = gradtop.Logger(sys.argv[1], model, optimizer=opt, name="doomed")
for _ in range(5):
    loss = model(torch.randn(16, 4)).pow(2).mean()
    opt.zero_grad(); loss.backward(); log.log(loss); opt.step()
deadline = time.monotonic() + 60
while open(sys.argv[1]).read().count('"kind":"step"') < 5 and time.monotonic() < deadline:
    time.sleep(0.01)
os._exit(0)
"""


async def test_a_writer_that_died_is_dead_at_once(tmp_path: Path) -> None:
    top = tmp_path / "runs"
    top.mkdir()
    path = top / "doomed.jsonl"
    subprocess.run([sys.executable, "-c", WRITER, str(path)], check=True, timeout=120)
    app = RunListApp([str(top)], poll=True, tick=0.05)  # the real clock: seconds old
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _all_read(pilot, app)
        (row,) = screen.rows
        (raw,) = _raw_runs(path)
        assert (row.name, row.step, row.state) == ("doomed", raw["step"], "dead")
        assert "DEAD writer" in str(screen.options.get_option_at_index(0).prompt)
        assert "1 dead" in str(screen.summary.render())
        # Its dashboard names the run by its Logger(name=) and says the same.
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is not screen, "the dashboard")
        app.redraw(full=True)
        await pilot.pause()
        header = str(app.header.render())
        assert 'run "doomed"' in header and "DEAD writer" in header, header


async def test_marked_runs_are_compared_and_esc_returns_to_the_list(tmp_path: Path) -> None:
    top = _dir_of_runs(tmp_path)
    app = _app([str(top)])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _all_read(pilot, app)
        names = [r.name for r in screen.rows]
        await pilot.press("c")  # nothing marked: says how
        assert app.screen is screen
        for name in ("b_vanishing", "a_healthy"):
            screen.options.highlighted = names.index(name)
            await pilot.press("space")
        assert len(screen.marked) == 2 and "2 marked" in str(screen.summary.render())
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), "comparison")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await wait_until(pilot, lambda: compare.draws >= 1, "comparison drawn")
        # In list order: a_healthy is A, b_vanishing is B.
        assert [s.label for s in compare.sides] == ["A a_healthy", "B b_vanishing"]
        assert [s.measured.steps for s in compare.sides] == [200, 200]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, "back to the list")


async def test_watch_two_files_opens_their_comparison(tmp_path: Path) -> None:
    before, after = tmp_path / "before.jsonl", tmp_path / "after.jsonl"
    shutil.copyfile(fixture_path("vanishing.jsonl"), before)
    shutil.copyfile(fixture_path("healthy.jsonl"), after)
    app = _app([str(before), str(after)], compare=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), "comparison")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await wait_until(pilot, lambda: compare.draws >= 1, "drawn")
        assert [s.label for s in compare.sides] == ["A before", "B after"]
        assert "vanishing gradients gone" in " ".join(
            text for line in _verdict(compare) for text, _tone in line
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.list_screen, "the list")


def _verdict(compare: CompareScreen) -> list[list[tuple[str, str]]]:
    from gradtop.ui.compare_view import verdict_lines

    return verdict_lines(compare.sides, 200)


async def test_a_missing_file_and_a_remote_glob_say_why(tmp_path: Path) -> None:
    app = RunListApp([str(tmp_path / "not_yet.jsonl"), "box:runs/*.jsonl"], poll=True, tick=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.list_screen
        await wait_until(
            pilot, lambda: [r.state for r in screen.rows] == ["waiting"], "waiting for the file"
        )
        assert "waiting for file" in str(screen.options.get_option_at_index(0).prompt)
        # The glob is listed over ssh: a host that does not resolve says why in a line.
        await wait_until(
            pilot, lambda: "box:runs/*.jsonl: cannot list" in str(screen.notes.render()), "why"
        )


async def test_the_lists_help_names_every_key_it_has(tmp_path: Path) -> None:
    app = _app([str(_dir_of_runs(tmp_path))])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _all_read(pilot, app)
        covered = {action for key in LIST_KEYS for action in key.actions}
        for binding in RunListScreen.BINDINGS:
            assert isinstance(binding, Binding) and binding.action in covered, binding
        active = {b.binding.action for b in screen.active_bindings.values() if b.enabled}
        assert covered <= active  # each help line is a key the list really has
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "compare the marked runs" in text and "Reading the layer table" not in text


def test_file_labels_tell_same_named_files_apart() -> None:
    paths = ["/r/exp1/gradtop.jsonl", "/r/exp2/gradtop.jsonl", "box:/r/x.jsonl"]
    assert file_labels(paths) == {
        "/r/exp1/gradtop.jsonl": "exp1/gradtop",
        "/r/exp2/gradtop.jsonl": "exp2/gradtop",
        "box:/r/x.jsonl": "box:x",  # two groups: the host is named
    }
    assert file_labels(["/r/only.jsonl"]) == {"/r/only.jsonl": "only"}
    # One host only (watch box:runs/): the names are below its directory, no host.
    remote = ["box:runs/a.jsonl", "box:runs/sub/b.jsonl"]
    assert file_labels(remote) == {"box:runs/a.jsonl": "a", "box:runs/sub/b.jsonl": "sub/b"}


# Snapshots: the list at 80x24 (columns dropped, step and loss kept) and 200x60.


@pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_list_snapshot(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = _app([str(_dir_of_runs(tmp_path))])

    async def loaded(pilot: Pilot[None]) -> None:
        screen = await _all_read(pilot, app)
        screen.options.highlighted = 2
        await pilot.press("space")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=loaded)

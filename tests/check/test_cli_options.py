"""``check`` and ``watch`` take FILE, --poll, --tick and --threshold from one definition,
and ``check --json`` keeps the key order scripts have parsed since it existed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradtop.check_summary import CheckSummary
from gradtop.cli import check, main, watch

DATA = Path(__file__).resolve().parents[1] / "data"

# The --json object of a file with a run, in order: file facts, the selected run, the
# runs, then the selected run's details (added later, so appended), then --fail-on.
KEYS = [
    "file", "state", "records", "skipped", "skipped_total", "truncations", "rotations",
    "runs_continued", "runs_restarted", "ignored", "partial_bytes", "message",
    "version_error", "run_id", "model", "steps", "params", "modules", "last_step",
    "last_loss", "findings", "runs", "host", "started", "world_size", "first_step", "ended",
    "end_reason", "dropped", "seq_gaps", "first_nonfinite", "scalars", "logger_share",
    "name", "argv", "fail_on",
]  # fmt: skip


def test_the_shared_options_are_one_definition() -> None:
    ours = {p.name: p.to_info_dict() for p in check.params}
    theirs = {p.name: p.to_info_dict() for p in watch.params}
    for name in ("poll", "tick", "thresholds"):
        assert ours[name] == theirs[name], name
    # FILE differs only in its name in the help: check compares files, watch also lists
    # the runs of directories.
    assert check.params[0].name == watch.params[0].name == "path"
    assert check.params[0].nargs == watch.params[0].nargs == -1
    assert (check.params[0].human_readable_name, watch.params[0].human_readable_name) == (
        "FILE...",
        "FILE|DIR...",
    )


def test_watch_passes_poll_tick_and_thresholds_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradtop.ui.app import GradtopApp

    built: list[GradtopApp] = []
    monkeypatch.setattr(GradtopApp, "run", lambda self, *a, **k: built.append(self))
    path = str(DATA / "vanishing.jsonl")
    args = ["watch", path, "--poll", "--tick", "0.05", "--threshold", "vanishing_ratio=1e-30"]
    result = CliRunner().invoke(main, args, prog_name="gradtop")
    assert result.exit_code == 0, result.output
    (app,) = built
    assert (app.poll, app.tick, app.path) == (True, 0.05, path)
    bad = CliRunner().invoke(main, ["watch", path, "--tick", "0"])
    assert bad.exit_code == 2 and "--tick" in bad.output


@pytest.mark.parametrize(
    ("given", "listed", "compare"),
    [
        (["dir"], ["dir/a.jsonl", "dir/sub/b.jsonl"], False),  # a directory: the run list
        (["dir/a.jsonl", "dir/sub/b.jsonl"], ["dir/a.jsonl", "dir/sub/b.jsonl"], True),
        (["dir/*.jsonl", "c.jsonl"], ["dir/a.jsonl", "c.jsonl"], False),
        (["x.jsonl", "y.jsonl", "z.jsonl"], ["x.jsonl", "y.jsonl", "z.jsonl"], False),
    ],
)
def test_watch_of_several_files_or_a_directory_opens_the_run_list(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    given: list[str],
    listed: list[str],
    compare: bool,
) -> None:
    """Two files are compared at once; a directory lists every *.jsonl below it (not
    other files); a file that does not exist yet is followed all the same."""
    from gradtop.reader.targets import expand
    from gradtop.ui.run_list_app import RunListApp

    (tmp_path / "dir" / "sub").mkdir(parents=True)
    for name in ("dir/a.jsonl", "dir/sub/b.jsonl"):
        (tmp_path / name).write_bytes((DATA / "healthy.jsonl").read_bytes())
    (tmp_path / "dir" / "notes.txt").write_text("not a log")
    monkeypatch.chdir(tmp_path)
    built: list[RunListApp] = []
    monkeypatch.setattr(RunListApp, "run", lambda self, *a, **k: built.append(self))
    result = CliRunner().invoke(main, ["watch", *given, "--poll"], prog_name="gradtop")
    assert result.exit_code == 0, result.output
    (app,) = built
    assert app.targets == tuple(given) and app._compare_first is compare and app.poll is True
    assert expand(app.targets).files == [str(Path(p)) for p in listed]


def test_check_json_keys_and_their_order(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--json", str(DATA / "vanishing.jsonl")])
    assert result.exit_code == 1, result.output  # a critical finding
    assert list(json.loads(result.stdout)) == KEYS
    # Without a run (never printed by check itself, but what --follow compares first):
    # the run's fields at their places with empty values, no details.
    empty = CheckSummary("run.jsonl", state="waiting").to_json()
    assert list(empty) == [k for k in KEYS if k not in KEYS[KEYS.index("host") : -1]]
    assert (empty["run_id"], empty["steps"], empty["findings"]) == (None, 0, [])


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["check", "--nope", "x.jsonl"], "gradtop check: No such option '--nope'"),
        (["check"], "gradtop check: Missing argument 'FILE...'"),
        (["watch"], "gradtop watch: Missing argument 'FILE|DIR...'"),
        (["chek"], "gradtop: No such command 'chek'"),
        (["watch", "--threshold", "nope=1", "x.jsonl"], "gradtop watch: Invalid value"),
    ],
)
def test_a_usage_error_is_one_line_that_names_the_help(args: list[str], says: str) -> None:
    result = CliRunner().invoke(main, args, prog_name="gradtop")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(says) and lines[0].endswith("--help)"), lines[0]
    assert result.stdout == ""


def test_idle_exit_without_follow_is_a_usage_error(tmp_path: Path) -> None:
    """Silently ignoring it would let a CI step believe it waited for the run to end."""
    path = DATA / "healthy.jsonl"
    assert path.exists()
    result = CliRunner().invoke(main, ["check", str(path), "--idle-exit", "5"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "gradtop check: --idle-exit needs --follow (a one-shot check ends at the end of the file)"
    )
    assert result.stdout == ""
    followed = CliRunner().invoke(
        main, ["check", str(path), "--follow", "--idle-exit", "0.2", "--poll", "--tick", "0.05"]
    )
    assert followed.exit_code in (0, 1), followed.stderr
    assert "steps" in followed.stdout

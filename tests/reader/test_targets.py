"""Which files ``gradtop watch DIR`` follows: real directories, globs and names."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradtop.reader.targets import MAX_DEPTH, expand, is_listing


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")


def test_a_directory_lists_its_logs_down_to_two_levels(tmp_path: Path) -> None:
    assert MAX_DEPTH == 3
    _touch(tmp_path, "a.jsonl", "x/b.jsonl", "x/y/c.jsonl", "x/y/z/too_deep.jsonl")
    _touch(tmp_path, "notes.txt", ".hidden/d.jsonl", "x/e.jsonl.bak")
    found = expand([str(tmp_path)])
    rel = [str(Path(p).relative_to(tmp_path)) for p in found.files]
    assert rel == ["a.jsonl", "x/b.jsonl", "x/y/c.jsonl"]
    assert found.errors == [] and found.left_out == 0


def test_numbered_runs_come_in_a_persons_order(tmp_path: Path) -> None:
    _touch(tmp_path, "exp10/g.jsonl", "exp2/g.jsonl", "exp1/g.jsonl", "run10.jsonl", "run9.jsonl")
    rel = [str(Path(p).relative_to(tmp_path)) for p in expand([str(tmp_path)]).files]
    assert rel == ["run9.jsonl", "run10.jsonl", "exp1/g.jsonl", "exp2/g.jsonl", "exp10/g.jsonl"]
    globbed = expand([str(tmp_path / "exp*" / "g.jsonl")]).files
    assert [Path(p).parent.name for p in globbed] == ["exp1", "exp2", "exp10"]


def test_globs_files_and_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _touch(tmp_path, "r1.jsonl", "r2.jsonl", "r2.txt")
    monkeypatch.chdir(tmp_path)
    # A glob, a file named again (relative and absolute), and one that does not exist yet.
    found = expand(["r*.jsonl", "r1.jsonl", str(tmp_path / "r2.jsonl"), "later.jsonl"])
    assert found.files == ["r1.jsonl", "r2.jsonl", "later.jsonl"]
    assert is_listing("r*.jsonl") and is_listing(str(tmp_path)) and not is_listing("r1.jsonl")


def test_remote_files_pass_and_remote_listings_are_left_to_ssh() -> None:
    found = expand(["gpu7:runs/a.jsonl", "gpu7:runs/*.jsonl", "me@gpu7:runs/"])
    assert found.files == ["gpu7:runs/a.jsonl"] and found.errors == []
    assert found.remote_listings == ["gpu7:runs/*.jsonl", "me@gpu7:runs/"]
    assert is_listing("me@gpu7:runs/") and not is_listing("gpu7:runs/a.jsonl")

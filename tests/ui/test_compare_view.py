"""The comparison view's builder on real files: the same verdict as ``gradtop check A B``,
and numbers that the test measures from the raw records itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradtop.check import Check, read_all
from gradtop.ui.compare_view import (
    compare_side,
    findings_lines,
    legend_lines,
    profile_lines,
    verdict_lines,
)
from tests.check.test_check_compare import check, measured_loss, measured_ratio
from tests.ui.ui_helpers import DATA


def sides_of(*paths: Path, labels: str = "ABC") -> list:
    """Each file's newest run as a side, read by the one-shot check's pipeline."""
    out = []
    for i, path in enumerate(paths):
        c = Check(str(path))
        read_all(c)
        run = c.selected()
        assert run is not None
        out.append(compare_side(labels[i], run, c.findings(run)))
    return out


def text(lines: list) -> str:
    return "\n".join("".join(t for t, _ in line) for line in lines)


def split_runs(path: Path, out: Path) -> list[Path]:
    """One file per run of ``path`` (its header and its steps), oldest first."""
    files: dict[str, list[bytes]] = {}
    for line in path.read_bytes().splitlines(keepends=True):
        files.setdefault(json.loads(line)["run_id"], []).append(line)
    paths = []
    for n, lines in enumerate(files.values()):
        paths.append(out / f"run{n}.jsonl")
        paths[-1].write_bytes(b"".join(lines))
    return paths


def test_the_verdict_is_check_a_b_s_on_the_same_files() -> None:
    vanishing, healthy = DATA / "vanishing.jsonl", DATA / "healthy.jsonl"
    a, b = sides_of(vanishing, healthy)
    _, out, _ = check("--json", str(vanishing), str(healthy))
    verdict = json.loads(out)["verdict"]
    assert verdict.startswith("vanishing gradients gone")
    shown = text(verdict_lines([a, b], 400))
    assert shown == f"A → B: {verdict}"
    # The numbers quoted are the ones the test measures from the raw records.
    assert a.measured.depth_ratio == pytest.approx(measured_ratio(vanishing), rel=1e-6)
    assert b.measured.depth_ratio == pytest.approx(measured_ratio(healthy), rel=1e-6)
    assert a.measured.loss == pytest.approx(measured_loss(vanishing), rel=1e-6)


def test_two_runs_of_one_file_compare_as_the_two_files_do(tmp_path: Path) -> None:
    """Runs read from one file (the watch case) give the verdict check gives on each alone."""
    both = DATA / "two_runs.jsonl"
    c = Check(str(both))
    read_all(c)
    runs = list(c.history.runs.values())
    assert len(runs) == 2
    sides = [compare_side("AB"[i], r, c.findings(r)) for i, r in enumerate(runs)]
    first, second = split_runs(both, tmp_path)
    _, out, _ = check("--json", str(first), str(second))
    assert text(verdict_lines(sides, 400)) == "A → B: " + json.loads(out)["verdict"]


def test_the_rows_say_what_each_run_measured() -> None:
    a, b = sides_of(DATA / "vanishing.jsonl", DATA / "healthy.jsonl")
    rows = text(profile_lines([a, b], 80))
    assert "3.6e-7" in rows.splitlines()[1] and "1.4" in rows.splitlines()[2]
    found = text(findings_lines([a, b], 80)).splitlines()
    assert "✖ vanishing gradients" in found[0]
    assert found[1].endswith("no active findings") and not b.measured.findings
    legend = text(legend_lines([a, b], 80)).splitlines()
    assert legend[0].startswith("A *  run ") and legend[1].startswith("B x  run ")
    assert "200 steps" in legend[0]
    for line in rows.splitlines() + found + legend:
        assert len(line) <= 80, line


def test_what_was_not_measured_is_n_a(tmp_path: Path) -> None:
    """A run with a header and no step: no ratio, no loss, and no claim of health."""
    path = tmp_path / "header_only.jsonl"
    path.write_bytes((DATA / "vanishing.jsonl").read_bytes().split(b"\n", 1)[0] + b"\n")
    (empty,) = sides_of(path)
    (healthy,) = sides_of(DATA / "healthy.jsonl")
    rows = text(profile_lines([empty, healthy], 80)).splitlines()
    assert rows[1].split()[-2:] == ["n/a", "n/a"]
    assert "no step yet" in text(findings_lines([empty, healthy], 80)).splitlines()[0]
    assert "depth ratio n/a -> 1.4" in text(verdict_lines([empty, healthy], 400))


def test_three_runs_are_each_judged_against_the_first() -> None:
    sides = sides_of(DATA / "vanishing.jsonl", DATA / "healthy.jsonl", DATA / "exploding.jsonl")
    lines = text(verdict_lines(sides, 400)).splitlines()
    assert lines[0] == "each run against the first (A):"
    assert lines[1].startswith("A → B: vanishing gradients gone")
    _, out, _ = check("--json", str(DATA / "vanishing.jsonl"), str(DATA / "exploding.jsonl"))
    assert lines[2] == "A → C: " + json.loads(out)["verdict"]


def test_a_long_verdict_wraps_between_clauses() -> None:
    a, b = sides_of(DATA / "vanishing.jsonl", DATA / "healthy.jsonl")
    lines = text(verdict_lines([a, b], 50)).splitlines()
    assert len(lines) > 1 and all(len(line) <= 50 for line in lines)
    joined = " ".join(line.strip() for line in lines)
    assert joined.replace("; ", ";").replace(";", "; ") == text(verdict_lines([a, b], 400))

"""``gradtop check`` reports the Diagnoser's findings, fails on --fail-on, and takes
--threshold overrides; the Diagnoser is fed while reading, so early episodes of a long
file are not lost to the window."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from gradtop.cli import main
from gradtop.history import History
from gradtop.records import Record
from tests.diagnosis.synth import feed, header, mlp_specs, per_layer, write_jsonl

DEPTH = 6


def _vanishing_file(path: Path, steps: int = 150, recover_at: int | None = None) -> Path:
    sick = per_layer(np.r_[np.full(DEPTH - 2, 1e-8), 1.0, 1.0])
    well = per_layer(np.ones(DEPTH))
    records: list[Record] = []
    feed(
        History(),
        header(mlp_specs(DEPTH), activations=("Sigmoid",)),
        range(1, steps + 1),
        grad=lambda s: sick if recover_at is None or s < recover_at else well,
        update=lambda s: 1e-12 if recover_at is None or s < recover_at else 1e-3,
        loss=lambda s: 2.3 if recover_at is None or s < recover_at else 2.3 * 0.999 ** (s - 400),
        sink=records,
    )
    return write_jsonl(path, records)


def _check(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.stdout, result.stderr


def test_critical_finding_fails_by_default_with_evidence_and_fixes(tmp_path: Path) -> None:
    path = _vanishing_file(tmp_path / "run.jsonl")
    code, out, _ = _check(str(path))
    assert code == 1
    assert "CRITICAL  Vanishing gradients" in out
    assert (
        "evidence: depth ratio" in out and "fix: Use ReLU/LeakyReLU/GELU instead of Sigmoid" in out
    )
    assert _check("--fail-on", "never", str(path))[0] == 0


def test_fail_on_levels_and_threshold_overrides(tmp_path: Path) -> None:
    path = _vanishing_file(tmp_path / "run.jsonl")
    # R = 1e-8 is critical by default; with the critical ratio lowered it is a warning
    code, out, _ = _check("--threshold", "vanishing_critical_ratio=1e-12", str(path))
    assert code == 0 and "WARNING   Vanishing" in out
    assert (
        _check("--fail-on", "warning", "--threshold", "vanishing_critical_ratio=1e-12", str(path))[
            0
        ]
        == 1
    )
    code, out, _ = _check("--json", "--threshold", "vanishing_ratio=1e-9", str(path))
    summary = json.loads(out)
    assert summary["fail_on"] == "critical"
    assert "vanishing" not in {f["kind"] for f in summary["findings"]}


def test_bad_threshold_is_a_usage_error(tmp_path: Path) -> None:
    path = _vanishing_file(tmp_path / "run.jsonl")
    for bad in ("nope=1", "vanishing_ratio", "vanishing_persist=x"):
        code, _, err = _check("--threshold", bad, str(path))
        assert code == 2 and "--threshold" in err, (bad, err)


def test_an_early_episode_in_a_long_file_is_reported_as_cleared(tmp_path: Path) -> None:
    """1500 steps, vanishing only in the first 400: the end-of-file window (256 steps)
    no longer shows it, so only a Diagnoser fed while reading can report it."""
    path = _vanishing_file(tmp_path / "long.jsonl", steps=1500, recover_at=400)
    code, out, _ = _check("--json", str(path))
    assert code == 0  # cleared findings never fail a check
    findings = {f["kind"]: f for f in json.loads(out)["findings"]}
    vanishing = findings["vanishing"]
    assert vanishing["active"] is False and vanishing["first_step"] == 40
    assert 400 < vanishing["cleared_step"] < 450

"""Runs have names a person reads (``Logger(name=)``, format 1.4): ``--run`` takes a name
or a unique start of one, and the text and ``--json`` show it with the command that ran."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gradtop.cli import main
from gradtop.records import encode_record
from tests.reader.gradwriter import header, step_line
from tests.support import INVISIBLE, escaped

N = 4


def run_lines(run: str, name: str, steps: int, argv: list[str] | None = None) -> bytes:
    head = encode_record({**header(run, N, version="1.4"), "name": name, "argv": argv or []})
    return head + b"".join(step_line(run, s, N) for s in range(1, steps + 1))


def check(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.stdout, result.stderr


def three_runs(tmp_path: Path) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_bytes(
        run_lines("a1" * 16, "baseline", 5, ["train.py", "--act", "sigmoid"])
        + run_lines("b2" * 16, "relu-fix", 4, ["train.py", "--act", "relu"])
        + run_lines("c3" * 16, "relu-fix-he", 3)
    )
    return path


def test_run_takes_a_name_then_a_unique_start_of_one(tmp_path: Path) -> None:
    path = three_runs(tmp_path)
    # "relu-fix" is one run's whole name and the start of another's: the whole name wins.
    for ref, want in (("baseline", "a1"), ("relu-fix", "b2"), ("base", "a1"), ("relu-fix-", "c3")):
        code, out, err = check("--run", ref, "--json", str(path))
        assert code == 0, err
        got = json.loads(out)
        assert got["run_id"] == want * 16, ref
        assert got["name"] == {"a1": "baseline", "b2": "relu-fix", "c3": "relu-fix-he"}[want]
    code, out, err = check("--run", "relu", str(path))
    assert code == 2 and out == ""
    assert err == (
        f"gradtop check: run relu is ambiguous in {path}: it names {'b2' * 16}, {'c3' * 16}\n"
    )
    code, _, err = check("--run", "nope", str(path))
    assert code == 2
    assert f'(runs: {"a1" * 16} "baseline", {"b2" * 16} "relu-fix", ' in err


def test_text_and_json_show_the_name_and_the_command(tmp_path: Path) -> None:
    path = three_runs(tmp_path)
    code, out, _ = check("--run", "baseline", str(path))
    assert code == 0
    assert f'  run       {"a1" * 16} "baseline" (MLP) on gpu7' in out
    assert "  command   train.py --act sigmoid\n" in out
    assert f'  {"c3" * 16} "relu-fix-he" (MLP)  3 steps' in out  # the other runs, named
    got = json.loads(check("--run", "baseline", "--json", str(path))[1])
    assert got["argv"] == ["train.py", "--act", "sigmoid"]
    assert [r["name"] for r in got["runs"]] == ["baseline", "relu-fix", "relu-fix-he"]
    assert list(got)[-3:] == ["name", "argv", "fail_on"]


def test_a_hostile_name_cannot_drive_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    zwsp = INVISIBLE["zero-width space"]
    path.write_bytes(run_lines("r" * 32, f"x\x1b[2Jy{zwsp}", 2, ["t\x1b]0;pwn\x07.py"]))
    code, out, _ = check(str(path))
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out and zwsp not in out
    assert f'[2Jy{escaped(zwsp)}" (MLP)' in out and "pwn" in out  # shown, made inert

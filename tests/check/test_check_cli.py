"""``gradtop check``: what a CI log shows, the JSON a script parses, and the exit codes.

Files are written with the real record encoder (the same factories the reader's writer
process uses); ``--follow`` runs as a real subprocess next to a real writer process.
"""

from __future__ import annotations

import json
import math
import os
import pty
import queue
import signal
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradtop.cli import main
from gradtop.history import MAX_SCALARS
from gradtop.records import encode_record
from tests.reader.gradwriter import Writer, header, header_line, hostile_lines, step, step_line
from tests.support import INVISIBLE, escaped

N = 4
END = b'{"kind":"end","run_id":"r1","seq":21,"time":2.0,"steps":20,"reason":"closed"}\n'
DEADLINE = 30.0


def write(path: Path, data: bytes) -> Path:
    with open(path, "ab") as f:
        f.write(data)
    return path


def steps(run: str, start: int, count: int, n: int = N) -> bytes:
    return b"".join(step_line(run, s, n) for s in range(start, start + count))


def check(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    path = tmp_path / "run.jsonl"
    return write(path, header_line("r1", N) + steps("r1", 1, 20) + END)


def test_human_summary(healthy: Path) -> None:
    code, out, err = check(str(healthy))
    assert code == 0 and err == ""
    assert f"gradtop check  {healthy}" in out
    assert "run       r1 (MLP) on gpu7, started 2023-11-14 22:13:20 UTC" in out
    assert "layers    4 parameter tensors in 4 modules" in out
    assert "steps     20 logged (step 1 to 20); last loss 9.524e-02" in out
    assert "records   22 read\n" in out  # header, 20 steps, end; nothing skipped
    assert "end       closed" in out and "findings  none" in out
    assert "\x1b" not in out  # not a terminal: no colour


def test_json_summary_with_skips(tmp_path: Path) -> None:
    path = write(tmp_path / "run.jsonl", header_line("r1", N) + steps("r1", 1, 3))
    write(path, b"oops\n\xff\xfe{\n" + steps("ghost", 1, 1) + steps("r1", 4, 1))
    write(path, step_line("r1", 5, N)[:30])  # the writer is mid-record
    code, out, _ = check("--json", str(path))
    assert code == 0
    s = json.loads(out)
    assert s["file"] == str(path) and s["run_id"] == "r1" and s["model"] == "MLP"
    assert (s["records"], s["steps"], s["params"], s["last_step"]) == (5, 4, N, 4)
    assert s["skipped"] == {"invalid_json": 1, "encoding": 1, "orphan": 1}
    assert s["partial_bytes"] == 30 and s["findings"] == [] and s["ended"] is False
    assert math.isclose(s["last_loss"], 2.0 / 5)
    assert [r["run_id"] for r in s["runs"]] == ["r1"]


def test_hostile_lines_are_schema_skips_through_the_whole_pipeline(tmp_path: Path) -> None:
    """Reader, History, diagnosis and report all survive them; the good lines around stay."""
    hostile = hostile_lines("r1", 4, N)
    path = write(tmp_path / "run.jsonl", header_line("r1", N) + steps("r1", 1, 3))
    write(path, b"".join(hostile) + steps("r1", 4, 2) + END)
    code, out, err = check("--json", str(path))
    assert (code, err) == (0, "")
    s = json.loads(out)
    assert s["skipped"] == {"schema": len(hostile)}
    assert (s["records"], s["steps"], s["first_step"], s["last_step"]) == (7, 5, 1, 5)
    assert s["run_id"] == "r1" and s["ended"] and [r["run_id"] for r in s["runs"]] == ["r1"]
    assert s["started"] == 1_700_000_000.0
    code, out, err = check(str(path))
    assert (code, err) == (0, "")
    assert "5 logged (step 1 to 5)" in out and f"{len(hostile)} skipped (schema" in out


def test_lines_that_would_claim_gigabytes_are_read_in_bounded_memory(tmp_path: Path) -> None:
    """20,000 invented statistic names (once 1.7 GB) and 100,000 scalar names (once 4 GB)."""
    many_stats = step("r1", 2, N)
    many_stats["stats"].update({f"s{i:05}": [0.5] * N for i in range(20_000)})
    many_scalars = step("r1", 3, N)
    many_scalars["scalars"] = {f"x{i:06}": 1.0 for i in range(100_000)}
    path = write(tmp_path / "run.jsonl", header_line("r1", N) + steps("r1", 1, 1))
    write(path, encode_record(many_stats) + encode_record(many_scalars) + steps("r1", 4, 2))
    tracemalloc.start()
    try:
        code, out, err = check("--json", str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (code, err) == (0, "")
    s = json.loads(out)
    assert (s["steps"], s["last_step"], s["skipped"]) == (5, 5, {})
    assert s["ignored"] == {"unknown_stat": 20_000, "scalar_limit": 100_000 - MAX_SCALARS}
    assert peak < 100 << 20, f"peak {peak >> 20} MiB"  # the lines themselves are ~2 MB
    code, out, _ = check(str(path))
    assert code == 0 and "ignored   scalar_limit 99,936, unknown_stat 20,000" in out


def test_several_runs_newest_first_and_run_selection(tmp_path: Path) -> None:
    path = write(tmp_path / "run.jsonl", header_line("a", N) + steps("a", 1, 5))
    write(path, header_line("b", 2) + steps("b", 1, 3, n=2))
    code, out, _ = check(str(path))
    assert code == 0
    assert "run       b (MLP)" in out and "3 logged (step 1 to 3)" in out
    assert "other runs read from this path (1):\n  a (MLP)  5 steps, step 1 to 5" in out
    code, out, _ = check("--run", "a", "--json", str(path))
    assert code == 0 and json.loads(out)["run_id"] == "a" and json.loads(out)["steps"] == 5
    code, out, err = check("--run", "zzz", str(path))
    assert code == 2 and out == ""
    assert err == f"gradtop check: run zzz not found in {path} (runs: a, b)\n"


def test_run_is_chosen_by_a_unique_start_or_end_of_its_id(tmp_path: Path) -> None:
    """The header shows a shortened id; a person types a part of it, not 32 characters."""
    first, second = "3f2a" + "0" * 24 + "c0de", "3f2b" + "1" * 24 + "beef"
    path = write(tmp_path / "run.jsonl", header_line(first, N) + steps(first, 1, 5))
    write(path, header_line(second, 2) + steps(second, 1, 3, n=2))
    for ref, want in (("3f2a", first), ("c0de", first), ("beef", second), (first, first)):
        code, out, _ = check("--run", ref, "--json", str(path))
        assert code == 0 and json.loads(out)["run_id"] == want, ref
    code, out, err = check("--run", "3f2", str(path))
    assert code == 2 and out == ""
    assert err == f"gradtop check: run 3f2 is ambiguous in {path}: it names {first}, {second}\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        (b"", "no gradtop run found"),
        (b"not json at all\n" * 3, "no gradtop run found"),
        (steps("r1", 1, 2), "(0 records; 2 skipped (orphan 2))"),
        (header_line("r9", N, version="2.0"), "upgrade gradtop"),
    ],
    ids=["missing", "empty", "garbage", "orphans", "newer-version"],
)
def test_unreadable_input_exits_2_with_one_line(
    tmp_path: Path, content: bytes | None, reason: str
) -> None:
    path = tmp_path / "run.jsonl"
    if content is not None:
        write(path, content)
    code, out, err = check(str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("gradtop check: ") and reason in err
    assert "Traceback" not in err


def test_a_directory_and_a_usage_error_exit_2(tmp_path: Path) -> None:
    code, _, err = check(str(tmp_path))
    assert code == 2 and "directory" in err and err.count("\n") == 1
    code, _, err = check("--idle-exit", "-1", str(tmp_path / "x"))
    assert code == 2 and "Traceback" not in err


def test_untrusted_names_are_inert_text(tmp_path: Path) -> None:
    names = ["[bold]x[/]", "\x1b]0;pwn\x07evil", "abc\u202edef\u2066", "n" * 1000]
    head = header("\x1b[2Jrun\u202e", N, names=names)
    head["model"] = "[red]M[/]\x9b31m"
    bad = step("\x1b[2Jrun\u202e", 1, N)
    bad["stats"]["nonfinite"] = [1, 1, 1, 1]
    path = write(tmp_path / "run.jsonl", encode_record(head) + encode_record(bad))
    code, out, _ = check(str(path))
    assert code in (0, 1)  # 1 when the diagnosis reports the non-finite gradients
    for char in ("\x1b", "\x07", "\x9b", "\u202e", "\u2066"):
        assert char not in out
    assert "[bold]x[/]" in out and "[red]M[/]" in out and "]0;pwn" in out
    assert max(len(line) for line in out.splitlines()) < 1000  # names capped
    code, out, _ = check("--json", str(path))
    assert out.isascii()
    s = json.loads(out)
    assert s["run_id"] == "\x1b[2Jrun\u202e" and s["first_nonfinite"]["params"] == names


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_characters_cannot_make_one_name_pose_as_another(
    tmp_path: Path, char: str
) -> None:
    names = ["enc.weight", f"enc{char}.weight", "dec.weight", "dec.bias"]
    bad = step("r1", 1, N)
    bad["stats"]["nonfinite"] = [0, 1, 0, 0]  # the look-alike is the one named
    path = write(
        tmp_path / "run.jsonl", encode_record(header("r1", N, names=names)) + encode_record(bad)
    )
    _, out, _ = check(str(path))
    assert char not in out
    assert f"enc{escaped(char)}.weight" in out


def test_hostile_fixture_prints_no_control_characters() -> None:
    fixture = Path(__file__).resolve().parents[1] / "data" / "hostile.jsonl"
    if not fixture.exists():
        pytest.skip("the UI fixtures are not generated")
    code, out, err = check(str(fixture))
    assert code in (0, 1) and "Traceback" not in err
    assert not any(ord(c) < 32 and c != "\n" for c in out)


def test_colour_only_on_a_terminal_and_never_with_no_color(healthy: Path) -> None:
    def run_on_a_tty(env: dict[str, str]) -> bytes:  # the whole environment of the child
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gradtop", "check", str(healthy)],
            stdout=follower,
            stderr=subprocess.PIPE,
            env=env,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        os.close(leader)
        assert proc.wait(timeout=DEADLINE) == 0
        return b"".join(chunks)

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert b"\x1b[32mnone" in run_on_a_tty(env)
    assert b"\x1b[" not in run_on_a_tty({**env, "NO_COLOR": "1"})


# ---------------------------------------------------------------------------- --follow


class Check:
    """``gradtop check --follow`` as a subprocess, its stdout lines read with deadlines."""

    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "gradtop", "check", "--follow", "--tick", "0.05", *args]
        env = {**os.environ, "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, text: str) -> list[str]:
        """Lines up to and including the first that contains ``text``."""
        seen = []
        while True:
            line = self.lines.get(timeout=DEADLINE)
            assert line is not None, f"exited before printing {text!r}: {seen}"
            seen.append(line)
            if text in line:
                return seen

    def finish(self) -> tuple[int, list[str], str]:
        code = self.proc.wait(timeout=DEADLINE)
        rest = []
        while (line := self.lines.get(timeout=DEADLINE)) is not None:
            rest.append(line)
        assert self.proc.stderr is not None
        return code, rest, self.proc.stderr.read()


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer(tmp_path / "run.jsonl")
    yield w
    w.close()


def test_follow_json_on_a_growing_file_until_idle(tmp_path: Path, writer: Writer) -> None:
    writer.header("r1", N)
    writer.steps("r1", 1, 2, N)
    proc = Check("--json", "--idle-exit", "1.5", str(tmp_path / "run.jsonl"))
    first = json.loads(proc.expect('"steps":2')[-1])
    assert first["records"] == 3 and first["watch"]["mode"] in ("native", "polling")
    writer.steps("r1", 3, 5, N)
    code, rest, err = proc.finish()
    objects = [json.loads(line) for line in rest]
    assert code == 0 and err == "" and objects
    assert objects[-1]["steps"] == 7 and objects[-1]["records"] == 8
    assert objects[-1]["last_step"] == 7


def test_follow_waits_for_a_missing_file_then_reports_changes(
    tmp_path: Path, writer: Writer
) -> None:
    proc = Check("--idle-exit", "1.5", str(tmp_path / "run.jsonl"))
    proc.expect("to appear")
    writer.header("r1", N)
    writer.steps("r1", 1, 3, N)
    proc.expect("run       r1 (MLP)")  # the first report with a run is the whole summary
    writer.raw(b"junk\n")
    writer.steps("r1", 4, 2, N)
    lines = proc.expect("skipped +1 lines (invalid_json +1)")
    assert any(line.startswith("step 5  loss") for line in lines), lines
    code, rest, err = proc.finish()
    assert code == 0 and err == ""
    assert any("5 logged (step 1 to 5)" in line for line in rest)  # the final summary


def test_follow_ctrl_c_exits_cleanly(tmp_path: Path, writer: Writer) -> None:
    writer.header("r1", N)
    writer.steps("r1", 1, 2, N)
    proc = Check(str(tmp_path / "run.jsonl"))
    proc.expect("findings")
    proc.proc.send_signal(signal.SIGINT)
    code, rest, err = proc.finish()
    assert code == 0 and "Traceback" not in err
    assert any("2 logged (step 1 to 2)" in line for line in rest)


def test_follow_a_file_that_never_appears_exits_2(tmp_path: Path) -> None:
    proc = Check("--idle-exit", "0.3", str(tmp_path / "never.jsonl"))
    code, rest, err = proc.finish()
    assert code == 2 and rest[0].startswith("waiting for")
    assert err.strip() == f"gradtop check: no such file: {tmp_path / 'never.jsonl'}"


@pytest.mark.parametrize("mode", [[], ["--json"]], ids=["text", "json"])
def test_follow_a_directory_exits_2_at_once(tmp_path: Path, mode: list[str]) -> None:
    # --idle-exit only bounds the old failure (it looped, printing "no gradtop run yet").
    code, out, err = check("--follow", "--idle-exit", "30", *mode, str(tmp_path))
    assert (code, out) == (2, "")
    assert err == f"gradtop check: {tmp_path}: cannot read: a directory\n"


def test_follow_text_says_why_a_file_cannot_be_read_yet() -> None:
    from gradtop.check_summary import CheckSummary
    from gradtop.check_text import describe_changes

    cur = CheckSummary("run.jsonl", state="error", message="cannot open: Permission denied")
    lines = describe_changes(None, cur)
    assert lines == ["cannot read run.jsonl yet: cannot open: Permission denied; retrying"]
    ssh = CheckSummary("h:run.jsonl", state="error", message="cannot connect: retrying in 4 s")
    assert describe_changes(None, ssh) == [
        "cannot read h:run.jsonl yet: cannot connect: retrying in 4 s"
    ]


def test_follow_text_reports_truncation_rotation_and_new_runs(tmp_path: Path) -> None:
    """In-process, with the file changed from inside the report callback: deterministic."""
    from gradtop.check import CheckOptions
    from gradtop.check_command import run_check

    path = write(tmp_path / "run.jsonl", header_line("r1", N) + steps("r1", 1, 3))

    def truncate() -> None:
        os.truncate(path, 0)  # copytruncate; the same run goes on
        write(path, steps("r1", 4, 2))

    def rotate() -> None:
        os.rename(path, tmp_path / "run.jsonl.1")
        write(path, header_line("r2", 2) + steps("r2", 1, 1, n=2))

    actions = [truncate, rotate]
    lines: list[str] = []

    def echo(text: str) -> None:
        lines.append(text)
        if actions:
            actions.pop(0)()

    errors: list[str] = []
    options = CheckOptions(path=str(path), follow=True, idle_exit=1.0, poll=True, tick=0.05)
    assert run_check(options, echo, errors.append) == 0 and errors == []
    text = "\n".join(lines)
    expected = [
        "  steps     3 logged (step 1 to 3)",
        "file truncated: reading from the start",
        "step 5  loss 3.333e-01  (+2 steps, 5 in this run)",
        "file replaced: following the new file",
        "run r2 (MLP): 2 parameter tensors in 2 modules",
        "step 1  loss 1.000e+00  (+1 step, 1 in this run)",
        "  file      truncated 1x; replaced 1x",
        "other runs read from this path (1):\n  r1 (MLP)  5 steps, step 1 to 5",
    ]
    positions = [text.find(e) for e in expected]
    assert -1 not in positions and positions == sorted(positions), text


def test_a_utf8_byte_order_mark_at_the_start_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path / "run.jsonl",
        b"\xef\xbb\xbf" + encode_record(header("r1", N)) + steps("r1", 1, 3) + END,
    )
    code, out, _ = check("--json", str(path))
    assert code == 0
    s = json.loads(out)
    assert s["steps"] == 3 and not s["skipped"], s

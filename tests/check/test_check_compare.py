"""``gradtop check A B``: the newest run of each file side by side, and a verdict of what
changed that says only what the two files measure.

The real-demo test trains the broken net and its fix through the real CLI and measures the
depth ratio from the raw records itself (no gradtop reader, no History) before reading what
the comparison says; the fast tests use the committed fixtures and hand-written files.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradtop.cli import main
from gradtop.records import encode_record
from tests.reader.gradwriter import header, step_line
from tests.support import INVISIBLE, strict_loads
from tests.ui.ui_helpers import DATA

RECENT = 20  # the comparison's window, in logged steps, as documented in its text
RATIO = re.compile(r"depth ratio (\S+) -> (\S+);")


def check(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.stdout, result.stderr


def newest_run(path: Path) -> tuple[dict, list[dict]]:
    """The last header of the file and its steps, parsed as plain JSON."""
    objs = [strict_loads(line) for line in path.read_bytes().splitlines()]
    head = [o for o in objs if o["kind"] == "header"][-1]
    return head, [o for o in objs if o["kind"] == "step" and o["run_id"] == head["run_id"]]


def measured_ratio(path: Path) -> float:
    """g_rms of the first weight matrix over that of the last hidden one (the one before
    the head), each the median over the last RECENT logged steps: from the raw file."""
    head, steps = newest_run(path)
    weights = [i for i, p in enumerate(head["params"]) if len(p["shape"]) == 2]
    first, hidden = weights[0], weights[-2]

    def g_rms(i: int) -> float:
        numel = head["params"][i]["numel"]
        norms = [s["stats"]["grad_norm"][i] for s in steps[-RECENT:]]
        return statistics.median(n / math.sqrt(numel) for n in norms)

    return g_rms(first) / g_rms(hidden)


def measured_loss(path: Path) -> float:
    _, steps = newest_run(path)
    return statistics.median(s["loss"] for s in steps[-RECENT:])


@pytest.fixture
def keep_threads() -> Iterator[None]:
    """The demo sets torch's thread count; the tests after this one keep theirs."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.usefixtures("keep_threads")
def test_the_fix_of_the_vanishing_demo_is_judged_from_the_files(tmp_path: Path) -> None:
    broken, fixed = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    demo = ["demo", "vanishing", "--no-ui", "--steps", "200"]
    for file, fixes in ((broken, []), (fixed, ["--fix", "relu", "--fix", "he_init"])):
        result = CliRunner().invoke(main, [*demo, *fixes, "--out", str(file)])
        assert result.exit_code == 0, result.output
    before, after = measured_ratio(broken), measured_ratio(fixed)
    # What the test itself sees: the sigmoid net starves its first layer, the fix does not.
    assert before < 1e-6 and after > 1e-2, (before, after)

    code, out, err = check(str(broken), str(fixed))
    assert code == 1, err  # the broken run has a critical finding: the worse of the two
    (verdict,) = [line for line in out.splitlines() if line.startswith("  verdict   ")]
    assert verdict.startswith("  verdict   vanishing gradients gone"), verdict
    quoted = RATIO.search(verdict)
    assert quoted is not None, verdict
    # Two significant digits as quoted: within rounding of what the test measured.
    assert float(quoted[1]) == pytest.approx(before, rel=0.06), verdict
    assert float(quoted[2]) == pytest.approx(after, rel=0.06), verdict
    assert f"A  {broken}" in out and f"B  {fixed}" in out
    assert "CRITICAL  Vanishing gradients" in out.split(f"B  {fixed}")[0]
    assert "Vanishing gradients" not in out.split(f"B  {fixed}")[1]

    code, out, _ = check("--json", str(broken), str(fixed))
    got = json.loads(out)
    a, b = got["compare"]
    assert code == 1 and got["gone"][0] == "vanishing" and "vanishing" not in got["new"]
    assert a["depth_ratio"] == pytest.approx(before, rel=1e-6)
    assert b["depth_ratio"] == pytest.approx(after, rel=1e-6)
    assert a["loss"] == pytest.approx(measured_loss(broken), rel=1e-6)
    assert b["loss"] == pytest.approx(measured_loss(fixed), rel=1e-6)
    assert a["findings"][0]["kind"] == "vanishing"
    assert all(f["active"] for f in a["findings"] + b["findings"])
    assert got["verdict"] == verdict.removeprefix("  verdict   ")


def test_fixtures_compare_both_ways_with_the_worse_exit_code() -> None:
    vanishing, healthy = DATA / "vanishing.jsonl", DATA / "healthy.jsonl"
    ratios = measured_ratio(vanishing), measured_ratio(healthy)
    code, out, _ = check(str(vanishing), str(healthy))
    assert code == 1
    (verdict,) = [line for line in out.splitlines() if "verdict" in line]
    assert "vanishing gradients gone" in verdict
    quoted = RATIO.search(verdict)
    assert quoted is not None
    assert (float(quoted[1]), float(quoted[2])) == pytest.approx(ratios, rel=0.06)
    code, out, _ = check(str(healthy), str(vanishing))
    assert code == 1 and "new: vanishing gradients" in out and "gone" not in out
    code, out, _ = check("--fail-on", "never", str(vanishing), str(healthy))
    assert code == 0
    code, out, _ = check(str(healthy), str(healthy))
    assert code == 0
    assert "verdict   no active findings in either run; depth ratio 1.4 -> 1.4;" in out


def named_run(path: Path, name: str) -> Path:
    head = encode_record({**header("r" * 32, 4, version="1.4"), "name": name})
    path.write_bytes(head + b"".join(step_line("r" * 32, s, 4) for s in range(1, 4)))
    return path


def test_names_from_the_file_are_shown_inert(tmp_path: Path) -> None:
    zwsp = INVISIBLE["zero-width space"]
    a = named_run(tmp_path / "a.jsonl", f"relu\x1b[2J{zwsp}fix")
    code, out, err = check(str(a), str(DATA / "healthy.jsonl"))
    assert code == 0, err
    assert "\x1b" not in out and zwsp not in out and 'fix" (MLP), 3 steps' in out
    got = json.loads(check("--json", str(a), str(DATA / "healthy.jsonl"))[1])
    assert got["compare"][0]["name"] == f"relu\x1b[2J{zwsp}fix"  # JSON escapes, keeps it


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["c.jsonl"], "gradtop check: compares two files (the newest run of each), not more"),
        (["--follow"], "gradtop check: --follow reads one FILE"),
        (["--run", "x"], "gradtop check: --run picks a run in one FILE"),
    ],
)
def test_what_a_comparison_cannot_do_is_a_one_line_usage_error(extra: list[str], says: str) -> None:
    code, out, err = check(str(DATA / "healthy.jsonl"), str(DATA / "vanishing.jsonl"), *extra)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith(says), err


def test_an_unreadable_side_is_exit_2_with_its_reason(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    code, out, err = check(str(DATA / "healthy.jsonl"), str(missing))
    assert (code, out, err) == (2, "", f"gradtop check: no such file: {missing}\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    code, out, err = check(str(empty), str(DATA / "healthy.jsonl"))
    assert (code, out) == (2, "") and err.startswith("gradtop check: no gradtop run found in")


def test_a_newer_format_in_one_file_is_a_warning_after_the_report(tmp_path: Path) -> None:
    """As a one-file check says it: the run read is compared, the skipped lines noted."""
    path = named_run(tmp_path / "a.jsonl", "ok")
    with open(path, "ab") as f:
        f.write(encode_record(header("r9", 4, version="2.0")))
    code, out, err = check(str(path), str(DATA / "healthy.jsonl"))
    assert code == 0 and "verdict" in out
    assert err.startswith(f"gradtop check: warning: {path}: ") and "upgrade gradtop" in err
    assert len(err.splitlines()) == 1

"""``gradtop check`` of the hostile fixture: every hostile class read, shown inert, counted once.

tests/data/hostile.jsonl starts with a UTF-8 byte-order mark, holds one garbage line (a
NUL byte and bytes that are not UTF-8) among its steps, and names layers with a lone
surrogate (escaped by the Logger's encoder) and with invisible characters.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gradtop.cli import main

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "hostile.jsonl"
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\U000e0001\u2028\u2029"


def _check(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args, str(FIXTURE)])
    return result.exit_code, result.stdout, result.stderr


def test_the_fixture_is_what_the_test_expects() -> None:
    data = FIXTURE.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf{"), "the file starts with a byte-order mark"
    garbage = [line for line in data.split(b"\n") if b"\x00" in line]
    assert len(garbage) == 1 and b"\xff" in garbage[0]
    assert b'"lone\\\\ud800surrogate.weight"' in data, "the Logger's escape of a lone surrogate"
    assert all(c.encode() in data for c in INVISIBLE)


def test_a_bom_file_is_read_and_the_garbage_line_counts_once() -> None:
    code, out, err = _check("--json")
    assert code in (0, 1) and "Traceback" not in err
    summary = json.loads(out)
    assert summary["skipped"] == {"nul": 1} and summary["skipped_total"] == 1
    assert (summary["records"], summary["steps"]) == (61, 60)
    assert summary["last_step"] == 60


def test_text_output_escapes_invisible_characters_and_holds_no_surrogate() -> None:
    code, out, err = _check()
    assert code in (0, 1) and "Traceback" not in err
    assert "1 skipped (nul 1)" in out
    assert not [c for c in out if c in INVISIBLE], "no invisible character reaches the report"
    assert not [c for c in out if 0xD800 <= ord(c) <= 0xDFFF]
    assert "net\\u2060.0" in out, "the module named with a word joiner, shown as its escape"

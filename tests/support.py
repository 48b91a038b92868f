"""Helpers shared by the whole test suite; torch-free, so any test may import them.

Import with the package path (``from tests.support import ...``): pytest puts the
repository root on ``sys.path`` because ``tests/`` is a package.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradtop.records import End, Header, Record, Step, decode_record

if TYPE_CHECKING:
    from textual.pilot import Pilot


# Characters that draw as nothing, so ``enc<char>.weight`` could pose as ``enc.weight``;
# every surface that shows a layer name must show them escaped instead.
INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width non-joiner": "\u200c",
    "zero-width joiner": "\u200d",
    "word joiner": "\u2060",
    "byte-order mark": "\ufeff",
    "tag character": "\U000e0041",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
}


def escaped(char: str) -> str:
    """How gradtop shows an invisible character: a Python-style escape, never the glyph."""
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def strict_loads(line: bytes) -> Any:
    """``json.loads`` that refuses bare NaN/Infinity: gradtop must write strict JSON."""

    def refuse(name: str) -> float:
        raise ValueError(f"bare {name} is not strict JSON")

    return json.loads(line, parse_constant=refuse)


def read_records(path: Path) -> list[Record]:
    """Every line must be whole, strict JSON and a valid record (arrays sized to the header)."""
    data = path.read_bytes()
    assert data.endswith(b"\n"), "file must end on a record boundary"
    records: list[Record] = []
    n_params: int | None = None
    for line in data.split(b"\n")[:-1]:
        strict_loads(line)
        record = decode_record(line, n_params)
        if isinstance(record, Header):
            n_params = len(record.params)
        records.append(record)
    return records


def headers(records: list[Record]) -> list[Header]:
    return [r for r in records if isinstance(r, Header)]


def steps(records: list[Record]) -> list[Step]:
    return [r for r in records if isinstance(r, Step)]


def ends(records: list[Record]) -> list[End]:
    return [r for r in records if isinstance(r, End)]


def split(records: list[Record]) -> tuple[list[Header], list[Step], list[End]]:
    return headers(records), steps(records), ends(records)


def assert_close(actual: list[Any], expected: list[Any], rel: float = 1e-5, what: str = "") -> None:
    """Element-wise: None matches None, NaN matches NaN, Inf matches Inf, else rel tol."""
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if e is None or a is None:
            assert a is e is None, f"{what}[{i}] {a!r} != {e!r}"
        elif math.isnan(e):
            assert math.isnan(a), f"{what}[{i}] {a!r} is not NaN"
        elif math.isinf(e):
            assert a == e, f"{what}[{i}] {a!r} != {e!r}"
        else:
            assert math.isclose(a, e, rel_tol=rel, abs_tol=1e-12), f"{what}[{i}] {a!r} != {e!r}"


async def wait_until(
    pilot: Pilot[Any],
    condition: Callable[[], bool],
    what: str,
    timeout: float = 20.0,
    poll: float = 0.02,
) -> None:
    """Let the app run until ``condition`` holds; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {what}")
        await pilot.pause(poll)

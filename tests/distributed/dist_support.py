"""Strict reading of a gradtop file and a tolerant element-wise comparison (no torch)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from gradtop.records import End, Header, Record, Step, decode_record


def read_records(path: Path) -> list[Record]:
    """Every line must be whole, strict JSON and a valid record (arrays sized to the header)."""

    def refuse(name: str) -> float:
        raise ValueError(f"bare {name} is not strict JSON")

    data = path.read_bytes()
    assert data.endswith(b"\n"), "file must end on a record boundary"
    records: list[Record] = []
    n_params: int | None = None
    for line in data.split(b"\n")[:-1]:
        json.loads(line, parse_constant=refuse)
        record = decode_record(line, n_params)
        if isinstance(record, Header):
            n_params = len(record.params)
        records.append(record)
    return records


def split(records: list[Record]) -> tuple[list[Header], list[Step], list[End]]:
    return (
        [r for r in records if isinstance(r, Header)],
        [r for r in records if isinstance(r, Step)],
        [r for r in records if isinstance(r, End)],
    )


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

"""Null-holding arrays, as the real Logger writes them, read back exactly.

The Logger writes the slow statistics as all-null arrays on 9 of 10 steps and null for a
tensor without a gradient; both take the reader's fast paths (no Python per value). What
they must give is what the per-value path gave: ``null`` is *missing* (NaN in the table,
flagged in its mask), while a logged NaN is a finding (NaN, not flagged missing).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gradtop.history import History
from gradtop.reader import FileReader
from gradtop.records import Header, ParamInfo, Step, encode_record

NAN, INF = math.nan, math.inf
# One step with every kind of array: all numbers, all null, nulls mixed with floats, with
# NaN/Inf and with int counts.
STATS: dict[str, list[float | int | None]] = {
    "grad_norm": [0.5, NAN, INF, 1e-300],
    "grad_max": [None, 0.25, None, NAN],
    "weight_norm": [None, None, None, None],
    "nonfinite": [0, None, 2, 0],
    "zero_frac": [0.0, -0.0, None, 1.0],
    "update_ratio": [None, None, None, None],
}


def _header(n: int = 4) -> Header:
    params = tuple(
        ParamInfo(f"l{i}.weight", f"l{i}", "Linear", "weight", (2, 2), 4, True) for i in range(n)
    )
    return Header(run_id="nulls", time=1.0, params=params, detail_every=10)


def _read(path: Path) -> list[object]:
    records: list[object] = []
    with FileReader(path) as reader:
        while True:
            batch = reader.read(1 << 20)
            records += batch.records
            if batch.status.at_eof:
                assert not batch.status.skipped, batch.status.skipped
                return records


def _write(path: Path, steps: list[Step]) -> None:
    lines = [encode_record(_header().to_json())] + [encode_record(s.to_json()) for s in steps]
    path.write_bytes(b"".join(lines))


def _same(got: list[float | None], want: list[float | int | None]) -> bool:
    """Equal value by value, None where None, NaN where NaN (``[nan] != [nan]`` in Python)."""
    return len(got) == len(want) and all(
        (g is None and w is None)
        or (g is not None and w is not None and (g == w or (math.isnan(g) and math.isnan(w))))
        for g, w in zip(got, want, strict=True)
    )


def test_null_arrays_decode_to_none_and_numbers_as_written(tmp_path: Path) -> None:
    path = tmp_path / "nulls.jsonl"
    _write(path, [Step("nulls", 1, 1, 2.0, loss=1.0, stats=STATS)])
    header, step = _read(path)
    assert isinstance(header, Header) and isinstance(step, Step)
    assert set(step.stats) == set(STATS)
    for name, want in STATS.items():
        assert _same(step.stats[name], want), (name, step.stats[name])
    assert math.copysign(1.0, step.stats["zero_frac"][1]) == -1.0  # -0.0 kept as written


def test_null_arrays_land_in_history_as_missing_and_nan_as_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "nulls.jsonl"
    steps = [Step("nulls", s, s, 2.0 + s, loss=1.0, stats=STATS) for s in range(1, 4)]
    _write(path, steps)
    history = History()
    history.extend(_read(path))  # type: ignore[arg-type]
    run = history.current
    assert run is not None and run.steps == 3
    for name, row in STATS.items():
        table = run.stats[name]
        got_steps, values = table.recent()
        missing = table.recent_missing()
        want = np.array([NAN if v is None else float(v) for v in row])
        assert got_steps.tolist() == [1, 2, 3]
        for r in range(3):
            np.testing.assert_array_equal(values[r], want, err_msg=name)
            assert missing[r].tolist() == [v is None for v in row], name
        # A logged NaN is flagged in the sparkline columns; a missing value never is.
        flagged = [bool(table.column(c).any_nan.any()) for c in range(4)]
        assert flagged == [v is not None and math.isnan(v) for v in row], name
    # Counts of 2 for tensor 2 (the null count of tensor 1 is missing, not non-finite).
    assert run.first_nonfinite is not None
    assert (run.first_nonfinite.step, run.first_nonfinite.params) == (1, (2,))


def test_a_step_of_only_null_counts_and_norms_finds_nothing_non_finite(tmp_path: Path) -> None:
    path = tmp_path / "quiet.jsonl"
    quiet = {"grad_norm": [None, 1.0, None, 2.0], "nonfinite": [None, 0, None, 0]}
    _write(path, [Step("nulls", 1, 1, 2.0, loss=1.0, stats=quiet)])
    history = History()
    history.extend(_read(path))  # type: ignore[arg-type]
    run = history.current
    assert run is not None and run.first_nonfinite is None
    assert run.stats["nonfinite"].recent_missing()[0].tolist() == [True, False, True, False]


def test_an_int_out_of_range_among_nulls_is_skipped_not_read(tmp_path: Path) -> None:
    """A legacy line (bare NaN: parsed by the json module) can carry a 400-digit count."""
    path = tmp_path / "legacy.jsonl"
    header = encode_record(_header().to_json())
    huge = "1" + "0" * 400
    line = (
        '{"kind":"step","run_id":"nulls","seq":1,"step":1,"time":2.0,"loss":NaN,'
        f'"stats":{{"nonfinite":[{huge},null,0,0]}}}}\n'
    )
    ok = '{"kind":"step","run_id":"nulls","seq":2,"step":2,"time":3.0,"loss":NaN,'
    ok += '"stats":{"nonfinite":[1,null,0,0]}}\n'
    path.write_bytes(header + line.encode() + ok.encode())
    records: list[object] = []
    with FileReader(path) as reader:
        batch = reader.read(1 << 20)
        records += batch.records
    steps = [r for r in records if isinstance(r, Step)]
    assert [s.step for s in steps] == [2]
    assert batch.status.skipped == {"schema": 1}
    assert steps[0].stats["nonfinite"] == [1, None, 0, 0]

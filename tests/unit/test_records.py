"""Round trips and strictness of the record stream shared by both halves."""

from __future__ import annotations

import dataclasses
import json
import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradtop import records
from gradtop.records import End, Header, ParamInfo, RecordError, Step


def _strict_loads(line: bytes) -> object:
    def refuse(name: str) -> float:
        raise ValueError(f"bare {name} is not JSON")

    return json.loads(line, parse_constant=refuse)


def _header(n: int = 2) -> Header:
    params = tuple(
        ParamInfo(
            name=f"layers.{i}.weight",
            module=f"layers.{i}",
            module_type="Linear",
            param="weight",
            shape=(4, 3),
            numel=12,
            requires_grad=True,
        )
        for i in range(n)
    )
    return Header(run_id="r1", time=1.5, params=params, model="Net", activations=("Sigmoid",))


def test_header_round_trip() -> None:
    header = _header(3)
    line = records.encode_record(header.to_json())
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = records.decode_record(line.rstrip(b"\n"))
    assert back == header


def test_step_non_finite_and_missing_survive_strict_parsers() -> None:
    step = Step(
        run_id="r1",
        seq=1,
        step=7,
        time=2.0,
        loss=math.nan,
        lr=[0.1],
        total_grad_norm=math.inf,
        stats={"grad_norm": [math.nan, math.inf, -math.inf, None, 0.0, 1.25]},
    )
    line = records.encode_record(step.to_json())
    strict = _strict_loads(line)  # raises on bare NaN/Infinity
    assert orjson.loads(line) == strict
    assert strict["stats"]["grad_norm"] == ["NaN", "Inf", "-Inf", None, 0.0, 1.25]

    back = records.decode_record(line.rstrip(b"\n"), n_params=6)
    assert isinstance(back, Step)
    values = back.stats["grad_norm"]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf
    assert values[3] is None, "missing (grad is None) must stay distinct from NaN and zero"
    assert values[4] == 0.0 and values[5] == 1.25
    assert math.isnan(back.loss) and back.total_grad_norm == math.inf


def test_legacy_bare_nan_is_read_as_nan() -> None:
    line = (
        b'{"kind":"step","run_id":"r","step":1,"time":1,"loss":NaN,'
        b'"stats":{"grad_norm":[Infinity]}}'
    )
    back = records.decode_record(line, n_params=1)
    assert isinstance(back, Step)
    assert math.isnan(back.loss) and back.stats["grad_norm"] == [math.inf]


def test_end_round_trip() -> None:
    end = End(run_id="r1", seq=9, time=3.0, steps=8, reason="closed", dropped=1)
    assert records.decode_record(records.encode_record(end.to_json())) == end


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"not json", "invalid_json"),
        (b"\xff\xfe{", "invalid_json"),
        (b"[1, 2]", "schema"),
        (b'{"kind":"step","run_id":"r","time":1}', "schema"),
        (b'{"kind":"mystery"}', "schema"),
        (b'{"kind":"step","run_id":"r","step":1,"time":1,"stats":{"grad_norm":[1,2,3]}}', "schema"),
        (b'{"kind":"step","run_id":"r","step":1,"time":1,"loss":"lots"}', "schema"),
        (b"[" * 100_000, "invalid_json"),
        (b"1" * 5000, "invalid_json"),
        (b'{"kind":"step","run_id":"\xed\xa0\x80"}', "invalid_json"),
    ],
)
def test_bad_lines_raise_only_record_error(line: bytes, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        records.decode_record(line, n_params=2)
    assert info.value.reason == reason


def test_overlong_line_is_refused_before_parsing() -> None:
    line = b'{"kind":"end","pad":"' + b"x" * records.MAX_LINE_BYTES + b'"}'
    with pytest.raises(RecordError) as info:
        records.decode_record(line)
    assert info.value.reason == "overlong"


def test_newer_major_version_is_rejected_with_a_clear_message() -> None:
    obj = _header().to_json()
    obj["version"] = "2.0"
    with pytest.raises(RecordError) as info:
        records.decode_record(orjson.dumps(obj))
    assert info.value.reason == "version"
    assert "upgrade gradtop" in str(info.value)


def test_newer_minor_version_and_unknown_fields_are_accepted() -> None:
    obj = _header().to_json()
    obj["version"] = "1.7"
    obj["something_new"] = {"x": 1}
    header = records.decode_record(orjson.dumps(obj))
    assert isinstance(header, Header) and header.version == "1.7"


def test_detail_every_round_trips_and_defaults_to_one_in_older_headers() -> None:
    header = dataclasses.replace(_header(2), detail_every=10)
    back = records.decode_record(records.encode_record(header.to_json()).rstrip(b"\n"))
    assert isinstance(back, Header) and back.detail_every == 10
    old = _header(2).to_json()
    old["version"] = "1.0"
    del old["detail_every"]  # a format 1.0 header: every statistic on every step
    legacy = records.decode_record(orjson.dumps(old))
    assert isinstance(legacy, Header) and legacy.detail_every == 1
    for bad in (0, -3, "10", True, None):
        old["detail_every"] = bad
        read = records.decode_record(orjson.dumps(old))
        assert isinstance(read, Header) and read.detail_every == 1


finite_or_not = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none())


@given(st.lists(finite_or_not, max_size=50), finite_or_not)
def test_any_floats_round_trip(values: list[float | None], loss: float | None) -> None:
    step = Step(run_id="r", seq=1, step=1, time=0.0, loss=loss, stats={"grad_max": values})
    line = records.encode_record(step.to_json())
    _strict_loads(line)
    back = records.decode_record(line.rstrip(b"\n"), n_params=len(values))
    assert isinstance(back, Step)
    for got, want in zip(back.stats["grad_max"], values, strict=True):
        if want is None:
            assert got is None
        elif math.isnan(want):
            assert math.isnan(got)
        else:
            assert got == want

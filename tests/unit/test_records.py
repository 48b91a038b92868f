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


HUGE = b"1" + b"0" * 400  # past float range: only the stdlib (legacy) parser builds it


def _line(obj: dict) -> bytes:
    """Compact JSON as a writer would put it; json (not orjson) so any int can be written."""
    return json.dumps(obj, separators=(",", ":")).encode()


def _step_obj(**fields: object) -> dict:
    obj: dict = {"kind": "step", "run_id": "r", "seq": 1, "step": 1, "time": 1.0}
    obj["stats"] = {"grad_norm": [1.0, 2.0], "nonfinite": [0, 0]}
    obj.update(fields)
    return obj


def _header_obj(**fields: object) -> dict:
    obj = _header(2).to_json()
    obj.update(fields)
    return obj


@pytest.mark.parametrize(
    "line",
    [
        _line(_step_obj(step=2**63)),
        _line(_step_obj(step=-(2**63) - 1)),
        _line(_step_obj(step=2**64 - 1)),
        # Legacy lines (a bare NaN sends them to the stdlib parser, which builds big ints).
        b'{"kind":"step","run_id":"r","step":1,"time":1,"loss":NaN,"stats":{"grad_norm":['
        + HUGE
        + b",1]}}",
        b'{"kind":"step","run_id":"r","step":1,"time":1,"loss":' + HUGE + b',"lr":[NaN]}',
        b'{"kind":"step","run_id":"r","step":1,"time":1,"scalars":{"x":' + HUGE + b',"y":NaN}}',
        b'{"kind":"step","run_id":"r","step":1,"time":1,"loss":NaN,"seq":' + b"9" * 5000 + b"}",
        b'{"kind":"step","run_id":"r","step":1,"time":Infinity}',
        b'{"kind":"step","run_id":"r","step":1,"time":NaN}',
        b'{"kind":"end","run_id":"r","time":-Infinity,"steps":1}',
        _line(_header_obj(hist_edges=[None])),
        _line(_header_obj(hist_edges=["x"])),
        _line(_header_obj(hist_edges=["Inf", 1.0])),
        _line(_header_obj(hist_edges="nope")),
        _line(_header_obj(hist_edges=list(range(records.MAX_HIST_EDGES + 1)))),
        _line(_header_obj(version="\u00b2.0")),  # isdigit() says yes, int() says no
        _line(_header_obj(version="9" * 5000 + ".0")),
        _line(_header_obj(params=[{"name": "w", "shape": [2], "numel": -1}])),
        _line(_header_obj(params=[{"name": "w", "shape": [2**64 - 1], "numel": 2}])),
    ],
    ids=lambda line: line[:60].decode("utf-8", "replace"),
)
def test_out_of_range_values_are_schema_errors_not_crashes(line: bytes) -> None:
    with pytest.raises(RecordError) as info:
        records.decode_record(line, n_params=2)
    assert info.value.reason == "schema"


def test_legacy_header_with_an_infinite_time_is_refused() -> None:
    line = _line(_header_obj(time=1.0)).replace(b'"time":1.0', b'"time":Infinity')
    assert b"Infinity" in line
    with pytest.raises(RecordError) as info:
        records.decode_record(line)
    assert info.value.reason == "schema"


def test_edges_of_the_ranges_are_still_accepted() -> None:
    for step_number in (2**63 - 1, -(2**63), 0):
        back = records.decode_record(_line(_step_obj(step=step_number)), n_params=2)
        assert isinstance(back, Step) and back.step == step_number
    big = records.decode_record(_line(_step_obj(stats={"nonfinite": [2**64 - 1, 0]})), 2)
    assert isinstance(big, Step) and big.stats["nonfinite"] == [2**64 - 1, 0]
    header = records.decode_record(_line(_header_obj(hist_edges=[-8, -4.5])))
    assert isinstance(header, Header) and header.hist_edges == (-8.0, -4.5)
    assert isinstance(records.decode_record(_line(_header_obj(hist_edges=None))), Header)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
    | st.sampled_from(["NaN", "Inf", "-Inf", "\u00b2"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)


def _end_obj() -> dict:
    return {"kind": "end", "run_id": "r", "seq": 2, "time": 1.0, "steps": 1, "dropped": 0}


@given(st.sampled_from(["header", "param", "step", "end"]), st.data())
def test_any_value_in_any_field_gives_a_record_or_a_record_error(
    kind: str, data: st.DataObject
) -> None:
    """Whatever JSON value lands in whichever field, only RecordError may come out."""
    if kind == "param":
        param = _header_obj()["params"][0]
        field_name = data.draw(st.sampled_from([*param, "extra"]))
        obj = _header_obj(params=[dict(param, **{field_name: data.draw(json_values)})])
    else:
        base = {"header": _header_obj, "step": _step_obj, "end": _end_obj}[kind]()
        extra = ["loss", "lr", "scalars", "hist", "total_grad_norm"] if kind == "step" else []
        field_name = data.draw(st.sampled_from([*base, *extra]))
        obj = dict(base, **{field_name: data.draw(json_values)})
    build = {
        "header": records.header_from_json,
        "param": records.header_from_json,
        "step": lambda o: records.step_from_json(o, 2),
        "end": records.end_from_json,
    }[kind]
    try:
        build(obj)
    except RecordError as exc:
        assert exc.reason in ("schema", "version")

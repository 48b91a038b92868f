"""The record stream: the one contract between the trainer side and the viewer side.

Both halves import this module, so it depends on nothing but the standard library and
orjson. The format is documented for users in ``docs/format.md``; keep the two in step.

A file is JSON Lines. Each run opens with a ``header`` record, followed by ``step``
records whose per-parameter statistics are arrays aligned to the header's parameter
list, and usually closes with an ``end`` record. Appending to an existing file starts
a new run with a new header.

Numbers that JSON cannot carry (NaN, +Inf, -Inf) are written as the strings ``"NaN"``,
``"Inf"`` and ``"-Inf"`` so that every line passes a strict parser; ``null`` means
*missing* (for example, a parameter whose ``.grad`` was ``None``), never NaN.
"""

from __future__ import annotations

import functools
import json
import math
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import orjson

FORMAT_NAME = "gradtop"
FORMAT_MAJOR = 1
# 1.1: header field detail_every (optional; 1 when absent)
# 1.2: header fields attention, residual, tied, precision, clip_max_norm; step fields
#      step_grad_norm and grads_stale (all optional; absent means unknown)
# 1.3: step field logger_time (optional; absent means unknown)
# 1.4: header fields name and argv (optional; "" and [] when absent)
# 1.5: step fields requires_grad and in_optimizer (optional; absent means the header's)
FORMAT_MINOR = 5
FORMAT_VERSION = f"{FORMAT_MAJOR}.{FORMAT_MINOR}"

HEADER = "header"
STEP = "step"
END = "end"
KINDS = (HEADER, STEP, END)

# Per-parameter statistics, in the order the logger writes them. A reader must accept
# any subset (older or cheaper loggers) and ignore names it does not know (newer minor).
GRAD_NORM = "grad_norm"
GRAD_MAX = "grad_max"
WEIGHT_NORM = "weight_norm"
NONFINITE = "nonfinite"
ZERO_FRAC = "zero_frac"
UPDATE_RATIO = "update_ratio"
PARAM_STATS = (GRAD_NORM, GRAD_MAX, WEIGHT_NORM, NONFINITE, ZERO_FRAC, UPDATE_RATIO)

# A line longer than this is skipped before parsing: a sane header for 4096 parameter
# tensors is well under 1 MiB, and parsing a hostile 100 MB line would stall a viewer.
MAX_LINE_BYTES = 4 * 1024 * 1024

# Cap on the parameter list a viewer will accept; bounded memory matters more than
# showing the 10,001st tensor of a giant model.
MAX_PARAMS = 100_000

# Step numbers, counts and sizes are stored as int64 by every reader (numpy arrays), so a
# record with an integer outside int64 is unusable, not merely odd: refuse it at decode.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# The largest integer a float64 can hold (without becoming inf). orjson never yields a
# larger one (it turns integers past 2**64 into floats or refuses them); the stdlib parser
# used for legacy lines would, and float() of it raises OverflowError deep in a reader.
FLOAT_INT_MAX = int(sys.float_info.max)
# Histogram edges: a few dozen in practice; a cap keeps a hostile header's list bounded.
MAX_HIST_EDGES = 1024

UTF8_BOM = b"\xef\xbb\xbf"

_NONFINITE_TO_JSON = {"NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}
Number = float | None


class RecordError(ValueError):
    """A line that cannot be used; ``reason`` is a short, stable key for skip counts."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ---------------------------------------------------------------------------- encode


def encode_float(value: float | int | None) -> float | int | str | None:
    """Map one number to what JSON can hold, keeping NaN/Inf distinguishable from null."""
    if value is None or isinstance(value, int):
        return value
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Inf" if value > 0 else "-Inf"


def encode_floats(values: list[float] | list[float | None]) -> list[Any]:
    """Encode a list of numbers; the hot path of the writer thread, so kept flat."""
    isfinite = math.isfinite
    if all(v is not None and isfinite(v) for v in values):
        return values
    return [encode_float(v) for v in values]


def _sanitise(value: Any) -> Any:
    """Recursively make a structure strict-JSON safe (for the rare, small, free-form parts)."""
    if isinstance(value, float):
        return encode_float(value)
    if isinstance(value, dict):
        return {str(k): _sanitise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitise(v) for v in value]
    return value


def encode_record(record: dict[str, Any]) -> bytes:
    """Serialise one record to a single newline-terminated line of strict JSON.

    The caller writes the returned bytes with one ``os.write``; the trailing newline is
    what tells a reader the record is complete.
    """
    safe = dict(record)
    stats = safe.get("stats")
    if isinstance(stats, dict):
        safe["stats"] = {name: encode_floats(values) for name, values in stats.items()}
    for key, value in safe.items():
        if key != "stats":
            safe[key] = _sanitise(value)
    try:
        return orjson.dumps(safe) + b"\n"
    except orjson.JSONEncodeError:
        # A string UTF-8 cannot hold (a lone surrogate, which ``add_module`` accepts in
        # a layer name): written as its visible escape, so the record still goes out.
        return orjson.dumps(_utf8_safe(safe)) + b"\n"


def _utf8_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_utf8_safe(k): _utf8_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_utf8_safe(v) for v in value]
    return value


def utf8_safe_text(text: str) -> bool:
    """True when ``text`` can be written as UTF-8 as it is (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---------------------------------------------------------------------------- decode


def _strict_constant(name: str) -> float:
    """Accept legacy bare NaN/Infinity (written by ``json.dumps``) as what they meant."""
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def _bounded_int(text: str) -> int:
    """Integers of a legacy line, refused where orjson would never produce them.

    The stdlib parser builds arbitrarily large ints; one past float range (a 400-digit
    statistic) would raise OverflowError wherever a reader converts it. Checking the
    digit count first also keeps ``int()`` away from its own digit limit (ValueError).
    """
    if len(text.lstrip("-")) > 309:  # FLOAT_INT_MAX has 309 digits
        raise RecordError("schema", f"integer of {len(text)} digits is out of range")
    value = int(text)
    if not -FLOAT_INT_MAX <= value <= FLOAT_INT_MAX:
        raise RecordError("schema", "integer out of range")
    return value


def parse_line(line: bytes) -> dict[str, Any]:
    """Parse one line (without its newline) into a JSON object, or raise RecordError.

    Never raises anything but RecordError: a viewer counts the reason and moves on.
    """
    if len(line) > MAX_LINE_BYTES:
        raise RecordError("overlong", f"{len(line)} bytes > {MAX_LINE_BYTES}")
    if line.startswith(UTF8_BOM):  # an editor or a Windows tool saved the file with one
        line = line[len(UTF8_BOM) :]
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        obj = _parse_legacy(line, exc)
    if not isinstance(obj, dict):
        raise RecordError("schema", f"top level is {type(obj).__name__}, not an object")
    return obj


def _parse_legacy(line: bytes, error: Exception) -> Any:
    """Second chance for lines with bare NaN/Infinity, which orjson rightly rejects."""
    if b"NaN" not in line and b"Infinity" not in line:
        raise RecordError("invalid_json", str(error)) from None
    try:
        return json.loads(line, parse_constant=_strict_constant, parse_int=_bounded_int)
    except RecordError:
        raise
    except (ValueError, RecursionError) as exc:
        raise RecordError("invalid_json", str(exc)) from None


def decode_number(value: Any) -> Number:
    """Turn a JSON value from a numeric slot back into a float (NaN/Inf restored)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError("schema", "boolean where a number was expected")
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        if not -FLOAT_INT_MAX <= value <= FLOAT_INT_MAX:
            raise RecordError("schema", "integer out of range")
        return float(value)
    if isinstance(value, str) and value in _NONFINITE_TO_JSON:
        return _NONFINITE_TO_JSON[value]
    raise RecordError("schema", f"not a number: {str(value)[:40]!r}")


def decode_numbers(values: Any, length: int | None = None) -> list[Number]:
    """Decode a numeric array, checking its length against the header when given."""
    if not isinstance(values, list):
        raise RecordError("schema", "expected an array of numbers")
    if length is not None and len(values) != length:
        raise RecordError("schema", f"array of {len(values)} values, header lists {length}")
    # Fast path, the overwhelmingly common case: only plain numbers and nulls (the
    # Logger writes the slow statistics as all-null arrays on 9 of 10 steps, and null
    # for a tensor without a gradient). The type scan runs in C and the parser's fresh
    # list is handed over as is: null stays None, which is what decoding it gives, and
    # ints, such as nonfinite counts, stay ints (a float for typing and for numpy).
    # All null is told apart first, by identity in C (about 40x cheaper than the scan).
    if values and values[0] is None and values.count(None) == len(values):
        return values
    types = set(map(type, values))
    if types <= _PLAIN:
        # An int past float range (only a legacy line or a hand-built dict can hold one)
        # would raise OverflowError in the reader's arrays.
        if int in types and not _ints_in_float_range(values, types):
            raise RecordError("schema", "integer out of range in a numeric array")
        return values
    out: list[Number] = []
    append = out.append
    for v in values:
        if type(v) is float:
            append(v)
        else:
            append(decode_number(v))
    return out


_PLAIN = frozenset({float, int, type(None)})
_not_none = functools.partial(operator.is_not, None)


def _ints_in_float_range(values: list[Any], types: set[type]) -> bool:
    """Int-only arrays (nonfinite counts, with or without nulls) are checked with min/max
    in C, exact because no NaN is among them; arrays that mix ints and floats, rare, one
    by one. All zeros (a healthy step's counts) is told at once, by identity in C."""
    if float not in types:
        if values.count(0) == len(values):
            return True
        ints = values if type(None) not in types else list(filter(_not_none, values))
        return min(ints) >= -FLOAT_INT_MAX and max(ints) <= FLOAT_INT_MAX
    return all(-FLOAT_INT_MAX <= v <= FLOAT_INT_MAX for v in values if type(v) is int)


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """One parameter tensor, as the header lists it (depth order: forward registration)."""

    name: str
    module: str
    module_type: str
    param: str
    shape: tuple[int, ...]
    numel: int
    requires_grad: bool
    in_optimizer: bool | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "module_type": self.module_type,
            "param": self.param,
            "shape": list(self.shape),
            "numel": self.numel,
            "ndim": self.ndim,
            "requires_grad": self.requires_grad,
            "in_optimizer": self.in_optimizer,
        }


@dataclass(frozen=True, slots=True)
class Header:
    """Opens a run: who wrote it and what the parameter arrays of its steps mean."""

    run_id: str
    time: float
    params: tuple[ParamInfo, ...]
    version: str = FORMAT_VERSION
    host: str = ""
    pid: int = 0
    rank: int = 0
    world_size: int = 1
    parallel: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    total_params: int = 0
    trainable_params: int = 0
    activations: tuple[str, ...] = ()
    norms: tuple[str, ...] = ()
    optimizer: str | None = None
    every: int = 1
    # Every N-th logged step carries the slow statistics (weight_norm, zero_frac,
    # update_ratio); the others write them as null. 1: every step (format 1.0).
    detail_every: int = 1
    stats: tuple[str, ...] = PARAM_STATS
    hist_edges: tuple[float, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # What the model already has, so that fixes never suggest adding it (format 1.2).
    attention: bool = False  # attention layers (torch.nn, a class of its own, or functional)
    residual: bool | None = None  # skip connections seen in a forward; None: unknown
    tied: tuple[tuple[str, ...], ...] = ()  # parameter names that share one tensor
    precision: str = ""  # dtype of the trainable weights: "fp32", "fp16", "bf16", "mixed"
    clip_max_norm: float | None = None  # gradient clipping configured by a trainer framework
    # Who the run is to a person (format 1.4): the Logger's name= and the command that ran.
    name: str = ""
    argv: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": HEADER,
            "format": FORMAT_NAME,
            "version": self.version,
            "run_id": self.run_id,
            "seq": 0,
            "time": self.time,
            "host": self.host,
            "pid": self.pid,
            "rank": self.rank,
            "world_size": self.world_size,
            "parallel": self.parallel,
            "model": self.model,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "activations": list(self.activations),
            "norms": list(self.norms),
            "optimizer": self.optimizer,
            "every": self.every,
            "detail_every": self.detail_every,
            "stats": list(self.stats),
            "hist_edges": None if self.hist_edges is None else list(self.hist_edges),
            "params": [p.to_json() for p in self.params],
            "meta": self.meta,
            "attention": self.attention,
            "residual": self.residual,
            "tied": [list(group) for group in self.tied],
            "precision": self.precision,
            "clip_max_norm": self.clip_max_norm,
            "name": self.name,
            "argv": list(self.argv),
        }


@dataclass(slots=True)
class Step:
    """One logged training step; ``stats[name][i]`` belongs to ``header.params[i]``."""

    run_id: str
    seq: int
    step: int
    time: float
    loss: Number = None
    lr: list[Number] = field(default_factory=list)
    total_grad_norm: Number = None
    loss_scale: Number = None
    step_time: Number = None
    scalars: dict[str, Number] = field(default_factory=dict)
    stats: dict[str, list[Number]] = field(default_factory=dict)
    hist: list[list[int] | None] | None = None
    # What reached the optimizer (format 1.2): the total norm of the same gradients when
    # ``optimizer.step()`` ran, after any clipping or unscaling (None: no step was seen),
    # and whether the first backward after the previous step found its gradients still
    # there, untouched (``zero_grad`` forgotten; None: not known).
    step_grad_norm: Number = None
    grads_stale: bool | None = None
    # Seconds the Logger spent on this step on the training thread (format 1.3): its own
    # cost, to hold against ``step_time``; the writer thread's work is not in it.
    logger_time: Number = None
    # The parameters' roles on this step (format 1.5), written on every step once they
    # differ from the header's: unfrozen layers (requires_grad_), an optimizer's
    # add_param_group. None: as the header says.
    requires_grad: tuple[bool, ...] | None = None
    in_optimizer: tuple[bool, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        roles: dict[str, Any] = {}
        if self.requires_grad is not None:
            roles["requires_grad"] = list(self.requires_grad)
        if self.in_optimizer is not None:
            roles["in_optimizer"] = list(self.in_optimizer)
        return {
            "kind": STEP,
            "run_id": self.run_id,
            "seq": self.seq,
            "step": self.step,
            "time": self.time,
            "loss": self.loss,
            "lr": self.lr,
            "total_grad_norm": self.total_grad_norm,
            "loss_scale": self.loss_scale,
            "step_time": self.step_time,
            "scalars": self.scalars,
            "stats": self.stats,
            "hist": self.hist,
            "step_grad_norm": self.step_grad_norm,
            "grads_stale": self.grads_stale,
            "logger_time": self.logger_time,
            **roles,
        }


@dataclass(frozen=True, slots=True)
class End:
    """Closes a run cleanly; its absence means the writer died or is still going."""

    run_id: str
    seq: int
    time: float
    steps: int
    reason: str = "closed"
    dropped: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": END,
            "run_id": self.run_id,
            "seq": self.seq,
            "time": self.time,
            "steps": self.steps,
            "reason": self.reason,
            "dropped": self.dropped,
        }


Record = Header | Step | End


def _require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise RecordError("schema", f"field {key!r} missing or not {_type_names(kind)}")
    return value


def _require_int64(obj: dict[str, Any], key: str) -> int:
    """A required integer that readers store as int64 (a step number): refused outside it."""
    value = _require(obj, key, int)
    if not INT64_MIN <= value <= INT64_MAX:
        raise RecordError("schema", f"field {key!r} is outside the int64 range")
    return value


def _require_time(obj: dict[str, Any]) -> float:
    """A record's Unix time: a finite number. Inf or NaN here would reach every report."""
    value = _require(obj, "time", (int, float))
    if isinstance(value, int) and not -FLOAT_INT_MAX <= value <= FLOAT_INT_MAX:
        raise RecordError("schema", "field 'time' is out of range")
    value = float(value)
    if not math.isfinite(value):
        raise RecordError("schema", "field 'time' is not a finite number")
    return value


def _opt_int(value: Any, default: int, low: int = INT64_MIN) -> int:
    """An optional integer field: ``default`` when absent, not an int, or outside int64."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= INT64_MAX:
        return value
    return default


def _opt_str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _opt_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _opt_flags(obj: dict[str, Any], key: str, length: int | None) -> tuple[bool, ...] | None:
    """An optional per-parameter array of booleans; a malformed one is a schema error
    (the step would otherwise be read with roles it does not claim)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(type(v) is bool for v in value):
        raise RecordError("schema", f"field {key!r} is not an array of booleans")
    if length is not None and len(value) != length:
        raise RecordError("schema", f"field {key!r} has {len(value)} values, header lists {length}")
    return tuple(value)


def _opt_positive(value: Any) -> float | None:
    """An optional positive, finite number (a configured max_norm); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = decode_number(value)
    return number if number is not None and math.isfinite(number) and number > 0 else None


def _tied(value: Any) -> tuple[tuple[str, ...], ...]:
    """Groups of tied parameter names; bad entries are dropped (it only shapes advice)."""
    if not isinstance(value, list):
        return ()
    groups = (_str_tuple(group) for group in value[:MAX_PARAMS])
    return tuple(group for group in groups if len(group) > 1)


def _hist_edges(value: Any) -> tuple[float, ...] | None:
    """The histogram's log10 bin edges: finite numbers (they are printed as axis labels)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise RecordError("schema", "field 'hist_edges' is not a list or null")
    if len(value) > MAX_HIST_EDGES:
        raise RecordError("schema", f"{len(value)} histogram edges > limit {MAX_HIST_EDGES}")
    edges = tuple(decode_number(e) for e in value)
    if not all(e is not None and math.isfinite(e) for e in edges):
        raise RecordError("schema", "field 'hist_edges' holds a missing or non-finite edge")
    return edges  # type: ignore[return-value]  # None was ruled out just above


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_names(kind: type | tuple[type, ...]) -> str:
    return "/".join(k.__name__ for k in _as_tuple(kind))


def _str_tuple(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _param_from_json(obj: Any) -> ParamInfo:
    if not isinstance(obj, dict):
        raise RecordError("schema", "parameter entry is not an object")
    shape = obj.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= INT64_MAX for s in shape
    ):
        raise RecordError("schema", "parameter shape is not a list of integers in int64 range")
    numel = _require(obj, "numel", int)
    if not 0 <= numel <= INT64_MAX:
        raise RecordError("schema", "parameter numel is negative or outside int64")
    in_opt = obj.get("in_optimizer")
    return ParamInfo(
        name=_require(obj, "name", str),
        module=_opt_str(obj.get("module")),
        module_type=_opt_str(obj.get("module_type")),
        param=_opt_str(obj.get("param")),
        shape=tuple(shape),
        numel=numel,
        requires_grad=bool(obj.get("requires_grad", True)),
        in_optimizer=in_opt if isinstance(in_opt, bool) else None,
    )


def check_version(version: Any) -> None:
    """Reject a newer major version instead of misreading it; accept newer minors."""
    if not isinstance(version, str):
        raise RecordError("schema", "header has no version string")
    major_text = version.split(".", 1)[0]
    # isdigit() alone accepts "²" and 5000-digit strings, on which int() raises ValueError.
    if not (major_text.isascii() and major_text.isdigit() and len(major_text) <= 9):
        raise RecordError("schema", f"unreadable format version {version[:20]!r}")
    if int(major_text) > FORMAT_MAJOR:
        raise RecordError(
            "version",
            f"file uses format {version}, this gradtop reads {FORMAT_MAJOR}.x: upgrade gradtop",
        )


def _positive_int(value: Any, default: int = 1) -> int:
    """An optional count field (added in a minor version): ``default`` when absent or bad."""
    return _opt_int(value, default, low=1)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _only_record_errors(build: Callable[_P, _T]) -> Callable[_P, _T]:
    """Wrap a ``*_from_json``: whatever a hostile object trips inside, a RecordError comes out.

    The checks above are meant to catch every bad value by name; this is the guarantee
    for the one they miss, because a reader that meets any other exception stops (the UI
    worker) or reports an internal error (``gradtop check``) instead of counting a skip.
    """

    @functools.wraps(build)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return build(*args, **kwargs)
        except RecordError:
            raise
        except (TypeError, ValueError, OverflowError, KeyError, IndexError, RecursionError) as exc:
            raise RecordError("schema", f"unusable value ({type(exc).__name__})") from None

    return guarded


@_only_record_errors
def header_from_json(obj: dict[str, Any]) -> Header:
    """Validate and build a Header; raises RecordError (only) with a countable reason."""
    check_version(obj.get("version"))
    params_json = _require(obj, "params", list)
    if len(params_json) > MAX_PARAMS:
        raise RecordError("schema", f"{len(params_json)} parameters > limit {MAX_PARAMS}")
    return Header(
        run_id=_require(obj, "run_id", str),
        time=_require_time(obj),
        params=tuple(_param_from_json(p) for p in params_json),
        version=obj["version"],
        host=_opt_str(obj.get("host")),
        pid=_opt_int(obj.get("pid"), 0),
        rank=_opt_int(obj.get("rank"), 0),
        world_size=_opt_int(obj.get("world_size"), 1),
        parallel=_opt_dict(obj.get("parallel")),
        model=_opt_str(obj.get("model")),
        total_params=_opt_int(obj.get("total_params"), 0),
        trainable_params=_opt_int(obj.get("trainable_params"), 0),
        activations=_str_tuple(obj.get("activations")),
        norms=_str_tuple(obj.get("norms")),
        optimizer=obj.get("optimizer") if isinstance(obj.get("optimizer"), str) else None,
        every=_opt_int(obj.get("every"), 1),
        detail_every=_positive_int(obj.get("detail_every")),
        stats=_str_tuple(obj.get("stats")) or PARAM_STATS,
        hist_edges=_hist_edges(obj.get("hist_edges")),
        meta=_opt_dict(obj.get("meta")),
        attention=obj.get("attention") is True,
        residual=_opt_bool(obj.get("residual")),
        tied=_tied(obj.get("tied")),
        precision=_opt_str(obj.get("precision")),
        clip_max_norm=_opt_positive(obj.get("clip_max_norm")),
        name=_opt_str(obj.get("name")),
        argv=_str_tuple(obj.get("argv")),
    )


@_only_record_errors
def step_from_json(obj: dict[str, Any], n_params: int | None = None) -> Step:
    """Validate and build a Step; arrays must match the header's parameter count.

    Raises RecordError (only): a step number outside int64 or a non-finite time included.
    """
    stats_json = obj.get("stats", {})
    if not isinstance(stats_json, dict):
        raise RecordError("schema", "field 'stats' is not an object")
    stats = {
        name: decode_numbers(values, n_params)
        for name, values in stats_json.items()
        if isinstance(name, str)
    }
    lr = obj.get("lr")
    scalars = obj.get("scalars")
    hist = obj.get("hist")
    return Step(
        run_id=_require(obj, "run_id", str),
        seq=_opt_int(obj.get("seq"), 0),
        step=_require_int64(obj, "step"),
        time=_require_time(obj),
        loss=decode_number(obj.get("loss")),
        lr=decode_numbers(lr) if isinstance(lr, list) else [],
        total_grad_norm=decode_number(obj.get("total_grad_norm")),
        loss_scale=decode_number(obj.get("loss_scale")),
        step_time=decode_number(obj.get("step_time")),
        scalars={str(k): decode_number(v) for k, v in scalars.items()}
        if isinstance(scalars, dict)
        else {},
        stats=stats,
        hist=hist if isinstance(hist, list) else None,
        step_grad_norm=decode_number(obj.get("step_grad_norm")),
        grads_stale=_opt_bool(obj.get("grads_stale")),
        logger_time=decode_number(obj.get("logger_time")),
        requires_grad=_opt_flags(obj, "requires_grad", n_params),
        in_optimizer=_opt_flags(obj, "in_optimizer", n_params),
    )


@_only_record_errors
def end_from_json(obj: dict[str, Any]) -> End:
    """Validate and build an End; raises RecordError (only)."""
    return End(
        run_id=_require(obj, "run_id", str),
        seq=_opt_int(obj.get("seq"), 0),
        time=_require_time(obj),
        steps=_opt_int(obj.get("steps"), 0),
        reason=_opt_str(obj.get("reason")),
        dropped=_opt_int(obj.get("dropped"), 0),
    )


@dataclass(frozen=True, slots=True)
class RecordKind:
    """What a parsed object is, before its fields are validated.

    ``name`` is HEADER, STEP or END, or "" for an unknown kind. ``error`` says why it
    cannot be used as it stands, with the reason a reader counts: ``schema`` (an unknown
    kind, a header of another format or with an unreadable version) or ``version`` (a
    header of a newer major format: its run is refused, not misread). A reader needs
    the name even then: a refused header still opens a run, whose steps it must not read.
    """

    name: str
    error: RecordError | None = None


_USABLE_KINDS = {kind: RecordKind(kind) for kind in KINDS}


def record_kind(obj: dict[str, Any]) -> RecordKind:
    """The one dispatch on kind, format and version, for every reader of the format."""
    kind = obj.get("kind")
    if kind == HEADER:
        if obj.get("format") != FORMAT_NAME:
            return RecordKind(HEADER, RecordError("schema", "header 'format' is not 'gradtop'"))
        try:
            check_version(obj.get("version"))
        except RecordError as exc:
            return RecordKind(HEADER, exc)
    usable = _USABLE_KINDS.get(kind) if isinstance(kind, str) else None
    if usable is None:
        return RecordKind("", RecordError("schema", f"unknown record kind {str(kind)[:40]!r}"))
    return usable


def decode_record(line: bytes, n_params: int | None = None) -> Record:
    """Parse and validate one line. ``n_params`` is the current run's parameter count.

    Raises RecordError (and only RecordError) with reason ``overlong``,
    ``invalid_json``, ``schema`` or ``version``.
    """
    obj = parse_line(line)
    kind = record_kind(obj)
    if kind.error is not None:
        raise kind.error
    if kind.name == STEP:
        return step_from_json(obj, n_params)
    if kind.name == HEADER:
        return header_from_json(obj)
    return end_from_json(obj)

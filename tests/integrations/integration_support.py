"""Helpers for the framework tests: strict file reading and a naive per-parameter reference.

The reference is the slow, obvious computation (float64, one tensor at a time) that the
fused logger must agree with; the frameworks' own hooks decide *when* it is taken.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradtop.records import End, Header, Record, Step, decode_record

COMPARED = ("grad_norm", "grad_max", "weight_norm", "nonfinite", "zero_frac")


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


def naive_stats(params: list[tuple[str, torch.Tensor]]) -> dict[str, list[Any]]:
    """Per parameter, in the given order, computed in float64 from full tensors."""
    out: dict[str, list[Any]] = {name: [] for name in COMPARED}
    for _, p in params:
        out["weight_norm"].append(p.detach().double().norm().item())
        g = p.grad
        if g is None:
            for key in ("grad_norm", "grad_max", "nonfinite", "zero_frac"):
                out[key].append(None)
            continue
        g = g.double()
        out["grad_norm"].append(g.norm().item())
        out["grad_max"].append(g.abs().max().item() if g.numel() else 0.0)
        out["nonfinite"].append(int((~torch.isfinite(g)).sum().item()))
        out["zero_frac"].append((g == 0).double().mean().item() if g.numel() else None)
    return out


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


def assert_step_matches(step: Step, expected: dict[str, list[Any]], rel: float = 1e-5) -> None:
    for name in COMPARED:
        assert_close(step.stats[name], expected[name], rel=rel, what=f"step {step.step} {name}")


def named(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return list(model.named_parameters())

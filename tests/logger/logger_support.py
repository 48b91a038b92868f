"""Shared helpers for the logger tests: strict reading and a naive per-parameter reference.

The reference is deliberately the slow, obvious code (``p.grad.float().norm()`` and
friends, one ``.item()`` per number) that the fused logger must agree with.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gradtop.records import End, Header, Record, Step, decode_record


def strict_loads(line: bytes) -> Any:
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


def steps(records: list[Record]) -> list[Step]:
    return [r for r in records if isinstance(r, Step)]


def headers(records: list[Record]) -> list[Header]:
    return [r for r in records if isinstance(r, Header)]


def ends(records: list[Record]) -> list[End]:
    return [r for r in records if isinstance(r, End)]


def naive_stats(model: nn.Module) -> dict[str, list[float | None]]:
    """One parameter at a time, in ``named_parameters`` order, computed in float64."""
    out: dict[str, list[float | None]] = {
        "grad_norm": [],
        "grad_max": [],
        "weight_norm": [],
        "nonfinite": [],
        "zero_frac": [],
    }
    for _, p in model.named_parameters():
        out["weight_norm"].append(p.detach().double().norm().item())
        g = p.grad
        if g is None:
            for key in ("grad_norm", "grad_max", "nonfinite", "zero_frac"):
                out[key].append(None)
            continue
        g = g.to_dense().double() if g.is_sparse else g.double()
        out["grad_norm"].append(g.norm().item())
        out["grad_max"].append(g.abs().max().item() if g.numel() else 0.0)
        out["nonfinite"].append(float((~torch.isfinite(g)).sum().item()))
        out["zero_frac"].append((g == 0).double().mean().item() if g.numel() else None)
    return out


def assert_close(actual: list[Any], expected: list[Any], rel: float = 1e-5) -> None:
    """Element-wise: None matches None, NaN matches NaN, Inf matches Inf, else rel tol."""
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if e is None or a is None:
            assert a is e is None, f"[{i}] {a!r} != {e!r}"
        elif math.isnan(e):
            assert math.isnan(a), f"[{i}] {a!r} is not NaN"
        elif math.isinf(e):
            assert a == e, f"[{i}] {a!r} != {e!r}"
        else:
            assert math.isclose(a, e, rel_tol=rel, abs_tol=1e-12), f"[{i}] {a!r} != {e!r}"


def mlp(width: int = 16, depth: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(8, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.Tanh()]
    layers.append(nn.Linear(width, 3))
    return nn.Sequential(*layers)


def backward(model: nn.Module, batch: int = 6, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 8, generator=gen)
    y = torch.randint(0, 3, (batch,), generator=gen)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss

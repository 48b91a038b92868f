"""Synthetic runs built into real History objects, for rule edge cases.

A run is an MLP-shaped header (weight matrices and biases in depth order, optionally
frozen, embedding or norm parameters) and steps whose per-parameter statistics come
from small functions of the step, so each test states the shape of its series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradtop.diagnosis import Diagnoser, Finding, Severity, Thresholds
from gradtop.history import History, RunHistory
from gradtop.records import Header, ParamInfo, Record, Step, encode_record

Series = Callable[[int], Sequence[float | None] | np.ndarray | float | None]


@dataclass(frozen=True)
class Spec:
    name: str
    module_type: str
    shape: tuple[int, ...]
    requires_grad: bool = True
    in_optimizer: bool | None = True


def mlp_specs(depth: int = 6, width: int = 16, *, bias: bool = True) -> list[Spec]:
    specs: list[Spec] = []
    for i in range(depth):
        specs.append(Spec(f"net.{i}.weight", "Linear", (width, width)))
        if bias:
            specs.append(Spec(f"net.{i}.bias", "Linear", (width,)))
    return specs


def header(
    specs: Sequence[Spec],
    *,
    run_id: str = "run",
    activations: Sequence[str] = ("ReLU",),
    norms: Sequence[str] = (),
    optimizer: str = "SGD",
) -> Header:
    params = tuple(
        ParamInfo(
            name=s.name,
            module=s.name.rsplit(".", 1)[0],
            module_type=s.module_type,
            param=s.name.rsplit(".", 1)[1],
            shape=s.shape,
            numel=int(np.prod(s.shape)),
            requires_grad=s.requires_grad,
            in_optimizer=s.in_optimizer,
        )
        for s in specs
    )
    return Header(
        run_id=run_id,
        time=0.0,
        params=params,
        activations=tuple(activations),
        norms=tuple(norms),
        optimizer=optimizer,
    )


def _row(value: object, n: int) -> list[float | None]:
    if value is None:
        return [None] * n
    if np.isscalar(value):
        return [float(value)] * n  # type: ignore[arg-type]
    return [None if x is None else float(x) for x in value]  # type: ignore[union-attr]


def feed(
    history: History,
    head: Header,
    steps: range,
    *,
    grad: Series,
    loss: Callable[[int], float | None] = lambda s: 2.3,
    weight: Series = lambda s: 4.0,
    update: Series | None = lambda s: 1e-3,
    zero: Series = lambda s: 0.0,
    nonfinite: Series | None = None,
    lr: Callable[[int], float] = lambda s: 0.1,
    scale: Callable[[int], float | None] = lambda s: None,
    sink: list[Record] | None = None,
) -> RunHistory:
    """Append one Step per step; frozen parameters get missing (None) gradients.

    Every record added is also appended to ``sink`` when given (to write a real file).
    """
    fresh = head.run_id not in history.runs
    if fresh:
        history.add(head)
        if sink is not None:
            sink.append(head)
    n = len(head.params)
    frozen = [not p.requires_grad for p in head.params]
    seq = history.runs[head.run_id].last_seq
    for s in steps:
        g = _row(grad(s), n)
        g = [None if f else x for x, f in zip(g, frozen, strict=True)]
        stats: dict[str, list[float | None]] = {"grad_norm": g}
        stats["grad_max"] = [None if x is None else x / 2 for x in g]
        stats["weight_norm"] = _row(weight(s), n)
        nf = (
            _row(nonfinite(s), n)
            if nonfinite
            else [None if x is None else float(not np.isfinite(x)) for x in g]
        )
        stats["nonfinite"] = [None if x is None else y for x, y in zip(g, nf, strict=True)]
        z = _row(zero(s), n)
        stats["zero_frac"] = [None if x is None else y for x, y in zip(g, z, strict=True)]
        if update is not None:
            u = _row(update(s), n)
            first = fresh and s == steps.start  # no update before the first step
            stats["update_ratio"] = [None if first else y for y in u]
        seq += 1
        record = Step(
            head.run_id,
            seq,
            s,
            float(s),
            loss=loss(s),
            lr=[lr(s)],
            loss_scale=scale(s),
            stats=stats,
        )
        history.add(record)
        if sink is not None:
            sink.append(record)
    return history.runs[head.run_id]


def per_layer(values: Sequence[float] | np.ndarray, *, bias: bool = True) -> np.ndarray:
    """Spread one value per layer over that layer's weight (and bias) parameters."""
    return np.repeat(np.asarray(values, dtype=np.float64), 2 if bias else 1)


def diagnose(run: RunHistory, **overrides: float) -> list[Finding]:
    """One Diagnoser pass over the whole run (forced, so nothing is rate-limited away)."""
    th = Thresholds(**overrides) if overrides else None  # type: ignore[arg-type]
    return Diagnoser(th).update(run, force=True)


def watch(
    head: Header,
    steps: range,
    *,
    every: int = 16,
    thresholds: Thresholds | None = None,
    **series: object,
) -> tuple[RunHistory, list[Finding]]:
    """Feed ``steps`` in chunks of ``every`` and update one Diagnoser after each chunk,
    as a live viewer does: runs longer than ``Thresholds.window`` are then judged with
    the run's memory (reference norm, first losses) instead of from their tail alone."""
    history = History()
    diagnoser = Diagnoser(thresholds)
    run: RunHistory | None = None
    for start in range(steps.start, steps.stop, every):
        chunk = range(start, min(start + every, steps.stop))
        run = feed(history, head, chunk, **series)  # type: ignore[arg-type]
        diagnoser.update(run)
    assert run is not None, "no steps"
    return run, diagnoser.update(run, force=True)


def kinds(findings: list[Finding], *, at_least: Severity = Severity.INFO) -> set[str]:
    return {f.kind for f in findings if f.severity >= at_least and f.active}


def only(findings: list[Finding], kind: str) -> Finding:
    found = [f for f in findings if f.kind == kind]
    assert len(found) == 1, f"expected one {kind} finding, got {[f.kind for f in findings]}"
    return found[0]


def write_jsonl(path: Path, records: Sequence[Record]) -> Path:
    """A real gradtop file, written with the format's own encoder."""
    with path.open("wb") as f:
        for record in records:
            f.write(encode_record(record.to_json()))
    return path

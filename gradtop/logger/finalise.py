"""Host side of a logged step: from the packed vector to the bytes of a step record.

Runs on the writer thread, after the one device-to-host copy; pure Python, no torch.
Finalising (square roots, fractions) is kept separate from computing the partials so
that a distributed logger can reduce the partials across ranks first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gradtop.logger.layout import HIST_BINS, Row, StepLayout
from gradtop.records import UPDATE_RATIO, Step, encode_record


@dataclass(slots=True)
class Final:
    """What a step record stores, finalised on the host from (reduced) partials."""

    stats: dict[str, list[float | int | None]]
    total_grad_norm: float | None


def finalise(
    matrix: Sequence[Sequence[float]],
    numels: Sequence[int],
    update_sumsq: Sequence[float | None] | None,
    detail: bool = True,
) -> Final:
    """Square roots and fractions; ``None`` where a gradient (or update) was missing.

    Without ``detail`` the weight, zero-count and update rows were not measured (a step
    between detail steps): weight_norm, zero_frac and update_ratio are all ``None``.
    """
    sumsq, nonzero, nonfinite = (
        matrix[Row.GRAD_SUMSQ],
        matrix[Row.GRAD_NONZERO],
        matrix[Row.GRAD_NONFINITE],
    )
    present, absmax = matrix[Row.GRAD_PRESENT], matrix[Row.GRAD_ABSMAX]
    wsumsq = matrix[Row.WEIGHT_SUMSQ]
    grad_norm: list[float | int | None] = []
    grad_max: list[float | int | None] = []
    weight_norm: list[float | int | None] = []
    n_bad: list[float | int | None] = []
    zero_frac: list[float | int | None] = []
    update_ratio: list[float | int | None] = []
    total = 0.0
    any_grad = False
    sqrt = math.sqrt
    for i, numel in enumerate(numels):
        if detail:
            w = sqrt(wsumsq[i])
            weight_norm.append(w)
            u = None if update_sumsq is None else update_sumsq[i]
            # ||w|| == 0 (a zero-initialised bias) leaves the ratio undefined, not infinite.
            update_ratio.append(None if u is None or w == 0 else sqrt(u) / w)
        else:
            weight_norm.append(None)
            update_ratio.append(None)
        if present[i] <= 0:
            grad_norm.append(None)
            grad_max.append(None)
            n_bad.append(None)
            zero_frac.append(None)
            continue
        any_grad = True
        s = sumsq[i]
        total += s
        grad_norm.append(sqrt(s))
        grad_max.append(absmax[i])
        bad = nonfinite[i]
        # NaN only where a sharded rank's statistics failed (it joined with NaNs): unknown.
        n_bad.append(int(bad) if math.isfinite(bad) else None)
        zero_frac.append((numel - nonzero[i]) / numel if numel and detail else None)
    stats = {
        "grad_norm": grad_norm,
        "grad_max": grad_max,
        "weight_norm": weight_norm,
        "nonfinite": n_bad,
        "zero_frac": zero_frac,
        "update_ratio": update_ratio,
    }
    return Final(stats=stats, total_grad_norm=sqrt(total) if any_grad else None)


def hist_rows(flat: Sequence[float], present: Sequence[float], bins: int) -> list[list[int] | None]:
    """Reshape the packed histogram counts; ``None`` for parameters without a gradient."""
    out: list[list[int] | None] = []
    for i, p in enumerate(present):
        out.append([int(c) for c in flat[i * bins : (i + 1) * bins]] if p > 0 else None)
    return out


@dataclass(slots=True)
class StepMeta:
    """The parts of a logged step known on the host; device values fill in ``None``s."""

    seq: int
    step: int
    time: float
    step_time: float | None
    loss: float | None = None
    loss_scale: float | None = None
    lr: list[float | None] = field(default_factory=list)
    scalars: dict[str, float | None] = field(default_factory=dict)
    # What each device scalar after the statistics means: ("loss",), ("lr", i), ...
    device_keys: list[tuple[Any, ...]] = field(default_factory=list)
    # The total gradient norm at optimizer.step() (gradtop.logger.step_watch); with
    # ``step_same`` the gradients were untouched since log(), so it is the logged total.
    step_grad_norm: float | None = None
    step_same: bool = False
    grads_stale: bool | None = None
    # Training-thread seconds the Logger spent on this step, up to packing it.
    logger_time: float | None = None
    # The parameters' roles where they differ from the header's (format 1.5).
    requires_grad: tuple[bool, ...] | None = None
    in_optimizer: tuple[bool, ...] | None = None


@dataclass(frozen=True, slots=True)
class PackSpec:
    """What a run's packed vectors hold: matrix, optional histogram, scalars, update."""

    run_id: str
    numels: tuple[int, ...]
    owned: tuple[int, ...] | None  # parameters with an update ratio; None: not measured
    # Parameters the optimizer holds, when not all: the step norm is theirs alone.
    stepped: tuple[int, ...] | None = None


def render_step(
    values: list[float],
    meta: StepMeta,
    spec: PackSpec,
    has_hist: bool,
    has_update: bool,
    *,
    detail: bool = True,
) -> bytes:
    """Decode one packed vector (already on the host) into a step record's bytes."""
    n = len(spec.numels)
    n_update = len(spec.owned) if has_update and spec.owned is not None else 0
    layout = StepLayout(n, hist=has_hist, update=n_update, scalars=len(meta.device_keys))
    matrix = [values[layout.row(r)] for r in Row]
    hist = None
    if has_hist:
        hist = hist_rows(values[layout.hist_counts], matrix[Row.GRAD_PRESENT], HIST_BINS)
    for key, value in zip(meta.device_keys, values[layout.device_scalars], strict=True):
        if key[0] == "loss":
            meta.loss = value
        elif key[0] == "loss_scale":
            meta.loss_scale = value
        elif key[0] == "lr":
            meta.lr[key[1]] = value
        elif key[0] == "step_grad_norm":
            meta.step_grad_norm = value
        else:
            meta.scalars[key[1]] = value
    update: list[float | None] | None = None
    if n_update and spec.owned is not None:
        update = [None] * n
        for i, v in zip(spec.owned, values[layout.update_sumsq], strict=True):
            update[i] = v
    final = finalise(matrix, spec.numels, update, detail)
    if spec.owned is None:
        final.stats.pop(UPDATE_RATIO)
    record = Step(
        run_id=spec.run_id,
        seq=meta.seq,
        step=meta.step,
        time=meta.time,
        loss=meta.loss,
        lr=meta.lr,
        total_grad_norm=final.total_grad_norm,
        loss_scale=meta.loss_scale,
        step_time=meta.step_time,
        scalars=meta.scalars,
        stats=final.stats,  # type: ignore[arg-type]
        hist=hist,
        step_grad_norm=_step_norm(matrix, spec, final) if meta.step_same else meta.step_grad_norm,
        grads_stale=meta.grads_stale,
        logger_time=meta.logger_time,
        requires_grad=meta.requires_grad,
        in_optimizer=meta.in_optimizer,
    )
    return encode_record(record.to_json())


def _step_norm(matrix: Sequence[Sequence[float]], spec: PackSpec, final: Final) -> float | None:
    """The logged gradients' norm over the parameters the optimizer holds (``step_same``:
    they reached its step untouched)."""
    if spec.stepped is None:
        return final.total_grad_norm
    sumsq, present = matrix[Row.GRAD_SUMSQ], matrix[Row.GRAD_PRESENT]
    held = [sumsq[i] for i in spec.stepped if present[i] > 0]
    return math.sqrt(sum(held)) if held else None

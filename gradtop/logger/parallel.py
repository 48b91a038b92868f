"""Statistics that stay right when parameters are sharded across processes.

Who does what (docs/distributed.md):

* **One process**, or **replicated parameters** (DDP): after a synchronising backward
  every rank holds the same averaged gradients, so rank 0 computes and writes, and the
  Logger on every other rank is inert (no statistics, no collective, no file).
* **Sharded parameters** (FSDP2 ``fully_shard``, tensor parallel: DTensor parameters):
  no rank holds a whole gradient. Every rank computes the additive partial statistics
  of its local shards (``to_local()``); :func:`reduce_partials` combines them with two
  collectives per logged step, in the same order on every rank: one
  ``all_reduce(SUM)`` of one packed vector (sums of squares, nonzero / non-finite /
  present counts, weight and update sums of squares, histogram counts), then one
  ``all_reduce(MAX)`` of the max |g| row. A maximum cannot ride in a SUM reduction
  exactly, hence two calls. Rank 0 then finalises and writes.

Replicated copies must count once. A DTensor placed ``Replicate()`` on a mesh dimension
holds the same values on every rank along it, and a plain tensor inside a sharded model
holds the same values everywhere. :func:`count_once_mask` keeps a parameter's additive
pieces only on the rank whose mesh coordinate is 0 along every replicated dimension (for
plain tensors: global rank 0); other ranks contribute exact zeros (``where``, not a
multiplication, so that a NaN on a discarded copy cannot leak into the sum).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gradtop.logger.writer import GradtopWarning

try:
    from torch.distributed.tensor import DTensor, Partial, Replicate
except ImportError:  # pragma: no cover - torch < 2.4 keeps DTensor private
    try:
        from torch.distributed._tensor import DTensor, Replicate  # type: ignore[no-redef]
        from torch.distributed._tensor.placement_types import Partial  # type: ignore[no-redef]
    except ImportError:
        DTensor = Partial = Replicate = None  # type: ignore[assignment,misc]


def is_dtensor(t: object) -> bool:
    return DTensor is not None and isinstance(t, DTensor)


def local(t: Tensor) -> Tensor:
    """The part of ``t`` this rank holds: the tensor itself unless it is a DTensor."""
    if not is_dtensor(t):
        return t
    d: Any = t
    with torch.no_grad():  # no autograd view: the shard itself, updated in place
        shard: Tensor = d.to_local()
    return shard


def local_grad(t: Tensor) -> Tensor | None:
    """This rank's part of ``t.grad``; a ``Partial`` (pending-sum) gradient is summed first.

    The usual FSDP2/TP plans produce no Partial gradients. Where one appears it costs one
    collective (``redistribute``), issued in parameter order, so the same on every rank.
    """
    g: Any = t.grad
    if g is None or not is_dtensor(g):
        return g  # type: ignore[no-any-return]
    if any(isinstance(p, Partial) for p in g.placements):
        placements = [Replicate() if isinstance(p, Partial) else p for p in g.placements]
        g = g.redistribute(g.device_mesh, placements)  # sync point (collective)
    shard: Tensor = g.to_local()
    return shard


@dataclass(frozen=True)
class Layout:
    """How the watched parameters are spread over the processes of this job."""

    rank: int
    world: int
    sharded: bool
    parallel: dict[str, Any] = field(default_factory=dict)

    @property
    def computes(self) -> bool:
        """Sharded: every rank holds a piece. Otherwise rank 0's copy is the whole truth."""
        return self.sharded or self.rank == 0


def is_sharded(model: nn.Module) -> bool:
    """Cheap, so that an inert DDP rank can decide without describing the model."""
    return any(is_dtensor(p) for p in model.parameters())


@dataclass(frozen=True)
class CallerHints:
    """What a framework callback knows about the job that the model itself cannot show."""

    strategy: str | None = None
    grads: str = "pre-clip"


_HINTS: ContextVar[CallerHints | None] = ContextVar("gradtop_caller_hints", default=None)

FSDP1_WARNING = (
    "FSDP1 (FullyShardedDataParallel, Lightning strategy='fsdp') is not supported: "
    "gradtop records rank 0's flat shards, so every statistic is per-shard, not the "
    "whole gradient's (the header says strategy 'fsdp1'). Use FSDP2: torch's fully_shard, "
    "in Lightning ModelParallelStrategy"
)


@contextmanager
def caller_hints(strategy: str | None = None, grads: str = "pre-clip") -> Iterator[None]:
    """Tell the Loggers created inside this block what only the caller knows.

    ``strategy``: Lightning wraps the FSDP1 module *around* the LightningModule, so the
    model the Logger is given contains no ``FullyShardedDataParallel`` to detect; the
    callback passes ``"fsdp1"``. ``grads``: where in the step ``log()`` is called, for
    the header's ``parallel.grads`` (the Hugging Face callback used without ``attach``
    logs after the Trainer clipped: ``"post-clip"``).
    """
    token = _HINTS.set(CallerHints(strategy, grads))
    try:
        yield
    finally:
        _HINTS.reset(token)


def detect(model: nn.Module, params: Sequence[Tensor], rank: int, world: int) -> Layout:
    """Who computes, and the header's ``parallel`` description of the layout.

    Under FSDP1 this warns (GradtopWarning): its statistics are per-shard, and a header
    that said ``ddp`` would make them look like the whole gradient's.
    """
    hints = _HINTS.get() or CallerHints()
    dtensors = [p for p in params if is_dtensor(p)]
    if world <= 1 and not dtensors and hints.strategy is None:
        return Layout(rank, world, sharded=False)
    info: dict[str, Any] = {"world_size": world}
    if not dtensors:
        fsdp1 = hints.strategy == "fsdp1" or any(
            type(m).__name__ == "FullyShardedDataParallel" for m in model.modules()
        )
        info.update(strategy="fsdp1" if fsdp1 else hints.strategy or "ddp", dp=world, tp=1)
        if fsdp1:
            info["reduce"] = "none: rank 0's own shards only (FSDP1 is not supported)"
            warnings.warn(FSDP1_WARNING, GradtopWarning, stacklevel=3)
        else:
            info["reduce"] = "none: rank 0's gradients are every rank's after backward"
    else:
        mesh = max((p.device_mesh for p in dtensors), key=lambda m: m.ndim)  # type: ignore[attr-defined]
        shape = [int(s) for s in mesh.mesh.shape]
        names = list(mesh.mesh_dim_names or [f"dim{i}" for i in range(len(shape))])
        fsdp = any(is_fsdp2(m) for m in model.modules())
        tp_sizes = [s for n, s in zip(names, shape, strict=True) if _is_tp_name(n)]
        # No "tp" dimension: FSDP2 shards data parallel, anything else is model parallel.
        tp = _product(tp_sizes) if tp_sizes else 1 if fsdp else _product(shape)
        dp = max(1, world // tp)
        strategy = ("fsdp2+tp" if tp > 1 else "fsdp2") if fsdp else "tp" if tp > 1 else "dtensor"
        info.update(strategy=strategy, dp=dp, tp=tp, mesh_shape=shape, mesh_dims=names)
        info["reduce"] = "all_reduce(SUM) + all_reduce(MAX) per logged step"
    info["norm_type"] = 2
    info["grads"] = hints.grads
    return Layout(rank, world, sharded=bool(dtensors), parallel=info)


def count_once_mask(params: Sequence[Tensor], rank: int) -> list[bool]:
    """Per parameter: does this rank's copy of its shard count in the SUM reduction?"""
    keep = []
    for p in params:
        if not is_dtensor(p):
            keep.append(rank == 0)
            continue
        mesh = p.device_mesh  # type: ignore[attr-defined]
        coord = mesh.get_coordinate()
        if coord is None or not bool((mesh.mesh == 0).any()):
            # Off this parameter's mesh, or on a replica of a mesh that rank 0 is not on
            # (data-parallel copies of a tensor-parallel group): rank 0's group counts.
            keep.append(False)
            continue
        pairs = zip(coord, p.placements, strict=True)  # type: ignore[attr-defined]
        keep.append(all(c == 0 for c, pl in pairs if isinstance(pl, Replicate)))
    return keep


def reduce_partials(sums: Tensor, maxes: Tensor) -> None:
    """The logged step's two collectives, in place, in this order on every rank.

    Raises when a peer is gone or the process group's timeout expires; the Logger turns
    that into one warning and stops logging on this rank.
    """
    dist.all_reduce(sums, op=dist.ReduceOp.SUM)  # sync point (collective)
    dist.all_reduce(maxes, op=dist.ReduceOp.MAX)  # sync point (collective)


def module_type_name(module: nn.Module) -> str:
    """FSDP2 swaps a module's class for a generated ``FSDP<Name>``; name the user's class."""
    cls = type(module)
    if is_fsdp2(module):
        bases = [b for b in cls.__bases__ if b.__name__ != "FSDPModule"]
        if bases:
            return bases[-1].__name__
    return cls.__name__


def is_fsdp2(module: nn.Module) -> bool:
    return any(b.__name__ == "FSDPModule" for b in type(module).__mro__)


def _is_tp_name(name: str) -> bool:
    """ "tp", "tp_mesh", Lightning's "tensor_parallel", ..."""
    lowered = name.lower()
    return "tp" in lowered or "tensor" in lowered


def _product(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out

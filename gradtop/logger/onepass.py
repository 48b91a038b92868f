"""One-pass CPU statistics of fp32/fp64 gradients, when numba is installed.

With torch's own kernels the every-step statistics read each gradient twice (a BLAS dot
for the sum of squares, then ``aminmax``) plus a Python round trip per tensor and
kernel; on the 12x512 MLP that is 1.2-1.4 ms against 0.7 ms for one cold read
(docs/performance.md, "A one-pass CPU kernel"). The numba kernels in
:mod:`gradtop.logger.onepass_numba` read every entry once, for all tensors in one call.

numba is optional (``pip install "gradtop-live[fast]"``; the dev extra has it). Without
it, with ``GRADTOP_CPU_KERNEL=0`` in the environment, or where it fails to load or
compile, :func:`measure` returns None and :class:`~gradtop.logger.stats.StatsEngine`
takes its torch path, which stays the reference. Nothing is compiled until the first
CPU step asks for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch
from torch import Tensor

ENV = "GRADTOP_CPU_KERNEL"
# dtype -> (kernel name, unsigned integer of the same width).
_KERNELS = {
    torch.float32: ("stats_f32", np.uint32),
    torch.float64: ("stats_f64", np.uint64),
}
DTYPES = frozenset(_KERNELS)
# dtype -> (copy + sum of squares, sum of squares of a difference): the update ratio's.
_PAIR_KERNELS = {
    torch.float32: ("copy_sumsq_f32", "diff_sumsq_f32"),
    torch.float64: ("copy_sumsq_f64", "diff_sumsq_f64"),
}


@dataclass(slots=True)
class _State:
    """What :func:`load` decided, once per process."""

    tried: bool = False
    kernels: ModuleType | None = None
    # Why the kernels are not in use (None while they are, or before the first try).
    reason: str | None = None


_state = _State()


def load() -> ModuleType | None:
    """The compiled kernels, or None (once decided, the answer is kept)."""
    if _state.tried:
        return _state.kernels
    _state.tried = True
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        _state.reason = f"{ENV} turns it off"
        return None
    try:
        import gradtop.logger.onepass_numba as kernels
    except ImportError as exc:
        _state.reason = f"numba is not installed ({exc})"
    except Exception as exc:  # a numba that imports but cannot compile here
        _state.reason = f"numba failed to compile the kernels ({type(exc).__name__}: {exc})"
    else:
        _state.kernels = kernels
    return _state.kernels


def unavailable_reason() -> str | None:
    """Why :func:`measure` returns None for every group (None: the kernels are in use)."""
    load()
    return _state.reason


@dataclass(frozen=True, slots=True)
class OnePass:
    """Per-tensor results of one call, as CPU tensors (row order of the input)."""

    sumsq: Tensor  # float64
    absmax: Tensor  # the gradients' dtype; NaN or Inf where the tensor holds one
    nonzero: Tensor | None  # int64, entries that are not ±0; None unless counted
    # Tensors whose sumsq or absmax is not finite: 0 proves the group holds no NaN/Inf.
    suspects: int


def measure(grads: list[Tensor], count_zeros: bool) -> OnePass | None:
    """Sum of squares, max |g| (and the nonzero count) of same-dtype CPU tensors.

    None where the kernels are unavailable or the group is not theirs (dtype, layout):
    the caller then computes the same numbers with torch. A tensor whose memory is not
    one dense block (a strided view) is copied first; channels-last ones are dense and
    read in place, since none of these reductions depends on the order of the entries.
    """
    kernels = load()
    spec = _KERNELS.get(grads[0].dtype) if grads else None
    if kernels is None or spec is None:
        return None
    name, bits = spec
    dense: list[Tensor] = []
    for g in grads:
        if not _host_memory(g):
            return None
        dense.append(g if g.is_contiguous() or _is_dense(g) else g.contiguous())
    n = len(dense)
    ptrs = np.array([g.data_ptr() for g in dense], dtype=np.int64)
    lens = np.array([g.numel() for g in dense], dtype=np.int64)
    # The kernel writes into torch's own memory (numpy views of torch tensors): a tensor
    # made by torch.from_numpy keeps a numpy array alive, and freeing it takes the GIL on
    # whatever thread frees the tensor (the writer's, a backend's).
    sumsq = torch.empty(n, dtype=torch.float64)
    absmax = torch.empty(n, dtype=grads[0].dtype)
    zeros = torch.empty(n if count_zeros else 0, dtype=torch.int64)
    suspects = getattr(kernels, name)(
        ptrs, lens, sumsq.numpy(), absmax.numpy().view(bits), zeros.numpy(), count_zeros
    )
    # `dense` holds the copies alive until here: the kernel read them by address.
    del dense
    nonzero = torch.tensor(lens.tolist(), dtype=torch.int64).sub_(zeros) if count_zeros else None
    return OnePass(sumsq=sumsq, absmax=absmax, nonzero=nonzero, suspects=int(suspects))


def _host_memory(t: Tensor) -> bool:
    """Whether the kernels may read ``t`` by address: a plain strided CPU tensor. A tensor
    subclass (a wrapper such as DTensor, or one with no storage of its own, whose
    ``data_ptr()`` is 0) takes the torch path, which dispatches through it."""
    return type(t) in _PLAIN and t.layout is torch.strided and t.is_cpu


_PLAIN = (Tensor, torch.nn.Parameter)


def _is_dense(g: Tensor) -> bool:
    """Whether a non-contiguous tensor's entries still fill ``numel`` consecutive
    elements from ``data_ptr()`` (channels-last memory formats)."""
    if g.dim() == 4:
        return g.is_contiguous(memory_format=torch.channels_last)
    if g.dim() == 5:
        return g.is_contiguous(memory_format=torch.channels_last_3d)
    return False


def copy_sumsq(src: list[Tensor], dst: list[Tensor]) -> Tensor | None:
    """Copy each ``src`` tensor into its ``dst`` and return ||src||² per tensor (float64).

    The update ratio's snapshot and the weight norms in one read of the weights (torch
    needs a copy and then a dot). None where the kernels do not apply: the caller's
    torch path then does both.
    """
    return _pairwise(src, dst, 0)


def diff_sumsq(before: list[Tensor], after: list[Tensor]) -> Tensor | None:
    """||before - after||² per tensor pair (float64), reading both once and writing
    nothing (torch subtracts into a buffer, then reads it again). None as above."""
    return _pairwise(before, after, 1)


def _pairwise(a: list[Tensor], b: list[Tensor], which: int) -> Tensor | None:
    kernels = load()
    names = _PAIR_KERNELS.get(a[0].dtype) if a else None
    if kernels is None or names is None:
        return None
    dtype = a[0].dtype
    for x, y in zip(a, b, strict=True):
        for t in (x, y):  # one contiguous block each, on the host, of the same dtype
            if not _host_memory(t) or t.dtype != dtype or not t.is_contiguous():
                return None
        if x.numel() != y.numel():
            return None
    a_ptrs = np.array([t.data_ptr() for t in a], dtype=np.int64)
    b_ptrs = np.array([t.data_ptr() for t in b], dtype=np.int64)
    lens = np.array([t.numel() for t in a], dtype=np.int64)
    sumsq = torch.empty(len(a), dtype=torch.float64)  # torch's memory: see measure()
    getattr(kernels, names[which])(a_ptrs, b_ptrs, lens, sumsq.numpy())
    return sumsq

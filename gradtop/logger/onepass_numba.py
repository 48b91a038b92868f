"""The one-pass CPU kernels, compiled by numba (imported only by gradtop.logger.onepass).

Each kernel walks a list of contiguous tensors given as raw addresses (one call per
step, no Python per tensor) and reads every entry once, while it is in a register:

* the sum of squares, accumulated in float64 (an fp32 square is exact in float64 and a
  sum of 2**31 of them cannot overflow, so for fp32 it is finite exactly when every
  entry is; more accurate than the fp32 BLAS dot it replaces);
* max |g| on the bit pattern with the sign bit cleared: for non-negative IEEE floats
  the integer order is the value order, Inf is above every finite value and NaN above
  Inf, so the integer max is exact, treats ``-0.0`` as 0 and subnormals as values, and
  is at or above Inf's pattern exactly when an entry is NaN or Inf (the proof of "no
  NaN/Inf" that the caller relies on, next to the finite sum of squares);
* optionally (detail steps) the count of ±0 entries, on the same bit pattern.

fastmath is limited to ``reassoc`` and ``contract`` (what vectorising the float64 sum
needs): ``nnan``/``ninf`` would let the compiler assume away the NaN/Inf it must see.
``cache=True`` keeps the compiled code for the next process where numba finds a
writable cache folder; where it finds none the kernels compile in memory (about 1 s).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_FASTMATH = {"reassoc", "contract"}

_MASK32 = np.uint32(0x7FFF_FFFF)
_INF32 = np.uint32(0x7F80_0000)
_MASK64 = np.uint64(0x7FFF_FFFF_FFFF_FFFF)
_INF64 = np.uint64(0x7FF0_0000_0000_0000)


@intrinsic
def _address(typingctx: Any, src: Any) -> Any:  # pragma: no cover - compiled by numba
    """An integer address as a ``void*`` that ``numba.carray`` can view."""
    sig = types.voidptr(src)

    def codegen(cgctx: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


def _jit(signature: str) -> Callable[[Callable[..., Any]], Any]:
    """njit with an on-disk cache where numba can write one, in memory otherwise."""

    def wrap(fn: Callable[..., Any]) -> Any:
        options = {"fastmath": _FASTMATH, "nogil": True, "error_model": "numpy"}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", numba.NumbaWarning)
                return numba.njit(signature, cache=True, **options)(fn)
        except (RuntimeError, OSError):  # no writable cache folder: compile in memory
            return numba.njit(signature, cache=False, **options)(fn)

    return wrap


_SIG = "int64(int64[::1], int64[::1], float64[::1], {bits}[::1], int64[::1], boolean)"


@_jit(_SIG.format(bits="uint32"))
def stats_f32(ptrs, lens, sumsq, absmax, zeros, count_zeros):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """fp32: per tensor t, sumsq[t], absmax[t] (bits) and, if asked, zeros[t].

    Returns how many tensors have a non-finite max or sum of squares: those that hold
    a NaN or Inf (their absmax bits say so) and, in fp64, finite ones whose sum of
    squares overflowed."""
    bad = 0
    for t in range(ptrs.shape[0]):
        n = lens[t]
        values = numba.carray(_address(ptrs[t]), n, np.float32)
        bits = numba.carray(_address(ptrs[t]), n, np.uint32)
        s = 0.0
        m = np.uint32(0)
        if count_zeros:
            z = 0
            for i in range(n):
                x = np.float64(values[i])
                s += x * x
                b = bits[i] & _MASK32
                m = max(m, b)
                z += b == np.uint32(0)
            zeros[t] = z
        else:
            for i in range(n):
                x = np.float64(values[i])
                s += x * x
                m = max(m, bits[i] & _MASK32)
        sumsq[t] = s
        absmax[t] = m
        if m >= _INF32 or not s < np.inf:
            bad += 1
    return bad


@_jit(_SIG.format(bits="uint64"))
def stats_f64(ptrs, lens, sumsq, absmax, zeros, count_zeros):  # type: ignore[no-untyped-def]  # noqa: PLR0917
    """fp64: as :func:`stats_f32`. The sum of squares of finite entries above ~1e154
    overflows to Inf here as it does in a float64 dot; the caller redoes those."""
    bad = 0
    for t in range(ptrs.shape[0]):
        n = lens[t]
        values = numba.carray(_address(ptrs[t]), n, np.float64)
        bits = numba.carray(_address(ptrs[t]), n, np.uint64)
        s = 0.0
        m = np.uint64(0)
        if count_zeros:
            z = 0
            for i in range(n):
                x = values[i]
                s += x * x
                b = bits[i] & _MASK64
                m = max(m, b)
                z += b == np.uint64(0)
            zeros[t] = z
        else:
            for i in range(n):
                x = values[i]
                s += x * x
                m = max(m, bits[i] & _MASK64)
        sumsq[t] = s
        absmax[t] = m
        if m >= _INF64 or not s < np.inf:
            bad += 1
    return bad


_PAIR_SIG = "void(int64[::1], int64[::1], int64[::1], float64[::1])"


def _copy_sumsq(dtype: type) -> Any:
    """``dst[t] = src[t]`` and ``sumsq[t] = ||src[t]||²`` (float64) in one read of src."""

    @_jit(_PAIR_SIG)
    def kernel(src, dst, lens, sumsq):  # type: ignore[no-untyped-def]
        for t in range(src.shape[0]):
            n = lens[t]
            a = numba.carray(_address(src[t]), n, dtype)
            b = numba.carray(_address(dst[t]), n, dtype)
            s = 0.0
            for i in range(n):
                x = a[i]
                b[i] = x
                y = np.float64(x)
                s += y * y
            sumsq[t] = s

    return kernel


def _diff_sumsq(dtype: type) -> Any:
    """``sumsq[t] = ||a[t] - b[t]||²``, the difference taken in float64 (exact for fp32
    entries within a factor 2**29 of each other, as a weight before and after one step
    are), reading both once and writing nothing."""

    @_jit(_PAIR_SIG)
    def kernel(a_ptrs, b_ptrs, lens, sumsq):  # type: ignore[no-untyped-def]
        for t in range(a_ptrs.shape[0]):
            n = lens[t]
            a = numba.carray(_address(a_ptrs[t]), n, dtype)
            b = numba.carray(_address(b_ptrs[t]), n, dtype)
            s = 0.0
            for i in range(n):
                d = np.float64(a[i]) - np.float64(b[i])
                s += d * d
            sumsq[t] = s

    return kernel


copy_sumsq_f32 = _copy_sumsq(np.float32)
copy_sumsq_f64 = _copy_sumsq(np.float64)
diff_sumsq_f32 = _diff_sumsq(np.float32)
diff_sumsq_f64 = _diff_sumsq(np.float64)

"""Is a closed Logger freed by reference counting alone? (issue 14)

A Logger holds the update tracker's copy of every parameter (as much memory as the
trainable model). A reference cycle through it would keep that copy alive after
``close()`` until the cycle collector happens to run, so the check runs with the
collector off: the Logger must be gone the moment its last reference is.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import gradtop


def closed_logger_is_freed(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    backward: Callable[[int], object],
    steps: int = 2,
) -> bool:
    """Log ``steps`` real steps (``backward(step)`` then log, step, zero_grad), close,
    drop the Logger: True if it was freed with the cycle collector disabled."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        log = gradtop.Logger(path, model, optimizer, detail_every=1)
        for step in range(steps):
            backward(step)
            log.log()
            optimizer.step()
            optimizer.zero_grad()
        log.close()
        ref = weakref.ref(log)
        del log
        return ref() is None
    finally:
        if enabled:
            gc.enable()

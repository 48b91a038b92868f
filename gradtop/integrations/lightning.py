"""Lightning: ``Trainer(callbacks=[GradtopCallback("run.jsonl")])``.

Where the statistics are read: Lightning's precision plugins run the training closure
(forward + backward), then unscale the gradients (``16-mixed``: ``scaler.unscale_``),
then call ``on_before_optimizer_step``, and only then clip (``gradient_clip_val``) and
step. So this callback sees every optimizer step's gradients once, accumulated over
``accumulate_grad_batches`` micro-batches (and, under DDP, synchronised: Lightning runs
the non-final micro-batches under ``no_sync``), unscaled and *before* clipping.

Distributed strategies: the callback runs on every rank and the Logger decides who works
(docs/distributed.md). DDP: rank 0 computes and writes, other ranks do nothing. FSDP2 /
tensor parallel (``ModelParallelStrategy``, DTensor parameters): every rank reduces its
shards, rank 0 writes. FSDP1 (``strategy="fsdp"``, Lightning's ``FSDPStrategy``)
flattens parameters into shards and is not supported: rank 0 records its own shards
only. Lightning puts the FSDP1 wrapper *around* the LightningModule, where the Logger
cannot see it, so this callback detects the strategy itself, and the Logger then warns
(GradtopWarning) and writes ``parallel.strategy = "fsdp1"`` into the header.

The loss: Lightning hands ``on_before_backward`` the loss the precision plugin is about
to backpropagate, which under ``16-mixed`` is already multiplied by the GradScaler's
scale (``MixedPrecision.pre_backward`` runs ``scaler.scale`` before the hook). The
callback divides that scale back out, on the device. ``on_train_batch_end`` would give
the unscaled loss but fires after the optimizer step of the micro-batch that ends it,
too late for the record of that step.
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any

try:
    import lightning.pytorch as pl
except ImportError as exc:  # pragma: no cover - exercised only without Lightning
    raise ImportError(
        "gradtop.integrations.lightning needs Lightning: pip install 'gradtop-live[lightning]'"
    ) from exc
from torch import Tensor

from gradtop.logger import Logger
from gradtop.logger.parallel import caller_hints


class GradtopCallback(pl.Callback):
    """Log per-parameter gradient health at every ``every``-th optimizer step.

    Args:
        path: the JSONL file (rank 0 writes it; see :class:`gradtop.Logger`).
        every: log every N-th optimizer step (the first is always logged).
        **logger_options: passed to :class:`gradtop.Logger` (``name``, ``update_ratio``,
            ``hist``, ``hist_every``, ``detail_every``, ``meta``, ``fsync``, ``queue_size``,
            ``flush_interval``, ``close_timeout``).

    The loss recorded with a step is the mean of its micro-batch losses as the training
    step returned them; the learning rates come from the first optimizer's param groups.
    With several optimizers (manual optimization) only the first one's steps are logged.
    """

    def __init__(self, path: str | os.PathLike[str], every: int = 1, **logger_options: Any):
        super().__init__()
        if int(every) < 1:
            raise ValueError("every must be >= 1")
        self.path = os.fspath(path)
        self.every = int(every)
        self.logger_options = logger_options
        self.logger: Logger | None = None
        self._optimizer: Any = None
        self._loss: Tensor | None = None

    # ------------------------------------------------------------------ lifecycle

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """After the strategy's setup: the model is wrapped/sharded, optimizers exist."""
        self._close("closed")
        optimizers = list(trainer.optimizers)
        self._optimizer = optimizers[0] if optimizers else None
        options = dict(self.logger_options)
        meta = {
            "integration": "lightning",
            "grads": "pre-clip",
            "precision": str(trainer.precision),
            "accumulate_grad_batches": trainer.accumulate_grad_batches,
            "gradient_clip_val": trainer.gradient_clip_val,
            "gradient_clip_algorithm": _clip_algorithm(trainer),
            "strategy": type(trainer.strategy).__name__,
            **(options.pop("meta", None) or {}),
        }
        clip = _clip_max_norm(trainer)
        if clip is not None and _logger_takes("clip_max_norm"):
            # Lightning clips after on_before_optimizer_step, where gradtop logs: the
            # header says so, so the viewer knows the run clips and does not advise it.
            options.setdefault("clip_max_norm", clip)
        with caller_hints(strategy="fsdp1" if is_fsdp1(trainer.strategy) else None):
            self.logger = Logger(
                self.path,
                pl_module,
                optimizer=self._optimizer,
                every=self.every,
                scaler=_scaler(trainer),
                meta=meta,
                **options,
            )
        self._loss = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close("closed")

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._close("exception")

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._close("closed")

    # ------------------------------------------------------------------ per step

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor
    ) -> None:
        # Lightning divides each micro-batch loss by accumulate_grad_batches before this
        # hook, so the sum over a step's micro-batches is their mean. A GradScaler has
        # multiplied it by the loss scale by now (16-mixed); the scale stays constant until
        # scaler.update() after the step, so dividing here undoes exactly that (exact for
        # the default power-of-two scales). Device ops only: no host sync.
        loss = loss.detach()
        scale = _scale_tensor(_scaler(trainer))
        if scale is not None:
            loss = loss / scale.to(device=loss.device, non_blocking=True)
        self._loss = loss if self._loss is None else self._loss + loss

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        if self.logger is None:
            return
        if self._optimizer is not None and _unwrap(optimizer) is not _unwrap(self._optimizer):
            return
        loss, self._loss = self._loss, None
        # global_step counts completed optimizer steps: this one is number global_step + 1.
        self.logger.log(loss, step=trainer.global_step + 1)

    def _close(self, reason: str) -> None:
        if self.logger is not None:
            self.logger.close(reason=reason)
            self.logger = None


def is_fsdp1(strategy: Any) -> bool:
    """Lightning's FSDP1 strategy (``strategy="fsdp"``), whose wrapper the Logger cannot see.

    ``ModelParallelStrategy`` (FSDP2) is a different class; DTensor parameters give it away.
    """
    try:
        from lightning.pytorch.strategies import FSDPStrategy
    except ImportError:  # pragma: no cover - Lightning without FSDP support
        return False
    return isinstance(strategy, FSDPStrategy)


def _clip_algorithm(trainer: pl.Trainer) -> str:
    """The clipping algorithm, "norm" when none is given (as Lightning defaults)."""
    algorithm = getattr(trainer, "gradient_clip_algorithm", None)
    return str(getattr(algorithm, "value", algorithm) or "norm").lower()


def _clip_max_norm(trainer: pl.Trainer) -> float | None:
    """The norm Lightning clips each step's gradients to, or None (no clipping by norm).

    Clipping by value caps single elements, not the step's norm, so it is not recorded
    as a max norm (the meta still names it).
    """
    value = getattr(trainer, "gradient_clip_val", None)
    try:
        clip = float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return None
    if clip > 0 and math.isfinite(clip) and _clip_algorithm(trainer) == "norm":
        return clip
    return None


def _logger_takes(option: str) -> bool:
    """Whether this gradtop's Logger has keyword ``option`` (added in header format 1.2)."""
    try:
        return option in inspect.signature(Logger).parameters
    except (TypeError, ValueError):
        return False


def _scaler(trainer: pl.Trainer) -> Any:
    """The precision plugin's GradScaler (``16-mixed``; ``None`` otherwise)."""
    return getattr(trainer.precision_plugin, "scaler", None)


def _scale_tensor(scaler: Any) -> Tensor | None:
    """The scale the plugin multiplied the loss by, as a tensor (``get_scale()`` syncs)."""
    if scaler is None or not getattr(scaler, "is_enabled", lambda: True)():
        return None
    scale = getattr(scaler, "_scale", None)
    return scale if isinstance(scale, Tensor) else None


def _unwrap(optimizer: Any) -> Any:
    """LightningOptimizer wraps the torch optimizer; compare the real ones."""
    return getattr(optimizer, "_optimizer", optimizer)

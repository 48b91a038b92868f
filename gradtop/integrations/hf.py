"""Hugging Face Transformers: a ``TrainerCallback`` that logs gradient health.

Where the Trainer lets a callback see gradients (transformers >= 4.46; read in
``Trainer._inner_training_loop``): on the micro-batch that ends an optimizer step it runs

    backward  ->  _clip_grad_norm (accelerator.clip_grad_norm_: unscales fp16, then clips
                  to max_grad_norm; with max_grad_norm=0 newer releases still call it with
                  max_norm=inf to measure the norm)
              ->  on_pre_optimizer_step  ->  optimizer.step()  ->  on_optimizer_step

So ``on_pre_optimizer_step`` sees gradients that are accumulated, unscaled and already
**clipped**. Clipping scales every gradient by one factor, which hides exploding layers,
and a single NaN/Inf anywhere turns that factor (and then every gradient) into NaN or 0,
which erases which layer went bad first. Hence two ways to use this callback:

* ``GradtopCallback(path).attach(trainer)`` (recommended): logs right *before* the
  Trainer clips, by wrapping that trainer's own ``accelerator.clip_grad_norm_`` (an
  attribute of this one Accelerator object; nothing global is patched). Header meta
  ``"grads": "pre-clip"``.
* ``Trainer(..., callbacks=[GradtopCallback(path)])``: logs at ``on_pre_optimizer_step``;
  header meta (and, in a distributed run, ``parallel.grads``) says ``"grads": "post-clip"``
  when ``max_grad_norm > 0``.

The loss recorded with a step is the model's own ``loss`` output over the step's
micro-batches, combined as the Trainer combines it for its logged ``loss`` (a mean, or a
sum when the model normalises by ``num_items_in_batch``). Models that return no ``loss``
(a custom ``compute_loss``) record none. In a multi-process run the recorded loss is
rank 0's local loss (rank 0 writes the file), whereas the Trainer's logged ``loss`` is the
mean over all ranks (``nested_gather(tr_loss).mean()``), so the two can differ a little;
reducing it here would cost a collective per step. The learning rate is read from the
optimizer before the scheduler steps, as the Trainer logs it.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Mapping
from typing import Any

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - exercised only without Transformers
    raise ImportError(
        "gradtop.integrations.hf needs Transformers: pip install 'gradtop-live[hf]'"
    ) from exc
from torch import Tensor, nn

from gradtop.logger import Logger
from gradtop.logger.parallel import caller_hints


class GradtopCallback(TrainerCallback):
    """Log per-parameter gradient health once per optimizer step of a ``Trainer``.

    Args:
        path: the JSONL file (rank 0 writes it; see :class:`gradtop.Logger`).
        every: log every N-th optimizer step (the first is always logged).
        **logger_options: passed to :class:`gradtop.Logger` (``name``, ``update_ratio``,
            ``hist``, ``hist_every``, ``detail_every``, ``meta``, ``fsync``, ``queue_size``,
            ``flush_interval``, ``close_timeout``).
    """

    def __init__(self, path: str | os.PathLike[str], every: int = 1, **logger_options: Any):
        if int(every) < 1:
            raise ValueError("every must be >= 1")
        self.path = os.fspath(path)
        self.every = int(every)
        self.logger_options = logger_options
        self.logger: Logger | None = None
        self.pre_clip = False
        self._logged_this_step = False
        self._args: Any = None
        self._state: Any = None
        self._hook: Any = None
        self._loss_sum: Tensor | None = None  # micro-batch losses already normalised
        self._loss_mean: Tensor | None = None  # micro-batch means, averaged at log time
        self._n_mean = 0

    def attach(self, trainer: Any) -> GradtopCallback:
        """Log before ``trainer`` clips (see the module docstring); adds the callback too."""
        accelerator = trainer.accelerator
        original = accelerator.clip_grad_norm_

        def clip_grad_norm_(parameters: Any, max_norm: float, norm_type: float = 2) -> Any:
            parameters = list(parameters)  # may be a generator: read it once
            scaler = getattr(accelerator, "scaler", None)
            if scaler is None or self._logged_this_step or self.logger is None:
                self._log_now()
                return original(parameters, max_norm, norm_type)
            # fp16 with a GradScaler: unscale first so the numbers are the real ones, and
            # keep the original from unscaling twice (GradScaler refuses a second call).
            accelerator.unscale_gradients()
            accelerator.unscale_gradients = _no_unscale  # shadows the method, this object only
            try:
                self._log_now()
                return original(parameters, max_norm, norm_type)
            finally:
                del accelerator.unscale_gradients

        accelerator.clip_grad_norm_ = clip_grad_norm_
        self.pre_clip = True
        if self not in trainer.callback_handler.callbacks:
            trainer.add_callback(self)
        return self

    # ------------------------------------------------------------------ lifecycle

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._close("closed")
        model = kwargs.get("model")
        if not isinstance(model, nn.Module):
            return
        optimizer = kwargs.get("optimizer")
        self._args, self._state = args, state
        options = dict(self.logger_options)
        clip = float(getattr(args, "max_grad_norm", 0.0) or 0.0)
        grads = "pre-clip" if self.pre_clip or clip <= 0 else "post-clip"
        meta = {
            "integration": "hf",
            "grads": grads,
            "max_grad_norm": clip,
            "gradient_accumulation_steps": getattr(args, "gradient_accumulation_steps", 1),
            **(options.pop("meta", None) or {}),
        }
        if clip > 0 and math.isfinite(clip) and _logger_takes("clip_max_norm"):
            # The Trainer clips to max_grad_norm after gradtop logs: the header says so,
            # so the viewer knows the run clips and does not advise clipping.
            options.setdefault("clip_max_norm", clip)
        with caller_hints(grads=grads):  # the header's parallel.grads agrees with meta
            self.logger = Logger(
                self.path,
                model,
                optimizer=_unwrap_optimizer(optimizer),
                every=self.every,
                scaler=getattr(optimizer, "scaler", None),
                meta=meta,
                **options,
            )
        self._hook = model.register_forward_hook(self._on_forward, with_kwargs=True)
        self._reset_loss()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._logged_this_step = False

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._log_now()  # a no-op when attach() already logged this step before clipping

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._close("closed")

    # ------------------------------------------------------------------ internals

    def _log_now(self) -> None:
        if self.logger is None or self._logged_this_step:
            return
        self._logged_this_step = True
        loss = self._loss_sum
        if self._loss_mean is not None:
            mean = self._loss_mean / self._n_mean
            loss = mean if loss is None else loss + mean
        self._reset_loss()
        step = None if self._state is None else int(self._state.global_step) + 1
        self.logger.log(loss, step=step)

    def _on_forward(
        self, module: nn.Module, args: Any, kwargs: dict[str, Any], output: Any
    ) -> None:
        """Collect the training loss the model reports (eval forwards are ignored)."""
        if not module.training or not isinstance(output, Mapping):
            return
        loss = output.get("loss")
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            return
        loss = loss.detach().reshape(())
        if kwargs.get("num_items_in_batch") is not None:
            # Normalised by the whole step's item count: the Trainer sums these, and
            # multiplies by the process count when averaging tokens across devices.
            world = int(getattr(self._args, "world_size", 1) or 1)
            if world > 1 and getattr(self._args, "average_tokens_across_devices", False):
                loss = loss * world
            self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
        else:
            self._loss_mean = loss if self._loss_mean is None else self._loss_mean + loss
            self._n_mean += 1

    def _reset_loss(self) -> None:
        self._loss_sum = None
        self._loss_mean = None
        self._n_mean = 0

    def _close(self, reason: str) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self.logger is not None:
            self.logger.close(reason=reason)
            self.logger = None


def _logger_takes(option: str) -> bool:
    """Whether this gradtop's Logger has keyword ``option`` (added in header format 1.2)."""
    try:
        return option in inspect.signature(Logger).parameters
    except (TypeError, ValueError):
        return False


def _no_unscale(optimizer: Any = None) -> None:
    """Stands in for ``Accelerator.unscale_gradients`` after gradtop already unscaled."""


def _unwrap_optimizer(optimizer: Any) -> Any:
    """Accelerate wraps the torch optimizer; the Logger hooks the real one's steps."""
    seen = 0
    while optimizer is not None and not _is_torch_optimizer(optimizer) and seen < 5:
        optimizer = getattr(optimizer, "optimizer", None)
        seen += 1
    return optimizer if _is_torch_optimizer(optimizer) else None


def _is_torch_optimizer(optimizer: Any) -> bool:
    from torch.optim import Optimizer

    return isinstance(optimizer, Optimizer) and type(optimizer).__name__ != "AcceleratedOptimizer"

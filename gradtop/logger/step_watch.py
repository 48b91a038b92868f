"""What reaches the optimizer: the gradients at ``optimizer.step()``, and whether they
were cleared since the step before.

``log()`` reads the gradients before clipping, as it must to show the real norms. But
what changes the weights is what ``optimizer.step()`` sees: a ``clip_grad_norm_`` with
``max_norm=0`` (or a stray ``p.grad.zero_()``) after ``log()`` leaves normal-looking
statistics and weights that never move. Two measurements, both cheap, close that gap:

* The **step norm**: the total L2 norm of the same gradients after the step. Nothing
  is read when nothing touched them since ``log()``: each gradient is the same tensor
  object with the same autograd version counter (``Tensor._version`` counts in-place
  writes, so clipping, unscaling or zeroing moves it). Then the step norm *is* the
  logged total, at the cost of a Python comparison per tensor. Otherwise (clipping on
  every step, the common case) one extra pass over the gradients measures it.
* **Stale gradients**: a tensor hook on one small parameter runs in the first backward
  after each optimizer step, before autograd adds the new gradient to ``.grad``. If
  ``.grad`` is still the very tensor the step used, unchanged (same object, same
  version), nobody called ``zero_grad()``: the gradients accumulate across steps.
  ``zero_grad(set_to_none=True)`` replaces the object and ``set_to_none=False`` zeroes
  it in place (a new version), so both read as cleared, as does correct accumulation.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from gradtop.logger.reductions import cpu_sumsq

# torch.compiler.is_compiling is torch >= 2.3; torch._dynamo's is the same test before.
_is_compiling = getattr(torch.compiler, "is_compiling", None) or torch._dynamo.is_compiling


class StepWatch:
    """Compares the gradients at ``log()`` with those at the following optimizer step."""

    def __init__(
        self, tensors: Sequence[Tensor], in_optimizer: Sequence[bool], *, sharded: bool
    ) -> None:
        self.tensors = tuple(tensors)
        # Sharded gradients would need a collective for their norm; they report it only
        # when it is known without one (unchanged since log()).
        self.sharded = sharded
        self._at_log: list[Tensor | weakref.ref[Tensor] | None] = []
        self._versions: list[int] = []
        owned = [t for t, ok in zip(self.tensors, in_optimizer, strict=True) if ok]
        # The step norm is of what the optimizer holds: a parameter it does not hold
        # (left out, or another optimizer's) reaches no step of this one.
        self._stepped = tuple(owned)
        self._sentinel: Tensor | None = None
        self._kept: Tensor | None = None
        self._kept_version = -1
        self._armed = False
        self.stale: bool | None = None  # the latest check; None: not known yet
        # The check made in the backward before the latest step (``stale`` is reset by
        # that step): what a ``log()`` called after the step reports.
        self.stale_at_step: bool | None = None
        # For ``used_by_last_step``: backwards that reached the sentinel and forwards of
        # the model with autograd on (``count_forwards``), and both counts at the
        # latest step.
        self.backwards = 0
        self.forwards = 0
        self._step_backwards = 0
        self._step_forwards = 0
        self._stepped_once = False
        # The sentinel's gradient as the latest backward left it (while ``stale`` may
        # still turn False: see ``_on_sentinel_grad``).
        self._left: Tensor | None = None
        self._left_version = -1
        self._handles: list[Any] = []
        self._choose_sentinel()

    def _choose_sentinel(self) -> None:
        """Watch the smallest trainable parameter the optimizer holds (its kept gradient
        costs no memory); choose again when it stops being one (frozen, or none was)."""
        owned = [t for t in self._stepped if t.requires_grad and t.numel() > 0]
        if self._sentinel is not None and any(t is self._sentinel for t in owned):
            return
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._kept = self._left = None
        self._armed, self.stale = False, None  # not known until a step is watched again
        self._sentinel = None if self.sharded or not owned else min(owned, key=Tensor.numel)
        if self._sentinel is not None:
            self._handles = [
                self._sentinel.register_hook(self._on_sentinel_grad),
                self._sentinel.register_post_accumulate_grad_hook(self._on_sentinel_accumulated),
            ]

    def hold(self, in_optimizer: Sequence[bool]) -> None:
        """The parameters' roles changed mid-run (a group added, a layer frozen or
        unfrozen): the step norm is of what the optimizer holds now, and the sentinel is
        chosen again if it no longer trains. What log() noted is dropped: it was taken
        under the old roles, so the next step's norm is measured, not assumed."""
        self._stepped = tuple(t for t, ok in zip(self.tensors, in_optimizer, strict=True) if ok)
        self._choose_sentinel()
        self.forget()

    # ------------------------------------------------------------------ at log()

    def remember(self, *, weakly: bool = False) -> None:
        """Note which gradient tensors (and versions) ``log()`` measured. ``weakly``: by
        weak reference, for a note taken before a step that may not be logged at all; a
        strong one would keep every gradient alive through zero_grad() into the next
        forward and backward."""
        grads = [t.grad for t in self.tensors]
        self._versions = [-1 if g is None else g._version for g in grads]
        self._at_log = [None if g is None else weakref.ref(g) for g in grads] if weakly else grads

    def forget(self) -> None:
        """Drop the references taken at ``log()`` (the step has been measured)."""
        self._at_log = []
        self._versions = []

    # ------------------------------------------------------------------ after the step

    def unchanged(self) -> bool:
        """True when every gradient is the one ``log()`` measured, untouched since."""
        if len(self._at_log) != len(self.tensors):
            return False
        for t, noted, version in zip(self.tensors, self._at_log, self._versions, strict=True):
            now = t.grad
            then = noted() if isinstance(noted, weakref.ref) else noted
            if isinstance(noted, weakref.ref) and then is None:  # that gradient is gone
                return False
            if now is not then or (now is not None and now._version != version):
                return False
        return True

    @torch.no_grad()
    def step_sumsq(self, device: torch.device, dtype: torch.dtype) -> Tensor | None:
        """||g||² of the gradients now (after clipping), on ``device``; no host read.

        None when it cannot be known here: sparse or sharded gradients.
        """
        if self.sharded:
            return None
        grads = [t.grad for t in self._stepped if t.grad is not None]
        if any(g.is_sparse for g in grads):
            return None
        groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
        for g in grads:
            if g.numel():
                groups.setdefault((g.device, g.dtype), []).append(g)
        total = torch.zeros((), dtype=dtype, device=device)
        for (dev, dt), group in groups.items():
            acc = torch.float64 if dt == torch.float64 else torch.float32
            if dev.type == "cpu":
                part = torch.stack([cpu_sumsq(g, acc) for g in group]).to(dtype).sum()
            else:
                norms = torch._foreach_norm(group, 2.0, dtype=acc)
                part = torch.stack(norms).to(dtype).square().sum()
            total += part.to(device)
        return total

    def used_by_last_step(self) -> bool:
        """True when ``log()`` comes after ``optimizer.step()``: no backward reached the
        sentinel since the latest step, and its gradient is still the tensor that step
        used, untouched, or no parameter the optimizer holds has a gradient at all (a
        ``zero_grad()`` between the step and ``log()``). A sentinel that never got a
        gradient proves nothing, nor does one that got none in this step while others
        did (a mixture-of-experts layer not chosen): False."""
        sentinel, grad = self._sentinel, self._kept
        if sentinel is None or not self._stepped_once or self.backwards != self._step_backwards:
            return False
        if self.forwards:  # the loop calls the model: no training forward since the step
            return self.forwards == self._step_forwards
        # It calls submodules: the sentinel must prove it (a multi-task head's sentinel
        # that no backward reached is no proof, unless no gradient is left at all).
        if grad is not None and sentinel.grad is grad and grad._version == self._kept_version:
            return True
        return self.backwards > 0 and self.no_gradients()

    def count_forwards(self, model: torch.nn.Module) -> None:
        """Count the model's forwards that autograd records (evaluation under no_grad()
        does not count): a forward since the step means log() is about a new batch."""
        if self._sentinel is not None:
            self._handles.append(model.register_forward_pre_hook(self._on_forward))

    def _on_forward(self, *_: Any) -> None:
        # Traced by torch.compile, a counter it reads would be a guard that recompiles
        # the model on every call (and a graph break fails fullgraph=True): compiled
        # forwards are not counted, and the sentinel decides for them.
        if _is_compiling():
            return
        if torch.is_grad_enabled():
            self.forwards += 1

    def no_gradients(self) -> bool:
        """No parameter the optimizer holds has a gradient now."""
        return all(t.grad is None for t in self._stepped)

    def after_step(self) -> None:
        """Every optimizer step: arm the stale-gradient check for the next backward."""
        sentinel = self._sentinel
        if sentinel is None:
            return
        self._step_backwards = self.backwards
        self._step_forwards = self.forwards
        self._stepped_once = True
        self.stale_at_step = self.stale
        self._left = None
        self._kept = sentinel.grad
        self._kept_version = -1 if self._kept is None else self._kept._version
        self._armed = self._kept is not None
        self.stale = None  # until the next backward reaches the sentinel

    def _on_sentinel_grad(self, grad: Tensor) -> None:
        """Autograd calls this with the incoming gradient, before adding it to ``.grad``.

        The first backward after a step decides: the step's gradient still there,
        untouched, is stale. A later backward before the next step may still find it
        cleared since the backward before (set to None, replaced, zeroed in place): then
        the gradients were cleared after all, only later. A GAN's generator loss flows
        through the discriminator after the discriminator's step, and its zero_grad()
        comes after that; accumulation onto an uncleared gradient leaves it as the
        previous backward left it, so it stays stale."""
        self.backwards += 1
        if not self._armed:
            return
        now = self._sentinel.grad if self._sentinel is not None else None
        if self.stale is None:  # the first backward since the step
            kept, self._kept = self._kept, None
            self.stale = now is not None and now is kept and now._version == self._kept_version
            if self.stale and now is not None and now.device.type == "cpu" and not now.any():
                # Zeroed through ``.data`` (old tutorials: ``p.grad.data.zero_()``), which
                # leaves the version counter alone: all zero is cleared. On an accelerator
                # this read would stall the backward, so there it is not made.
                self.stale = False
        elif now is None or now is not self._left or now._version != self._left_version:
            self.stale = False
        if not self.stale:  # cleared: nothing later can make it stale
            self._armed = False
            self._left = None

    def _on_sentinel_accumulated(self, param: Tensor) -> None:
        """After autograd added a backward's gradient: what the next backward compares."""
        if self._armed and self.stale:
            self._left = param.grad
            self._left_version = -1 if param.grad is None else param.grad._version

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._kept = self._left = None
        self.forget()

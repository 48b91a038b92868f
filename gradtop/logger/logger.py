"""``gradtop.Logger``: per-parameter gradient health from a training loop, to a JSONL file.

The training thread does only device work: fused statistics (gradtop.logger.stats), an
optional parameter snapshot around ``optimizer.step()`` (gradtop.logger.update) and one
asynchronous device-to-host copy per logged step. Waiting for that copy, finalising,
encoding and writing happen on a background thread (gradtop.logger.writer).

Promises to the training loop: it never raises (after construction), never blocks on
I/O, and on calls that ``every`` skips it does nothing but count.

Cadence: every logged step measures what the live view and the fast rules need at once
(per-parameter gradient L2 norm and max |g|, NaN/Inf counts, loss, lr, loss scale);
the slower-moving statistics (weight norm, zero fraction, update ratio) only every
``detail_every``-th logged step, the first one, and the one after a non-finite step.
They cost more passes over the parameters than everything else together (on CPU,
docs/performance.md), and the diagnosis reads them as trends over tens of steps.

Under torch.distributed (gradtop.logger.parallel, docs/distributed.md): with replicated
parameters (DDP) only rank 0 works and writes; with sharded (DTensor) parameters every
rank computes its shards' partial statistics and the ranks reduce them with two
collectives per logged step, issued on the training thread at the same point on every
rank (the optimizer's post-step hook, or the next ``log()`` if no step came). ``close()``
never runs a collective.
"""

from __future__ import annotations

import atexit
import functools
import json
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn

from gradtop.logger import parallel
from gradtop.logger.cadence import DetailCadence
from gradtop.logger.finalise import PackSpec, StepMeta, render_step
from gradtop.logger.layout import HIST_EDGES, Row, StepLayout
from gradtop.logger.model_info import (
    command_line,
    describe,
    host_and_pid,
    optimizer_meta,
    rank_and_world,
    run_name,
)
from gradtop.logger.sharded import ReductionFailed, ShardReducer
from gradtop.logger.stats import Partials, StatsEngine
from gradtop.logger.step_watch import StepWatch
from gradtop.logger.update import UpdateTracker
from gradtop.logger.writer import EndJob, RecordWriter, WarnOnce
from gradtop.records import PARAM_STATS, UPDATE_RATIO, Header, encode_record, utf8_safe_text

_OPEN: set[Logger] = set()


@atexit.register
def _close_all() -> None:
    """Flush and close loggers the script forgot to close (or that an exception skipped)."""
    for logger in list(_OPEN):
        logger.close(reason="exit")


@dataclass
class _Pending:
    """A logged step whose numbers are still on the device."""

    meta: StepMeta
    partials: Partials | None  # None: this rank failed locally (sharded: still reduces)
    device_values: list[Tensor] = field(default_factory=list)
    hist: bool = False
    detail: bool = True  # weights, zero counts and update measured on this step
    feedback: bool = False  # the writer reports NaN/Inf (only the device knew)
    # With an update tracker the weights are measured during its snapshot (owned
    # parameters) and at log() time (the rest); None until then.
    weight_owned: Tensor | None = None
    weight_other: Tensor | None = None
    # Training-thread seconds spent on this step in sections already finished (log(),
    # the pre-step hook); the record adds the section that packs it (Logger._emit).
    cost: float = 0.0


class Logger:
    """Append per-parameter gradient statistics of ``model`` to a JSONL file.

    Call :meth:`log` once per optimizer step, after ``loss.backward()`` (and after
    ``scaler.unscale_(optimizer)`` under AMP) and *before* gradient clipping and
    ``optimizer.step()``; then :meth:`close` (or use ``with``).
    Called after ``optimizer.step()`` instead, each record still describes the step
    it follows (the order is told apart once, with a warning): its norms are then the
    ones after clipping, and its first record has no step norm or update ratio.

    Args:
        path: the JSONL file; created (with parent directories) or appended to. Appending
            starts a new run with its own header.
        model: the module whose parameters are watched, in registration (depth) order.
        optimizer: enables ``lr``, ``in_optimizer`` and the update/weight ratio.
        every: log every N-th call of :meth:`log` (the first call is always logged);
            skipped calls cost a counter increment.
        scaler: a ``torch.amp.GradScaler``; its loss scale is recorded.
        update_ratio: measure ``||Δw|| / ||w||`` over the optimizer step that follows
            each detail step. Costs one persistent copy of the optimizer's parameters on
            their device (memory equal to the trainable parameters) plus a copy before
            and a diff after those optimizer steps.
        hist: also record a log10|g| histogram per parameter (bins: ``HIST_EDGES``). Off by
            default: it costs several kernels per parameter tensor.
        hist_every: with ``hist``, record the histogram on every N-th logged step.
        detail_every: measure the slow statistics (weight_norm, zero_frac and
            update_ratio, with its parameter snapshot) on every N-th logged step, on the
            first, and on the one after a step with NaN/Inf gradients; other steps write
            them as null. 1: everything on every step, at 2-3x the cost on CPU
            (docs/performance.md has the figures).
        meta: free-form JSON metadata stored in the header.
        name: a name a person reads ("relu-fix"): the viewer shows it and ``gradtop check
            --run`` takes it. The header also records the script and its arguments
            (``sys.argv``, bounded in length; format 1.4).
        clip_max_norm: the ``max_norm`` your loop clips gradients to, if any, so that no
            fix proposes clipping again (the framework callbacks pass theirs). What
            clipping really did is measured either way: each step records the norm that
            reached ``optimizer.step()``.
        fsync: ``os.fsync`` after every record (only protects against power loss).
        queue_size: records that may wait for the writer before new ones are dropped.
        flush_interval: seconds between the writer thread's wake-ups; it also wakes when
            32 records wait. The training thread never wakes it per step. A ``kill -9``
            loses at most the records of the last ``flush_interval`` seconds (at most 32
            while the writer keeps up, ``queue_size`` if it fell behind); ``close()`` and
            interpreter exit write everything.
        close_timeout: seconds :meth:`close` (and interpreter exit) waits at most for the
            writer to finish. Only a file that takes no writes makes it wait that long (a
            FIFO nobody reads, a hung network file system); the records still waiting
            then are lost, and the warning says how many.

    Under torch.distributed rank 0 writes. With replicated parameters (DDP: gradients
    are identical on every rank after backward) the logger on other ranks is a no-op;
    pass the DDP module itself to have ``log()`` calls inside ``no_sync()`` refused. With
    sharded parameters (FSDP2, tensor parallel: DTensors) every rank must call ``log()``
    and ``close()`` at the same points: each logged step runs two small all-reduces.

    Attributes:
        run_id: the run's id in the file.
        cost_s: seconds the training thread has spent inside gradtop so far (``log()``
            and the optimizer step hooks); the writer thread's work is not included.
            Each step record carries its own share as ``logger_time`` (format 1.3).
        dropped: records lost so far (queue full, I/O failure, internal error, or not
            written within ``close_timeout``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        model: nn.Module,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        every: int = 1,
        scaler: Any = None,
        update_ratio: bool = True,
        hist: bool = False,
        hist_every: int = 10,
        detail_every: int = 10,
        meta: dict[str, Any] | None = None,
        name: str | None = None,
        fsync: bool = False,
        queue_size: int = 256,
        flush_interval: float = 0.5,
        clip_max_norm: float | None = None,
        close_timeout: float = 10.0,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
        if int(every) < 1 or int(hist_every) < 1 or int(detail_every) < 1:
            raise ValueError("every, hist_every and detail_every must be >= 1")
        if not 0 <= float(close_timeout) < math.inf:
            raise ValueError("close_timeout must be a finite number of seconds >= 0")
        if not 0 < float(flush_interval) < math.inf:
            raise ValueError("flush_interval must be a finite number of seconds > 0")
        self.name = run_name(name)
        self.close_timeout = float(close_timeout)
        self.path = os.fspath(path)
        self.every = int(every)
        self.hist = bool(hist)
        self.hist_every = int(hist_every)
        self.detail_every = int(detail_every)
        self._cadence = DetailCadence(self.detail_every)
        self._step_detail = True  # the current logged step's decision
        self.scaler = scaler
        self.optimizer = optimizer
        self._warn = WarnOnce()
        self._calls = 0
        self._logged = 0
        self._seq = 0
        self._last_perf: float | None = None
        self._last_calls = 0
        self._pending: _Pending | None = None
        self._hooks: list[Any] = []
        self._closed = False
        # Seconds the training thread spent inside gradtop (log() and the step hooks).
        self.cost_s = 0.0
        self._section_start = 0.0  # when the timed section now running began
        self._pid = os.getpid()
        self._writer: RecordWriter | None = None
        self._tracker: UpdateTracker | None = None
        self._watch: StepWatch | None = None
        self._other_index: tuple[int, ...] = ()
        self._in_step = False  # between the optimizer's pre- and post-step hooks
        # The latest logged call came after optimizer.step() (StepWatch.used_by_last_step):
        # the step hooks then take, around each step, what the next log() will record.
        self._after_step_order = False
        self._step_weights: Tensor | None = None  # owned ||w||² from that step's snapshot
        self._step_update: Tensor | None = None  # and ||Δw||² over it
        self._step_cost = 0.0  # the hooks' seconds for that record
        # A step prepared for a log() after it had none: the loop logs only some steps
        # (``if i % 10 == 0: log.log()``), so steps are not prepared until one is logged.
        self._prepared_unlogged = False
        # The learning rates and loss scale the latest step used, for a log() after it: a
        # scheduler or scaler.update() in between changes them (None: not taken).
        self._step_lrs: list[Any] | None = None
        self._step_scale: list[Any] | None = None  # [scale]: the scale may itself be None
        # Parameter groups at the latest look: one added (add_param_group) is followed.
        self._groups = 0 if optimizer is None else len(optimizer.param_groups)
        self._update_ratio = bool(update_ratio)
        # The loop was seen logging after the step, and no step has since followed its
        # log() directly. Then a record logged with no step since its backward (a
        # GradScaler skipped that step) is not the next step's: the backwards counted
        # at its log() tell (``_before_step``).
        self._after_step_loop = False
        self._log_backwards = 0
        self._reduce_failed = False
        self.run_id = uuid.uuid4().hex
        rank, world = rank_and_world()
        # DDP's no_sync() leaves gradients rank-local; log() asks the wrapper (if given).
        self._ddp = model if hasattr(model, "require_backward_grad_sync") else None
        self._sharded = parallel.is_sharded(model)
        self.active = rank == 0 or self._sharded
        if not self.active:
            return  # DDP rank != 0: nothing to compute, nothing to write
        info = describe(model, optimizer)
        # The roles each record states where they differ from the header's (format 1.5):
        # a layer unfrozen, a group added to the optimizer. None: the header's.
        self._grads_now = tuple(p.requires_grad for p in info.params)
        self._owned_now = tuple(bool(p.in_optimizer) for p in info.params)
        self._roles_grads: tuple[bool, ...] | None = None
        self._roles_owned: tuple[bool, ...] | None = None
        layout = parallel.detect(model, info.tensors, rank, world)
        self._engine = StatsEngine(info.tensors, sharded=self._sharded)
        if optimizer is not None and update_ratio:
            owned = [bool(p.in_optimizer) for p in info.params]
            tracker = UpdateTracker(
                info.tensors,
                owned,
                self._engine.device,
                self._engine.dtype,
                sharded=self._sharded,
            )
            if tracker:
                self._tracker = tracker
                self._init_weight_scatter(tracker.index, len(info.params))
        if optimizer is not None:
            in_opt = [bool(p.in_optimizer) for p in info.params]
            self._watch = StepWatch(info.tensors, in_opt, sharded=self._sharded)
            self._watch.count_forwards(model)
        if self._sharded:
            keep = parallel.count_once_mask(info.tensors, rank)
            owned_index = None if self._tracker is None else self._tracker.index
            # The reducer reports through the WarnOnce, not a bound method of ours: that
            # would be a Logger <-> reducer cycle, and a closed Logger (with the update
            # tracker's full parameter copy) would live on until the cycle collector ran.
            report = functools.partial(_report_internal, self._warn)
            self._reducer = ShardReducer(keep, owned_index, self._engine, report)
        host, pid = host_and_pid()
        self.header = Header(
            run_id=self.run_id,
            time=time.time(),
            params=info.params,
            host=host,
            pid=pid,
            rank=rank,
            world_size=world,
            parallel=layout.parallel,
            model=info.model,
            total_params=info.total_params,
            trainable_params=info.trainable_params,
            activations=info.activations,
            norms=info.norms,
            attention=info.attention,
            residual=info.residual,
            tied=info.tied,
            precision=info.precision,
            clip_max_norm=_positive_or_none(clip_max_norm),
            optimizer=None if optimizer is None else type(optimizer).__name__,
            every=self.every,
            detail_every=self.detail_every,
            stats=tuple(s for s in PARAM_STATS if s != UPDATE_RATIO or self._tracker),
            hist_edges=HIST_EDGES if self.hist else None,
            meta=_json_safe({**optimizer_meta(optimizer), **(meta or {})}),
            name=self.name,
            argv=command_line(),
        )
        bad_names = [p.name for p in info.params if not utf8_safe_text(p.name)]
        if bad_names:
            self._warn(
                "names",
                f"{len(bad_names)} parameter name(s) hold characters UTF-8 cannot encode "
                f"(lone surrogates), e.g. {bad_names[0]!a}; they are written with "
                "backslash escapes",
            )
        updated = None if self._tracker is None else self._tracker.index
        stepped = tuple(i for i, p in enumerate(info.params) if p.in_optimizer)
        all_stepped = len(stepped) == len(info.params)
        self._spec = PackSpec(
            self.run_id, self._engine.numels, updated, None if all_stepped else stepped
        )
        if rank == 0:  # sharded ranks != 0 compute and reduce, but never write
            header = encode_record(self.header.to_json())
            self._writer = RecordWriter(
                self.path,
                header,
                self._warn,
                fsync=fsync,
                maxsize=queue_size,
                interval=float(flush_interval),
            )
            self._writer.open_now()
        if optimizer is not None:
            # Every logged step waits for the step: the norm that reached it (StepWatch),
            # and on detail steps the update around it (UpdateTracker).
            self._hooks = [
                optimizer.register_step_pre_hook(self._before_step),
                optimizer.register_step_post_hook(self._after_step),
            ]
        _OPEN.add(self)

    # ------------------------------------------------------------------ public API

    def log(self, loss: Any = None, *, step: int | None = None, **scalars: Any) -> None:
        """Record this step's gradients (call after backward, before clipping/step).

        ``loss`` and ``scalars`` may be Python numbers or one-element tensors; tensors on
        an accelerator are read with the statistics, in the same single transfer.
        ``step`` overrides the logger's own count of calls.
        """
        if self._ddp is not None and not getattr(self._ddp, "require_backward_grad_sync", True):
            if self.active:
                self._warn(
                    "no_sync",
                    "log() called inside DDP no_sync(): gradients there are local to each "
                    "rank; call it after the synchronising backward (this call is skipped)",
                )
            return
        self._calls += 1
        if self._pending is not None:  # no optimizer step since the last logged call
            self._section_start = time.perf_counter()
            self._flush_pending()
        if not self.active or self._closed or self._reduce_failed:
            return
        if (self._calls - 1) % self.every:
            return
        start = self._section_start = time.perf_counter()
        try:
            self._log_step(loss, step, scalars)
        except Exception as exc:
            # Sharded: the other ranks will reduce, so join them, with NaNs; the step is
            # then written (as NaN), not lost.
            self._internal_error(exc, lost=not self._sharded)
            if self._sharded:
                self._join_failed_step()
        self._spent(start)

    def _spent(self, start: float) -> None:
        """Count a timed section's seconds, in total and for the step still pending."""
        elapsed = time.perf_counter() - start
        self.cost_s += elapsed
        if self._pending is not None:
            self._pending.cost += elapsed

    def close(self, reason: str = "closed") -> None:
        """Flush queued records, write the ``end`` record and release the file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        _OPEN.discard(self)
        if os.getpid() != self._pid:  # a forked child (DataLoader worker) owns nothing
            return
        try:
            if self._pending is not None:
                if self._sharded:  # a collective at close could hang: drop, and count it
                    self._pending = None
                    self._count_lost()
                else:
                    self._section_start = time.perf_counter()
                    self._flush_pending()
            for handle in self._hooks:
                handle.remove()
            self._hooks = []
            if self._watch is not None:
                self._watch.close()
            self._step_update = self._step_weights = None
            if self._writer is not None:
                end = EndJob(self.run_id, self._seq + 1, time.time(), self._logged, reason)
                self._writer.close(end, timeout=self.close_timeout)
        except Exception as exc:
            self._internal_error(exc)

    def __enter__(self) -> Logger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(reason="closed" if exc_type is None else "exception")

    @property
    def dropped(self) -> int:
        """Records lost so far (queue full, I/O failure, an internal error, or still
        unwritten when ``close()`` gave up after ``close_timeout``)."""
        writer = self._writer
        if writer is None:
            return 0
        return writer.dropped_full + writer.dropped_io + writer.lost_at_close

    # ------------------------------------------------------------------ training thread

    def _log_step(self, loss: Any, step: int | None, scalars: dict[str, Any]) -> None:
        now = time.time()
        perf = time.perf_counter()
        step_time = None
        if self._last_perf is not None:
            step_time = (perf - self._last_perf) / (self._calls - self._last_calls)
        self._last_perf, self._last_calls = perf, self._calls
        self._logged += 1
        self._seq += 1
        detail = self._step_detail = self._cadence.decide(self._logged)
        want_hist = self.hist and (self._logged - 1) % self.hist_every == 0
        if detail:  # a few hundred attribute reads: only where the weights are read too
            self._follow_roles()
        tracker = self._tracker
        meta = StepMeta(
            seq=self._seq,
            step=self._calls if step is None else int(step),
            time=now,
            step_time=step_time,
        )
        watch = self._watch
        if watch is not None:
            after = watch.used_by_last_step()
            if after and not self._after_step_order and watch.no_gradients():
                self._warn(
                    "cleared",
                    "log() found no gradients: they were cleared (zero_grad()) after "
                    "optimizer.step() and before log(); call log() after backward(), "
                    "before zero_grad()",
                )
            elif after and not self._after_step_order:
                self._warn(
                    "order",
                    "log() is called after optimizer.step() (no backward() between them): "
                    "each record describes the gradients that step used, after any "
                    "clipping; call log() after backward() and before clipping and "
                    "opt.step() to see the norms before clipping",
                )
            self._after_step_order = after
            self._after_step_loop |= after
            self._log_backwards = watch.backwards
            if after:  # the check made in that step's backward
                meta.grads_stale = watch.stale_at_step
            else:
                meta.grads_stale = watch.stale
                watch.remember()
        partials = self._engine.partials(hist=want_hist, weights=tracker is None, detail=detail)
        if not detail and self._engine.layout_changed:
            # Gradients appeared or went (a layer unfrozen or frozen): no weight or update
            # is measured on this step, so the roles can change under it.
            self._follow_roles()
            tracker = self._tracker
        pending = _Pending(meta, partials, hist=want_hist, detail=detail)
        if not self._sharded:  # sharded: decided from the reduced statistics (_emit)
            seen = self._engine.nonfinite_seen
            pending.feedback = seen is None
            if seen:
                self._cadence.nonfinite_on_training_thread()
        meta.requires_grad, meta.in_optimizer = self._roles_grads, self._roles_owned
        if tracker is not None and detail and self._other_index:
            pending.weight_other = self._engine.weight_row(self._other_index)
        if tracker is not None and detail and self._in_step and not tracker.taken:
            # Called from inside optimizer.step() (Lightning runs the closure, and its
            # on_before_optimizer_step, after the step's pre-hook): snapshot now.
            pending.weight_owned = tracker.snapshot()
        if self._writer is None:  # a sharded rank != 0: its scalars are never written
            self._queue(pending)
            return
        meta.loss = self._scalar(pending, ("loss",), loss)
        scale, lrs = self._loss_scale(), None
        if self.optimizer is not None:
            lrs = [g.get("lr") for g in self.optimizer.param_groups]
        if self._after_step_order:  # what the step used, where the pre-step hook took it
            lrs = lrs if self._step_lrs is None else self._step_lrs
            scale = scale if self._step_scale is None else self._step_scale[0]
        self._step_scale = self._step_lrs = None
        meta.loss_scale = self._scalar(pending, ("loss_scale",), scale)
        if lrs is not None:
            meta.lr = [self._scalar(pending, ("lr", i), lr) for i, lr in enumerate(lrs)]
        for name, value in scalars.items():
            meta.scalars[name] = self._scalar(pending, ("scalar", name), value)
        self._queue(pending)

    def _queue(self, pending: _Pending) -> None:
        if self._watch is None:
            self._emit(pending, None)
        elif self._after_step_order:
            self._finish_after_step(pending)
        else:
            self._pending = pending  # the optimizer's post-step hook completes it

    def _finish_after_step(self, pending: _Pending) -> None:
        """``log()`` after ``optimizer.step()``: the step this record describes is over, so
        it is completed now, from what the step hooks took around that step
        (``_prepare_after_step_record``). What they did not take (the first such step,
        an update on a step the cadence had not foreseen) is written as unknown."""
        watch = self._watch
        assert watch is not None
        self._prepared_unlogged = False  # this step is logged
        # The gradients log() read are the tensors the step used, untouched: their norm
        # is what reached it. No references taken before the step: not known.
        pending.meta.step_same = watch.unchanged()
        watch.forget()
        update, weights = self._step_update, self._step_weights
        self._step_update = self._step_weights = None
        if pending.detail and update is not None:
            pending.weight_owned = weights
        else:
            update = None
        pending.cost += self._step_cost
        self._step_cost = 0.0
        self._complete(pending)
        self._emit(pending, update)

    def _prepare_after_step_record(self) -> None:
        """Pre-step hook while ``log()`` comes after the step: take what the next record
        needs from before the step (the gradients it uses; on a detail step, the weights).

        A loop that logs only some steps cannot say which: after a prepared step that no
        ``log()`` followed, steps are not prepared again until one is logged, and the
        records of such a loop have no step norm or update ratio (not known)."""
        self._step_update = self._step_weights = None
        self._step_cost = 0.0
        watch, tracker = self._watch, self._tracker
        if watch is None or self._closed or self._calls % self.every:
            return  # the next log() call is not a logged one
        if self._prepared_unlogged:
            return
        start = time.perf_counter()
        self._prepared_unlogged = True
        watch.remember(weakly=True)
        scale = self._loss_scale()  # updated in place by scaler.update(): keep a copy
        self._step_scale = [scale.detach().clone() if isinstance(scale, Tensor) else scale]
        if tracker is not None and not tracker.taken and self._cadence.peek(self._logged + 1):
            try:
                self._step_weights = tracker.snapshot()
            except Exception as exc:
                self._internal_error(exc)
        self._step_cost = time.perf_counter() - start
        self.cost_s += self._step_cost

    def _follow_roles(self) -> None:
        """Notice parameters unfrozen (``requires_grad_``) or added to the optimizer
        (``add_param_group``) since the header, and say so in every record from now on.

        Gradual unfreezing does both mid-run; the header alone would have the check
        report those layers as frozen or outside the optimizer for the rest of the run.
        An added group also gets the update ratio and counts in the step norm from the
        step that first updates it. Untimed: it runs inside the callers' timed sections.
        """
        try:
            grads = tuple(t.requires_grad for t in self._engine.tensors)
            owned = self._owned_now
            optimizer = self.optimizer
            if optimizer is not None and len(optimizer.param_groups) != self._groups:
                self._groups = len(optimizer.param_groups)
                held = {id(p) for g in optimizer.param_groups for p in g["params"]}
                owned = tuple(id(t) in held for t in self._engine.tensors)
            if grads == self._grads_now and owned == self._owned_now:
                return  # the usual case: nothing changed since the last look
            if owned != self._owned_now:
                self._hold(owned)
            if self._watch is not None and not self._sharded:
                self._watch.hold(owned)  # what the step norm covers; the sentinel may move
            self._grads_now = grads
            params = self.header.params
            same_grads = grads == tuple(p.requires_grad for p in params)
            same_owned = optimizer is None or owned == tuple(bool(p.in_optimizer) for p in params)
            self._roles_grads = None if same_grads else grads
            self._roles_owned = None if same_owned else owned
            if self._pending is not None:
                meta = self._pending.meta
                meta.requires_grad, meta.in_optimizer = self._roles_grads, self._roles_owned
        except Exception as exc:
            self._internal_error(exc)

    def _hold(self, owned: tuple[bool, ...]) -> None:
        """The optimizer holds ``owned`` now: measure their update and step norm."""
        self._owned_now = owned
        if self._sharded:  # the shard reducer's layout is fixed for the run
            self._warn(
                "groups",
                "the optimizer's parameter groups changed (add_param_group): the records "
                "say which parameters it holds, but under FSDP/DTensor their update ratio "
                "and step norm stay those of the groups it held when the Logger was made",
            )
            return
        # Taken around a step under the old groups, for a log() after it: that record's
        # update and step norm are not known (the new layout cannot hold the old rows).
        self._step_update = self._step_weights = None
        n = len(owned)
        updated = None
        if self._update_ratio:
            engine = self._engine
            tracker = UpdateTracker(engine.tensors, owned, engine.device, engine.dtype)
            self._tracker = tracker if tracker else None
            if tracker:
                self._init_weight_scatter(tracker.index, n)
                updated = tracker.index
            pending = self._pending
            if pending is not None and pending.detail:  # measured for the old groups
                pending.weight_owned = None
                other = self._other_index if tracker else ()
                pending.weight_other = self._engine.weight_row(other) if other else None
        stepped = tuple(i for i in range(n) if owned[i])
        self._spec = PackSpec(
            self.run_id, self._engine.numels, updated, None if len(stepped) == n else stepped
        )

    def _join_failed_step(self) -> None:
        """This rank failed before its statistics existed; it still takes part in the
        step's reduction (with NaNs) at the point the other ranks will, so none hangs."""
        want_hist = self.hist and (self._logged - 1) % self.hist_every == 0
        meta = StepMeta(seq=self._seq, step=self._calls, time=time.time(), step_time=None)
        self._queue(_Pending(meta, None, hist=want_hist, detail=self._step_detail))

    def _scalar(self, pending: _Pending, key: tuple[Any, ...], value: Any) -> float | None:
        """A number now, or None with the tensor queued for the single device transfer."""
        if value is None:
            return None
        if isinstance(value, Tensor):
            t = value.detach()
            t = t.reshape(()) if t.numel() == 1 else t.float().mean()
            # A CPU tensor: no device, no sync (tests force the device path with sync_free).
            if t.device.type == "cpu" and not self._engine.sync_free:
                return float(t)
            pending.meta.device_keys.append(key)
            pending.device_values.append(t)
            return None
        if isinstance(value, bool | int | float):
            return float(value)
        self._warn("scalar", f"ignoring non-numeric value for {key[-1]!r}: {type(value).__name__}")
        return None

    def _loss_scale(self) -> Any:
        scaler = self.scaler
        if scaler is None or not getattr(scaler, "is_enabled", lambda: True)():
            return None
        # GradScaler.get_scale() calls .item() (a sync on GPU); its tensor is read with
        # the statistics instead. ``_scale`` is None until the first scaler.scale().
        scale = getattr(scaler, "_scale", None)
        if isinstance(scale, Tensor):
            return scale
        return None if scale is None else scaler.get_scale()

    def _before_step(self, *_: Any) -> None:
        self._in_step = True
        optimizer = self.optimizer
        if optimizer is not None and len(optimizer.param_groups) != self._groups:
            start = time.perf_counter()
            self._follow_roles()  # before the snapshot: it is of what this step updates
            self._spent(start)
        self._step_update = self._step_weights = None  # only ever the latest step's
        if self.optimizer is not None and not self._calls % self.every:
            # A few dict reads: the rates a log() after this step must record.
            self._step_lrs = [g.get("lr") for g in self.optimizer.param_groups]
        pending, tracker = self._pending, self._tracker
        if pending is None and self._after_step_order:
            self._prepare_after_step_record()
            return
        watch = self._watch
        if (
            pending is not None
            and watch is not None
            and self._after_step_loop
            and watch.backwards != self._log_backwards
        ):
            # A loop that logs after the step, whose previous step never came: this step
            # follows a later backward, so that record goes out without a step, and this
            # step is prepared for the log() that follows it.
            self._section_start = start = time.perf_counter()
            self._flush_pending()
            self.cost_s += time.perf_counter() - start
            self._after_step_order = True
            self._prepare_after_step_record()
            return
        if pending is None or not pending.detail or tracker is None or tracker.taken:
            return
        start = time.perf_counter()
        try:
            pending.weight_owned = tracker.snapshot()
        except Exception as exc:
            self._internal_error(exc)
        self._spent(start)

    def _after_step(self, *_: Any) -> None:
        self._in_step = False
        if self._watch is not None:
            self._watch.after_step()  # every step, logged or not: a few attribute reads
        if self._pending is None:
            tracker = self._tracker
            if self._after_step_order and tracker is not None and tracker.taken:
                start = time.perf_counter()
                try:
                    self._step_update = tracker.delta_sumsq()
                except Exception as exc:
                    self._internal_error(exc)
                elapsed = time.perf_counter() - start
                self._step_cost += elapsed
                self.cost_s += elapsed
            return
        start = self._section_start = time.perf_counter()
        pending, self._pending = self._pending, None
        if self._watch is not None and self._watch.backwards == self._log_backwards:
            self._after_step_loop = False  # this step followed its log() directly
        tracker = self._tracker
        update = None
        if tracker is not None and tracker.taken:
            try:
                update = tracker.delta_sumsq()
            except Exception as exc:
                self._internal_error(exc)
        try:
            self._complete(pending)
            self._measure_step_norm(pending)
            self._emit(pending, update)
        except Exception as exc:
            self._internal_error(exc, lost=True)
        self.cost_s += time.perf_counter() - start

    def _measure_step_norm(self, pending: _Pending) -> None:
        """The norm of what reached ``optimizer.step()`` (after clipping), read only when
        something touched the gradients since ``log()``; see gradtop.logger.step_watch."""
        watch = self._watch
        assert watch is not None
        # GradScaler unscales in place without moving the version counters: with a
        # scaler, "untouched since log()" cannot be proved, so the norm is measured.
        if self.scaler is None and watch.unchanged():
            pending.meta.step_same = True
        else:
            engine = self._engine
            sumsq = watch.step_sumsq(engine.device, engine.dtype)
            if sumsq is not None and sumsq.device.type == "cpu":
                pending.meta.step_grad_norm = float(sumsq.sqrt())  # CPU: no sync
            elif sumsq is not None:
                pending.meta.device_keys.append(("step_grad_norm",))
                pending.device_values.append(sumsq.sqrt())
        watch.forget()

    def _complete(self, pending: _Pending) -> None:
        """A detail step's weights, when the snapshot did not measure them."""
        tracker = self._tracker
        if (
            pending.detail
            and tracker is not None
            and pending.weight_owned is None
            and pending.partials is not None
        ):
            pending.weight_owned = tracker.weight_sumsq()

    def _flush_pending(self) -> None:
        """No optimizer step followed the logged step: it goes out without a step norm."""
        pending, self._pending = self._pending, None
        if self._tracker is not None:
            self._tracker.taken = False
        if self._watch is not None:
            self._watch.forget()
        if pending is not None:
            try:
                self._complete(pending)
                self._emit(pending, None)
            except Exception as exc:
                self._internal_error(exc, lost=True)

    def _emit(self, pending: _Pending, update: Tensor | None) -> None:
        """Pack everything into one vector and start its only device-to-host copy."""
        engine = self._engine
        if pending.partials is not None and pending.partials.weight is None:
            pending.partials.weight = self._weight_row(pending)
        # The sections of gradtop.logger.layout.StepLayout, in order: SUM, MAX, scalars.
        if self._sharded:
            reduced = self._reduce(pending, update)
            if reduced is not None:
                self._note_reduced_nonfinite(reduced[0])
            if reduced is None or self._writer is None:
                return  # failed (warned, counted), or a rank that does not write
            parts = list(reduced)
            has_hist = pending.hist
        else:
            assert pending.partials is not None
            parts = pending.partials.sum_pieces(update) + pending.partials.max_pieces()
            has_hist = pending.partials.hist is not None
        if pending.device_values:
            parts.append(
                torch.stack([v.to(engine.device, engine.dtype) for v in pending.device_values])
            )
        packed = torch.cat(parts)
        host, ready = _to_host(packed)
        pending.partials = None  # free device memory early
        pending.device_values = []
        # The Logger's own cost of this step, up to here (what follows is a few
        # attribute reads and the hand-over to the writer).
        pending.meta.logger_time = pending.cost + (time.perf_counter() - self._section_start)
        has_update = update is not None
        job = functools.partial(
            self._render,
            self._spec,  # as of this step: a group added later changes the Logger's
            pending.meta,
            host,
            ready,
            hist=has_hist,
            update=has_update,
            detail=pending.detail,
            feedback=pending.feedback,
        )
        if self._writer is not None:
            self._writer.submit(job)

    def _note_reduced_nonfinite(self, sums: Tensor) -> None:
        """Sharded: NaN/Inf in the reduced sums of squares (the same on every rank) makes
        the next logged step a detail step on every rank. Only on CPU (gloo): reading a
        device value would stall the training thread, so accelerators skip this."""
        sumsq = sums[StepLayout(len(self._engine.numels)).row(Row.GRAD_SUMSQ)]
        if sumsq.device.type == "cpu" and not bool(torch.isfinite(sumsq).all()):
            self._cadence.nonfinite_on_training_thread()

    def _init_weight_scatter(self, owned: tuple[int, ...], n: int) -> None:
        """Where the tracker's rows go in the header's order (usually: nowhere to move)."""
        self._other_index = tuple(i for i in range(n) if i not in set(owned))
        self._weight_in_order = owned == tuple(range(n))
        device = self._engine.device
        self._owned_t = torch.tensor(owned, dtype=torch.long, device=device)
        self._other_t = torch.tensor(self._other_index, dtype=torch.long, device=device)

    def _weight_row(self, pending: _Pending) -> Tensor:
        owned = pending.weight_owned
        assert owned is not None
        if self._weight_in_order:
            return owned
        engine = self._engine
        row = torch.zeros(len(engine.tensors), dtype=engine.dtype, device=engine.device)
        row.index_copy_(0, self._owned_t, owned)
        if pending.weight_other is not None:
            row.index_copy_(0, self._other_t, pending.weight_other)
        return row

    def _reduce(self, pending: _Pending, update: Tensor | None) -> tuple[Tensor, Tensor] | None:
        """Every rank runs exactly this: its pieces in, everyone's SUM and MAX sections
        out (or None)."""
        n_update = 0 if update is None or self._tracker is None else len(self._tracker.index)
        try:
            return self._reducer.reduce(pending.partials, pending.hist, update, n_update)
        except ReductionFailed as exc:
            self._reduce_failed = True
            self._count_lost()
            self._warn(
                "distributed",
                f"distributed reduction failed ({exc}); gradtop stops logging on this rank "
                "(a peer died or the process group timed out)",
            )
            return None

    def _count_lost(self) -> None:
        if self._writer is not None:
            self._writer.dropped_full += 1

    def _internal_error(self, exc: Exception, lost: bool = False) -> None:
        """A bug or an unsupported setup inside gradtop: warn once, never raise."""
        if lost:
            self._count_lost()
        _report_internal(self._warn, exc)

    # ------------------------------------------------------------------ writer thread

    def _render(
        self,
        spec: PackSpec,
        meta: StepMeta,
        host: Tensor,
        ready: Any,
        *,
        hist: bool,
        update: bool,
        detail: bool,
        feedback: bool,
    ) -> bytes:
        if ready is not None:
            ready.synchronize()  # waits on the writer thread, never on the training thread
        values = host.tolist()
        sumsq = values[StepLayout(len(spec.numels)).row(Row.GRAD_SUMSQ)]
        if feedback and not all(map(math.isfinite, sumsq)):
            # Only the device knew: the next logged step after this one is a detail step.
            self._cadence.nonfinite_on_writer_thread()
        return render_step(values, meta, spec, hist, update, detail=detail)


def _report_internal(warn: WarnOnce, exc: Exception) -> None:
    warn("internal", f"logging failed and was skipped ({type(exc).__name__}: {exc})")


def _to_host(packed: Tensor) -> tuple[Tensor, Any]:
    """Start the one device-to-host copy of a logged step; return (host tensor, event).

    CPU: nothing to copy. CUDA: a non-blocking copy into pinned memory plus an event the
    writer thread waits on, so the training thread never synchronises. Other devices:
    a blocking copy (a sync point), since their event APIs differ.
    """
    if packed.device.type == "cpu":
        return packed, None
    if packed.device.type == "cuda":
        host = packed.to("cpu", non_blocking=True)  # pinned destination, returns at once
        event = torch.cuda.Event()
        event.record(torch.cuda.current_stream(packed.device))
        return host, event
    return packed.cpu(), None  # sync point (MPS/XPU/...)


def _positive_or_none(value: Any) -> float | None:
    """A configured max_norm: a positive finite number, else None (0 or inf: no clip)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _json_safe(meta: dict[str, Any]) -> dict[str, Any]:
    """User metadata as plain JSON (paths, dtypes, ... become strings)."""
    try:
        result = json.loads(json.dumps(dict(meta), default=str))
    except (TypeError, ValueError):
        return {"meta": str(meta)[:1000]}
    return result if isinstance(result, dict) else {}

"""Every number the diagnosis rules compare against, in one frozen, overridable place.

Each default is documented and sourced in ``docs/diagnosis.md`` ([src] from a paper or
code, [demo] measured on the small CPU scenarios of ``gradtop.demos.scenarios``,
[proposal] chosen by us from that evidence). Windows and persistence counts are in
*logged* steps (records), not optimizer steps: with ``Logger(every=10)`` a persistence
of 30 means 300 optimizer steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Defaults are the documented ones; override with ``Thresholds(name=value)``."""

    # --- evaluation machinery
    window: int = 256  # logged steps each evaluation looks back over
    eval_every: int = 4  # re-evaluate at most every N new logged steps
    min_steps: int = 10  # logged steps before any trend rule may fire

    # --- vanishing (depth ratio R = g_rms(first weight layer) / g_rms(last hidden))
    vanishing_ratio: float = 1e-3
    vanishing_critical_ratio: float = 1e-6
    vanishing_update_ratio: float = 1e-5  # the sick layer's ||dw||/||w|| must also be tiny
    vanishing_persist: int = 30
    adam_eps: float = 1e-8  # used when the header does not say
    adam_eps_factor: float = 10.0  # with Adam: warn when g_rms < factor * eps
    converged_loss_frac: float = 0.1  # loss below this fraction of the initial: it learned

    # --- exploding
    exploding_ratio: float = 1e3  # depth ratio above this: gradients grow toward the input
    exploding_persist: int = 10
    exploding_clear: int = 50  # calm steps before an explosion counts as over
    growth_factor: float = 10.0  # the typical grad norm rising this much within the window
    growth_median: int = 5  # rows of the rolling median that makes the norm "typical"
    growth_persist: int = 2
    growth_loss_rise: float = 0.2  # ...while the smoothed loss is this fraction above its min
    growth_loss_abs: float = 0.05  # ...and above it by at least this fraction of the initial
    growth_min_ref: float = 1.0  # ...and the median norm is above this x the reference
    reference_steps: int = 10  # the reference norm: median total norm of the first rows
    huge_grad_norm: float = 1e5  # absolute fallback: total grad norm
    huge_loss: float = 1e8  # absolute fallback: loss
    spike_ratio: float = 10.0  # grad norm vs rolling median
    spike_z: float = 3.0  # robust z-score (median/MAD of log10 norm)
    spike_window: int = 128
    spike_warmup: int = 25
    spike_hold: int = 50  # a spike finding clears after this many calm steps
    spike_min_ref: float = 0.1  # a spike must reach this fraction of the reference norm

    # --- non-finite values
    nonfinite_clear: int = 100
    amp_overflow_max: int = 10  # overflow steps within amp_window after calibration
    amp_window: int = 100
    amp_min_scale: float = 1.0

    # --- dead units / all-zero gradients
    dead_info: float = 0.2
    dead_warning: float = 0.4
    dead_critical: float = 0.7  # or a whole layer with exactly zero gradient
    dead_persist: int = 20
    zero_loss: float = 1e-7  # every gradient 0 and loss below this: converged, not dead

    # --- fp16 without loss scaling
    fp16_tiny_rms: float = 1e-4  # median weight-matrix gradient RMS below this (fp16's
    # smallest normal number is 6.1e-5, its smallest subnormal 6e-8)...
    fp16_zero_frac: float = 0.05  # ...and at least this fraction of entries exactly 0
    fp16_persist: int = 10

    # --- missing gradients
    no_grad_persist: int = 3

    # --- learning rate (median update/weight ratio over weight matrices)
    lr_high_ratio: float = 1e-2
    lr_high_critical_ratio: float = 1e-1
    lr_low_ratio: float = 1e-4
    lr_persist: int = 30
    lr_high_persist: int = 5  # updates above lr_high_critical_ratio: dangerous at once
    lr_low_spread: float = 100.0  # too low only if the largest hidden ratio is < this x median
    lr_window: int = 50  # loss progress is measured over this many logged steps
    lr_low_max_drop: float = 0.1  # "barely moving": loss fell less than this fraction
    lr_low_min_remaining: float = 0.5  # ...and is still above this fraction of the initial
    lr_anneal_frac: float = 0.3  # lr below this fraction of its peak: annealing, not "too low"

    # --- what reaches the optimizer (step records of format 1.2)
    no_update_factor: float = 1e-6  # step norm below this x the logged norm: nothing arrives
    no_update_persist: int = 3
    unchanged_measurements: int = 2  # detail steps with bit-identical weights
    over_clip_factor: float = 0.01  # clipping shrinks every step more than 100x...
    over_clip_persist: int = 20  # ...for this many rows while the loss stalls
    stale_persist: int = 3  # steps whose gradients were never cleared
    lr_collapse_frac: float = 0.01  # lr below this fraction of its peak...
    lr_collapse_within: int = 100  # ...reached within this many rows of the peak
    lr_collapse_persist: int = 10
    weight_collapse_ratio: float = 0.2  # median weight-matrix norm below this x its start
    weight_collapse_persist: int = 10

    # --- loss
    divergence_start_factor: float = 3.0  # smoothed loss this many times its start: critical
    loss_smooth: int = 5  # rolling median width for the loss
    divergence_factor: float = 1.5  # smoothed loss above this times its best
    divergence_giveback: float = 0.25  # ...and gave back this fraction of the progress made
    divergence_persist: int = 10
    loss_spike_factor: float = 10.0  # a loss above this times its running max
    plateau_window: int = 100
    plateau_min_improvement: float = 0.01
    plateau_clear: int = 50

    # --- hysteresis: rows of clearly-healthy data before a finding clears
    clear_steps: int = 20
    clear_factor: float = 3.0  # a ratio must recover this far past its threshold to count

    def replace(self, **changes: float | int) -> Thresholds:
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_overrides(cls, items: Iterable[str], base: Thresholds | None = None) -> Thresholds:
        """Parse ``name=value`` strings (the CLI's ``--threshold``); clear errors on typos."""
        base = base or cls()
        fields = {f.name: f for f in dataclasses.fields(cls)}
        changes: dict[str, float | int] = {}
        for item in items:
            name, sep, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or not text.strip():
                raise ValueError(f"threshold {item!r}: expected name=value")
            if name not in fields:
                raise ValueError(f"unknown threshold {name!r}; known: {', '.join(fields)}")
            current = getattr(base, name)
            try:
                value: float | int = int(text) if isinstance(current, int) else float(text)
            except ValueError:
                kind = "an integer" if isinstance(current, int) else "a number"
                raise ValueError(f"threshold {name}: {text!r} is not {kind}") from None
            if value < 0:
                raise ValueError(f"threshold {name}: must not be negative")
            changes[name] = value
        return dataclasses.replace(base, **changes)

"""What a diagnosis says: the shared vocabulary of the rules, ``gradtop check`` and the UI."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    """Ordered so that ``max()`` and sorting by severity do the obvious thing."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}: use info, warning or critical") from None


@dataclass(frozen=True, slots=True)
class Fix:
    """One remedy from the fix catalogue, ranked for the evidence that triggered it."""

    key: str  # stable id, e.g. "relu", "he_init", "clip_grad_norm"
    title: str  # "Use ReLU/LeakyReLU/GELU instead of Sigmoid"
    why: str  # why it helps, in a sentence or two
    code: str = ""  # a short PyTorch snippet
    when: str = ""  # when this remedy applies (and when it does not)


@dataclass(frozen=True, slots=True)
class Evidence:
    """A number that triggered a finding and the threshold it crossed."""

    metric: str  # e.g. "depth ratio g_rms(first)/g_rms(last)"
    value: float
    threshold: float
    comparison: str  # "<" or ">"
    param: str | None = None  # parameter name when the number belongs to one layer


@dataclass(frozen=True, slots=True)
class Finding:
    """One diagnosis. ``key`` identifies it across evaluations (for hysteresis and clears)."""

    kind: str  # "vanishing", "exploding", "nonfinite", "dead_units", "no_grad", "frozen", ...
    severity: Severity
    title: str  # one line: "Vanishing gradients in the first 12 layers"
    params: tuple[int, ...]  # indices into the header's parameter list, depth order
    first_step: int
    last_step: int
    evidence: tuple[Evidence, ...] = ()
    explanation: str = ""  # a paragraph a student understands
    fixes: tuple[Fix, ...] = ()
    cleared_step: int | None = None  # set when the condition went away (kept, not forgotten)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.kind

    @property
    def active(self) -> bool:
        return self.cleared_step is None

"""What a rule hands the Diagnoser: a per-row level plus the words for the latest state.

A rule does its own persistence (its condition must hold for N rows before the level
says so), because each rule knows how patient it must be: a loss of 1e16 needs no
confirmation, a low depth ratio needs thirty steps. The Diagnoser then only raises,
escalates and clears with hysteresis, identically for every rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradtop.diagnosis.findings import Evidence, Fix, Severity

OFF = -1  # clearly healthy at this row: counts toward clearing
HOLD = 0  # unknown, or inside the hysteresis band: neither raises nor clears
INFO = 1 + int(Severity.INFO)
WARNING = 1 + int(Severity.WARNING)
CRITICAL = 1 + int(Severity.CRITICAL)


def severity_of(level: int) -> Severity:
    return Severity(max(INFO, level) - 1)


@dataclass
class Signal:
    """One kind's verdict over the window's rows, and how to describe its latest state."""

    kind: str
    level: np.ndarray  # int8 per row: OFF, HOLD, INFO, WARNING, CRITICAL
    title: str = ""
    params: tuple[int, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    explanation: str = ""
    fixes: tuple[Fix, ...] = ()
    clear_steps: int | None = None  # None: the Thresholds' clear_steps
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def raised(self) -> bool:
        return bool(np.any(self.level >= INFO))


def levels(n: int, fill: int = HOLD) -> np.ndarray:
    return np.full(n, fill, dtype=np.int8)


def last_on(level: np.ndarray, at_least: int = INFO) -> int | None:
    """The newest row at ``at_least`` or above: the state a finding's words describe."""
    on = np.flatnonzero(level >= at_least)
    return int(on[-1]) if len(on) else None

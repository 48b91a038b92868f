"""Diagnosis: pure functions from a run's History to Findings with fixes (no torch, no UI).

``Diagnoser(thresholds).update(run)`` returns the findings for a ``RunHistory``; every
threshold lives in ``Thresholds`` and is documented and sourced in docs/diagnosis.md.
"""

from gradtop.diagnosis.diagnoser import Diagnoser
from gradtop.diagnosis.findings import Evidence, Finding, Fix, Severity
from gradtop.diagnosis.fixes import CATALOGUE
from gradtop.diagnosis.rules import KINDS
from gradtop.diagnosis.thresholds import Thresholds

__all__ = [
    "CATALOGUE",
    "KINDS",
    "Diagnoser",
    "Evidence",
    "Finding",
    "Fix",
    "Severity",
    "Thresholds",
]

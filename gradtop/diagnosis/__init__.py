"""Diagnosis: pure functions from a run's History to Findings with fixes (no torch, no UI).

``Diagnoser(thresholds).update(run)`` returns the findings for a ``RunHistory``; every
threshold lives in ``Thresholds`` and is documented and sourced in docs/diagnosis.md.
Every finding kind, with what is keyed by it, is in ``FINDING_KINDS`` (kinds.py).
"""

from gradtop.diagnosis.diagnoser import Diagnoser
from gradtop.diagnosis.findings import Evidence, Finding, Fix, Severity
from gradtop.diagnosis.fixes import CATALOGUE
from gradtop.diagnosis.kinds import FINDING_KINDS, KINDS, FindingKind
from gradtop.diagnosis.thresholds import Thresholds

__all__ = [
    "CATALOGUE",
    "FINDING_KINDS",
    "KINDS",
    "Diagnoser",
    "Evidence",
    "Finding",
    "FindingKind",
    "Fix",
    "Severity",
    "Thresholds",
]

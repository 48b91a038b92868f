"""The rules, run in the order of the first kind each raises (``gradtop.diagnosis.kinds``).

Each rule is a pure function ``View -> list[Signal]`` (see ``gradtop.diagnosis.signals``)
living in one family module; the registry names it as ``"family.function"``, so a new
rule in an existing family needs no edit here.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from gradtop.diagnosis.kinds import FINDING_KINDS, KINDS
from gradtop.diagnosis.rules import flow, health, optimizer, training
from gradtop.diagnosis.signals import Signal
from gradtop.diagnosis.view import View

Rule = Callable[[View], list[Signal]]

FAMILIES: dict[str, ModuleType] = {
    "flow": flow,
    "health": health,
    "optimizer": optimizer,
    "training": training,
}


def rule_named(path: str) -> Rule:
    """The rule a registry entry names (``"flow.exploding"``)."""
    family, _, name = path.partition(".")
    rule: Rule = getattr(FAMILIES[family], name)
    return rule


RULES: tuple[Rule, ...] = tuple(
    rule_named(path) for path in dict.fromkeys(k.rule for k in FINDING_KINDS)
)

__all__ = ["FAMILIES", "KINDS", "RULES", "Rule", "rule_named"]

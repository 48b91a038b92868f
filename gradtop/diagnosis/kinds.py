"""Every finding kind, once: which rule raises it, how bad it can get, what a layer row
says, which fixes and which teaching text it has, in the order findings are listed.

Everything that enumerates kinds derives from ``FINDING_KINDS``: the order the rules run
in and findings tie-break on (``gradtop.diagnosis.rules``), the layer table's status words
(``gradtop.ui.layers``), the fix ranking (``gradtop.diagnosis.fixes``) and the teaching
texts' names. ``tests/diagnosis/test_kinds_registry.py`` checks the rest against it: every
kind a rule can raise (read from the rule's source), the severities and causes it can
report, its fixes, its en/zh texts and its row in docs/diagnosis.md.

Pure data that depends on nothing but ``Severity``, so the rules, the fixes, the UI and
the teaching texts all import it and none of them imports another for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradtop.diagnosis.findings import Severity

INFO, WARNING, CRITICAL = Severity.INFO, Severity.WARNING, Severity.CRITICAL


@dataclass(frozen=True, slots=True)
class RowWord:
    """What the layer table's status column shows beside a parameter a finding names.

    Plain data so the pure side can own it; ``gradtop.ui.layers`` turns it into its
    ``LayerStatus``. ``label`` carries a symbol and a word so it survives NO_COLOR.
    """

    label: str
    tone: str  # "error", "warning" or "muted"
    rank: int  # higher = more urgent: the word a row shows when several kinds name it


@dataclass(frozen=True, slots=True)
class FindingKind:
    """One kind of finding and everything that is keyed by it.

    ``fixes`` and ``texts`` default to the kind's own id; ``None`` says it has none (no
    ranked fixes; the id with spaces as its name in the lesson).
    """

    id: str
    rule: str  # "family.function" in gradtop.diagnosis.rules: the rule that raises it
    severities: tuple[Severity, ...]  # what the rule can raise it at (docs' severity column)
    row: RowWord | None = None  # None: rows show the generic "! word" (or it names no layer)
    causes: tuple[str, ...] = ()  # ``cause`` values the rule hands the fixes, "" aside
    fixes: str | None = ""  # key of its ranking in gradtop.diagnosis.fixes.RANKINGS
    texts: str | None = ""  # key of its name in gradtop.teaching.texts' KINDS

    def __post_init__(self) -> None:
        if self.fixes == "":
            object.__setattr__(self, "fixes", self.id)
        if self.texts == "":
            object.__setattr__(self, "texts", self.id)

    @property
    def family(self) -> str:
        """The rules module the rule lives in (flow, health, optimizer, training)."""
        return self.rule.partition(".")[0]


# Root causes first: a forgotten zero_grad or nothing reaching the weights explains the
# other findings of the same run, so they are listed (and break ties) before them.
FINDING_KINDS: tuple[FindingKind, ...] = (
    FindingKind(
        "nonfinite",
        "health.nonfinite",
        (WARNING, CRITICAL),
        RowWord("✖ NaN/Inf", "error", 100),
        causes=("data", "amp", "init", "training"),
    ),
    FindingKind(
        "zero_grad_missing",
        "optimizer.zero_grad_missing",
        (CRITICAL,),
        RowWord("Σ stale", "error", 85),
    ),
    FindingKind(
        "no_update",
        "optimizer.no_update",
        (CRITICAL,),
        RowWord("⊘ no step", "error", 85),
        causes=("zeroed_after_log", "lr_zero", "weights_unchanged"),
    ),
    FindingKind(
        "exploding",
        "flow.exploding",
        (WARNING, CRITICAL),
        RowWord("▲ EXPLODE", "error", 90),
        causes=("growth", "init", "recurrent", "recurrent_init"),
    ),
    FindingKind(
        "vanishing",
        "flow.vanishing",
        (WARNING, CRITICAL),
        RowWord("▼ VANISH", "error", 80),
        causes=("depth", "adam_eps"),
    ),
    FindingKind(
        "fp16_underflow",
        "health.fp16_underflow",
        (WARNING,),
        RowWord("0 fp16", "warning", 55),
    ),
    FindingKind(
        "dead_units",
        "health.dead_units",
        (INFO, WARNING, CRITICAL),
        RowWord("○ dead", "warning", 60),
    ),
    FindingKind("no_grad", "health.no_grad", (WARNING,), RowWord("∅ no grad", "warning", 40)),
    FindingKind("frozen", "health.frozen", (INFO,), RowWord("– frozen", "muted", 5)),
    FindingKind(
        "not_in_optimizer",
        "health.frozen",
        (WARNING,),
        RowWord("⊘ not opt", "warning", 35),
    ),
    FindingKind("over_clipped", "optimizer.over_clipped", (WARNING,)),
    FindingKind("lr_collapsed", "optimizer.lr_collapsed", (WARNING,)),
    FindingKind(
        "weight_collapse",
        "optimizer.weight_collapse",
        (WARNING,),
        RowWord("↓ shrink", "warning", 55),
    ),
    FindingKind("lr_too_high", "training.learning_rate", (WARNING, CRITICAL)),
    FindingKind("lr_too_low", "training.learning_rate", (WARNING,)),
    FindingKind("loss_divergence", "training.loss_divergence", (WARNING, CRITICAL)),
    FindingKind("grad_spike", "flow.grad_spike", (WARNING,), RowWord("↑ spike", "warning", 50)),
    FindingKind(
        "loss_plateau",
        "training.loss_plateau",
        (INFO,),
        causes=("no_update", "unmeasured", "small_updates", "normal_updates"),
    ),
)

KINDS: tuple[str, ...] = tuple(k.id for k in FINDING_KINDS)
BY_ID: dict[str, FindingKind] = {k.id: k for k in FINDING_KINDS}


def finding_kind(kind: str) -> FindingKind | None:
    """The registry entry of ``kind``; None for a kind no rule raises."""
    return BY_ID.get(kind)


__all__ = ["BY_ID", "FINDING_KINDS", "KINDS", "FindingKind", "RowWord", "finding_kind"]

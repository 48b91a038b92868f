"""The guided lesson of ``gradtop demo``: which demos exist, their fixes, and what to say.

Pure (no torch, no Textual): the CLI lists demos from here without torch, the lesson UI
and the headless mode ask ``advise`` what to tell the student, and the tests replay the
``claims`` headless. A demo is one of ``gradtop.demos.scenarios.SCENARIOS`` plus the
fixes a student can switch on one at a time (keys 1-9 in the UI, ``--fix ID`` headless).

A ``Claim`` is a measured promise: starting from the fixes in ``before``, applying
``fix`` makes the findings in ``clears`` go away (or those in ``softens`` milder).
The texts state the same, and ``tests/demo`` checks each claim by training the nets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gradtop.diagnosis.findings import Finding, Severity

ABSENT = -1  # severity of a kind that was never raised


@dataclass(frozen=True)
class DemoFix:
    id: str  # the --fix name and the text key
    key: str  # the key that toggles it in the lesson UI
    overrides: Mapping[str, Any]  # recipe fields it changes
    change: str  # what changes, language-neutral, e.g. "lr 0.1 → 0.01"


@dataclass(frozen=True)
class Claim:
    before: frozenset[str]  # fixes already applied
    fix: str
    clears: tuple[str, ...] = ()  # "kind" or "kind:cause": gone (below warning) after
    softens: tuple[str, ...] = ()  # milder after (e.g. critical -> warning)


@dataclass(frozen=True)
class Demo:
    name: str
    scenario: str  # key of gradtop.demos.scenarios.SCENARIOS
    fixes: tuple[DemoFix, ...] = ()
    claims: tuple[Claim, ...] = ()
    judge_steps: int = 100  # logged steps after which no finding means "healthy"
    aliases: tuple[str, ...] = ()
    cures: tuple[str, ...] = ()  # fixes that alone remove what the original net teaches

    def fix(self, fix_id: str) -> DemoFix:
        for f in self.fixes:
            if f.id == fix_id:
                return f
        known = ", ".join(f.id for f in self.fixes) or "none"
        raise KeyError(f"demo {self.name!r} has no fix {fix_id!r}; its fixes: {known}")

    def by_key(self, key: str) -> DemoFix | None:
        return next((f for f in self.fixes if f.key == key), None)


def _fix(fix_id: str, key: str, change: str, **overrides: Any) -> DemoFix:
    return DemoFix(fix_id, key, overrides, change)


def _claim(before: Iterable[str], fix: str, clears: tuple[str, ...] = (), **kw: Any) -> Claim:
    return Claim(frozenset(before), fix, clears, **kw)


DEMOS: dict[str, Demo] = {
    d.name: d
    for d in (
        Demo(
            "vanishing",
            "vanishing_sigmoid",
            (
                _fix("relu", "1", "Sigmoid → ReLU", activation="relu"),
                _fix("he_init", "2", "init: default → He", init="he"),
                _fix("batchnorm", "3", "+ BatchNorm1d", batchnorm=True),
                _fix("lower_lr", "4", "lr 0.1 → 0.01", lr=0.01),
                _fix("residual", "5", "h → h + f(h)", residual=True),
            ),
            (
                _claim((), "relu", softens=("vanishing",)),
                _claim(("relu",), "he_init", ("vanishing",)),
                _claim(("relu",), "batchnorm", ("vanishing",)),
                _claim(("relu", "he_init"), "batchnorm", ("dead_units",)),
                _claim(("relu", "he_init"), "lower_lr", ("dead_units",)),
                _claim((), "batchnorm", ("vanishing",)),
                _claim((), "residual", ("vanishing",)),
                _claim(("residual",), "lower_lr", ("lr_too_high",)),
            ),
            aliases=("vanishing_sigmoid",),
            cures=("batchnorm", "residual"),
        ),
        Demo(
            "exploding",
            "exploding_init",
            (
                _fix("he_init", "1", "init: N(0,1) → He", init="he"),
                _fix("lower_lr", "2", "lr 1 → 0.05", lr=0.05),
                _fix("clip", "3", "clip_grad_norm_(1.0)", clip=1.0),
            ),
            (
                _claim((), "he_init", ("exploding:init",)),
                _claim(("he_init",), "lower_lr", ("exploding", "nonfinite")),
                _claim((), "clip", ("nonfinite",)),
            ),
            judge_steps=40,
            aliases=("exploding_init",),
        ),
        Demo(
            "exploding_lr",
            "exploding_lr",
            (
                _fix("lower_lr", "1", "lr 2 → 0.1", lr=0.1),
                _fix("clip", "2", "clip_grad_norm_(1.0)", clip=1.0),
            ),
            (
                _claim((), "lower_lr", ("exploding", "nonfinite")),
                _claim((), "clip", ("exploding", "nonfinite")),
            ),
            judge_steps=50,
            cures=("lower_lr", "clip"),
        ),
        Demo(
            "exploding_rnn",
            "exploding_rnn",
            (
                _fix("clip", "1", "clip_grad_norm_(1.0)", clip=1.0),
                _fix("gain_1", "2", "W_hh gain 2 → 1", recurrent_gain=1.0),
            ),
            (
                _claim((), "clip", ("dead_units",)),
                _claim(("clip",), "gain_1", ("exploding",)),
                _claim((), "gain_1", ("exploding", "dead_units")),
            ),
            judge_steps=60,
            aliases=("rnn",),
            cures=("gain_1",),
        ),
        Demo(
            "dead_relu",
            "dead_relu",
            (
                _fix("bias_0", "1", "bias -3 → 0", bias=0.0),
                _fix("leaky_relu", "2", "ReLU → LeakyReLU", activation="leaky_relu"),
            ),
            (
                _claim((), "bias_0", ("dead_units",)),
                _claim((), "leaky_relu", ("dead_units",)),
                _claim(("leaky_relu",), "bias_0", ("vanishing",)),
            ),
            judge_steps=60,
            cures=("bias_0",),
        ),
        Demo(
            "lr_too_low",
            "lr_too_low",
            (_fix("raise_lr", "1", "Adam lr 1e-5 → 1e-3", lr=1e-3),),
            (_claim((), "raise_lr", ("lr_too_low",)),),
            judge_steps=120,
            cures=("raise_lr",),
        ),
        Demo(
            "lr_too_high",
            "lr_too_high",
            (_fix("lower_lr", "1", "Adam lr 0.1 → 1e-3", lr=1e-3),),
            (_claim((), "lower_lr", ("lr_too_high", "dead_units")),),
            judge_steps=40,
            cures=("lower_lr",),
        ),
        Demo(
            "frozen_layer",
            "frozen_layer",
            (_fix("unfreeze", "1", "requires_grad_(True)", freeze=()),),
            (_claim((), "unfreeze", ("frozen",)),),
            judge_steps=20,
            cures=("unfreeze",),
        ),
        Demo(
            "unused_layer",
            "unused_layer",
            (_fix("use_layer", "1", "del model.unused", unused=False),),
            (_claim((), "use_layer", ("no_grad",)),),
            judge_steps=20,
            cures=("use_layer",),
        ),
        Demo("healthy", "fixed_relu_bn", aliases=("fixed_relu_bn",)),
        Demo("transformer", "transformer"),
    )
}
DEFAULT_DEMO = "vanishing"


def resolve(name: str) -> Demo:
    """A demo by name or alias (e.g. the scenario name); a clear error otherwise."""
    if name in DEMOS:
        return DEMOS[name]
    for demo in DEMOS.values():
        if name in demo.aliases:
            return demo
    raise KeyError(f"unknown demo {name!r}; known: {', '.join(DEMOS)}")


# ---------------------------------------------------------------------------- state


@dataclass(frozen=True)
class LessonState:
    """Which fixes are switched on, in the order the student pressed them."""

    demo: Demo
    applied: tuple[str, ...] = ()

    def toggle(self, fix_id: str) -> LessonState:
        self.demo.fix(fix_id)  # unknown ids are an error, not a silent no-op
        if fix_id in self.applied:
            return LessonState(self.demo, tuple(f for f in self.applied if f != fix_id))
        return LessonState(self.demo, (*self.applied, fix_id))

    def reset(self) -> LessonState:
        return LessonState(self.demo)

    @property
    def applied_set(self) -> frozenset[str]:
        return frozenset(self.applied)

    def overrides(self) -> dict[str, Any]:
        """The recipe changes of every applied fix (in key order: deterministic)."""
        out: dict[str, Any] = {}
        for f in self.demo.fixes:
            if f.id in self.applied:
                out.update(f.overrides)
        return out

    def last_claim(self) -> Claim | None:
        """What the most recently pressed fix promised, from where it was pressed."""
        if not self.applied:
            return None
        *before, last = self.applied
        return find_claim(self.demo, frozenset(before), last)

    def meta(self, session: str) -> dict[str, Any]:
        """The run's header ``meta``: lets any viewer label the run and group a session."""
        return {
            DEMO_META: {"demo": self.demo.name, "fixes": list(self.applied), "session": session}
        }


DEMO_META = "gradtop_demo"


def find_claim(demo: Demo, before: frozenset[str], fix_id: str) -> Claim | None:
    return next((c for c in demo.claims if c.before == before and c.fix == fix_id), None)


def suggestions(demo: Demo, applied: frozenset[str]) -> tuple[str, ...]:
    """Fixes worth pressing next: those with a claim from exactly here, in key order."""
    ids = [c.fix for c in demo.claims if c.before == applied and c.fix not in applied]
    ordered = [f.id for f in demo.fixes if f.id in ids]
    return tuple(ordered)


# ---------------------------------------------------------------------------- advice


def worst_by_kind(findings: Iterable[Finding]) -> dict[str, int]:
    """Each kind's worst severity over the run (active or cleared), also as "kind:cause"."""
    worst: dict[str, int] = {}
    for f in findings:
        keys = [f.kind]
        cause = f.extra.get("cause")
        if isinstance(cause, str):
            keys.append(f"{f.kind}:{cause}")
        for key in keys:
            worst[key] = max(worst.get(key, ABSENT), int(f.severity))
    return worst


def loud_kinds(findings: Iterable[Finding]) -> tuple[str, ...]:
    """Active findings at warning or worse, in the Diagnoser's order (worst first)."""
    out: list[str] = []
    for f in findings:
        if f.active and f.severity >= Severity.WARNING and f.kind not in out:
            out.append(f.kind)
    return tuple(out)


def claim_holds(claim: Claim, before: Mapping[str, int], after: Mapping[str, int]) -> bool:
    """Did the fix do what it promised? ``before``/``after``: ``worst_by_kind`` of two runs."""
    for kind in claim.clears:
        was = before.get(kind, ABSENT)
        if was == ABSENT or after.get(kind, ABSENT) >= min(was, int(Severity.WARNING)):
            return False
    for kind in claim.softens:
        was = before.get(kind, ABSENT)
        if was == ABSENT or after.get(kind, ABSENT) >= was:
            return False
    return True


@dataclass(frozen=True)
class Advice:
    """What the lesson says about the current run."""

    status: str  # "watching", "sick", "healthy" (after fixes or a reference demo)
    kinds: tuple[str, ...] = ()  # active kinds at warning or worse
    suggest: tuple[str, ...] = ()  # fix ids to press next, best first
    claim: Claim | None = None  # what the last pressed fix promised
    verdict: str = ""  # "", "wait", "ok", "soft_ok", "traded", "bad"
    alternatives: tuple[str, ...] = field(default_factory=tuple)  # other fixes from the start
    earlier: tuple[str, ...] = ()  # warning or worse earlier in the run, cleared since
    notes: tuple[str, ...] = ()  # active info findings (a frozen layer is info, by design)
    # "traded": the claim held, but critical kinds the earlier run did not have came instead
    new_kinds: tuple[str, ...] = ()


def advise(
    state: LessonState,
    findings: list[Finding],
    steps: int,
    finished: bool,
    before: Mapping[str, int] | None = None,
) -> Advice:
    """The lesson's reading of the current run (``findings`` from the Diagnoser).

    ``before`` is ``worst_by_kind`` of the run the last fix was pressed on, when known;
    the verdict on the last fix compares it with this run.
    """
    demo = state.demo
    kinds = loud_kinds(findings)
    judged = finished or steps >= demo.judge_steps
    claim = state.last_claim()
    verdict = ""
    new_kinds: tuple[str, ...] = ()
    if claim is not None:
        after = worst_by_kind(findings)
        was = dict(before) if before is not None else _assumed(claim)
        claim = relevant(claim, was)
        if claim is not None and claim_holds(claim, was, after):
            verdict = ("ok" if claim.clears else "soft_ok") if judged else "wait"
            # "as expected" must not stand beside a worse problem the fix brought
            new_kinds = tuple(
                f.kind
                for f in findings
                if f.active
                and f.severity == Severity.CRITICAL
                and was.get(f.kind, ABSENT) < int(Severity.CRITICAL)
            )
            if new_kinds and verdict != "wait":
                verdict = "traded"
        elif claim is not None:
            verdict = "bad" if judged or _already_failed(claim, was, after) else "wait"
    earlier = tuple(
        dict.fromkeys(
            f.kind
            for f in findings
            if not f.active and f.severity >= Severity.WARNING and f.kind not in kinds
        )
    )
    applied = state.applied_set
    suggest = suggestions(demo, applied)
    if not suggest and (kinds or earlier):
        suggest = tuple(f.id for f in demo.fixes if f.id not in applied)
    if kinds or earlier:  # an explosion that calmed down is still the lesson
        others = tuple(f for f in demo.cures if f not in suggest and f not in applied)
        return Advice("sick", kinds, suggest, claim, verdict, others, earlier, new_kinds=new_kinds)
    if not judged:
        return Advice("watching", (), (), claim, verdict, ())
    # Healthy: the other ways to cure the original net, if this run was not just that.
    others = tuple(f for f in demo.cures if applied and applied != {f})
    # Only the info findings this lesson is about (a frozen layer is info, not vanishing);
    # a passing loss plateau on a cured net would be noise in the lesson's few lines.
    taught = {k for c in demo.claims for k in (*c.clears, *c.softens)}
    notes = tuple(
        dict.fromkeys(
            f.kind
            for f in findings
            if f.active and f.severity == Severity.INFO and f.kind in taught
        )
    )
    return Advice("healthy", (), (), claim, verdict, others, notes=notes)


def relevant(claim: Claim, before: Mapping[str, int]) -> Claim | None:
    """The claim restricted to the kinds the earlier run really had (None: none of them).

    Another seed can make a net fail differently (e.g. dead units instead of an
    explosion): a promise about a finding that never appeared is not judged.
    """
    clears = tuple(k for k in claim.clears if before.get(k, ABSENT) != ABSENT)
    softens = tuple(k for k in claim.softens if before.get(k, ABSENT) != ABSENT)
    if not clears and not softens:
        return None
    return Claim(claim.before, claim.fix, clears, softens)


def _assumed(claim: Claim) -> dict[str, int]:
    """Without the earlier run: assume what the claim says was there (critical)."""
    return {k: int(Severity.CRITICAL) for k in (*claim.clears, *claim.softens)}


def _already_failed(claim: Claim, before: Mapping[str, int], after: Mapping[str, int]) -> bool:
    """A cleared kind that is back at warning or worse cannot clear any more."""
    return any(
        after.get(k, ABSENT) >= min(before.get(k, ABSENT), int(Severity.WARNING))
        and before.get(k, ABSENT) != ABSENT
        for k in claim.clears
    )

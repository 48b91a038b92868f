"""The lesson's guidance, as lines of (text, tone): where it stands, what to press next.

Pure, like ``lesson_view``: the advice comes from ``gradtop.teaching.lesson.advise`` and
the words from the lesson's language (``say``), so this only arranges them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gradtop.teaching.lesson import Advice
from gradtop.text import safe_text

Fragment = tuple[str, str]
Line = list[Fragment]


@dataclass(frozen=True)
class FixKey:
    """One fix as the key row shows it."""

    id: str
    key: str
    label: str  # "He init"
    change: str  # "init: default → He"
    applied: bool


Say = Callable[..., str]  # texts.ui bound to the lesson's language


def _keys_fragments(
    fixes: Sequence[FixKey], ids: Sequence[str], say: Say, *, with_change: bool = True
) -> list[Fragment]:
    out: list[Fragment] = []
    by_id = {f.id: f for f in fixes}
    for i, fix_id in enumerate(ids):
        fix = by_id.get(fix_id)
        if fix is None:
            continue
        if i:
            out.append((say("or"), ""))
        out += [(fix.key, "title"), (f" {fix.label}", "bold")]
        if with_change:
            out.append((f" ({fix.change})", "muted"))
    return out


def _template(template: str, slot: list[Fragment], tone: str) -> list[Fragment]:
    """Fill ``{keys}`` in a translated sentence with styled fragments."""
    before, _, after = template.partition("{keys}")
    return [(before, tone), *slot, (after, tone)]


def guidance_lines(
    advice: Advice | None,
    fixes: Sequence[FixKey],
    say: Say,
    kind_list: Callable[[Sequence[str]], str],
    *,
    steps: int,
    restarting: bool,
    error: str,
    reference: bool,
    compact: bool,
    finished: bool = False,
    first_run: bool = False,
) -> list[Line]:
    """Where the lesson stands, what to press next, and the key row."""
    status: Line
    if error:
        status = [("✖ " + say("error", error=safe_text(error, 200)), "error")]
    elif restarting or advice is None:
        status = [("⟳ " + say("restarting" if steps else "starting"), "info")]
    elif advice.status == "sick" and advice.kinds:
        status = [("✖ " + say("sick", kinds=kind_list(advice.kinds)), "error")]
        if advice.earlier:
            status.append(("  " + say("earlier", kinds=kind_list(advice.earlier)), "muted"))
    elif advice.status == "sick":  # it came and went: still the lesson (an explosion)
        status = [("✖ " + say("sick_earlier", kinds=kind_list(advice.earlier)), "warning")]
    elif advice.status == "watching":
        status = [("… " + say("watching", steps=steps), "info")]
    else:
        word = "healthy_reference" if reference else "healthy_first" if first_run else "healthy"
        status = [("✓ " + say(word), "ok")]
    if finished and not restarting and not error:
        status.append(("   " + say("finished"), "muted"))
    lines: list[Line] = [status]
    if advice is not None and advice.status == "healthy" and advice.notes and not restarting:
        # Info findings are part of some lessons (a frozen layer is info, not vanishing).
        lines.append([("ℹ " + say("notes", kinds=kind_list(advice.notes)), "info")])
    if advice is not None and advice.claim is not None and not restarting and not error:
        verdict = _verdict(advice, say, kind_list)
        if compact:
            lines.append([(text.lstrip(), tone) for text, tone in verdict])
        else:
            status += verdict
    if advice is not None and not restarting and not error:
        if advice.suggest:
            slot = _keys_fragments(fixes, advice.suggest, say, with_change=not compact)
            lines.append([("▶ ", "title"), *_template(say("try"), slot, "")])
        elif advice.alternatives:
            slot = _keys_fragments(fixes, advice.alternatives, say, with_change=not compact)
            lines.append([("▶ ", "title"), *_template(say("more_fixes"), slot, "")])
    row: Line = []
    for fix in fixes:
        row += [
            (f"{fix.key} ", "title"),
            (fix.label + (" ✓" if fix.applied else ""), "ok" if fix.applied else ""),
            ("  ", ""),
        ]
    if compact and fixes:  # two short lines rather than one that wraps mid-way
        lines.append(row)
        row = []
    row.append((say("keys_hint"), "muted"))
    lines.append(row)
    return lines


def _verdict(advice: Advice, say: Say, kind_list: Callable[[Sequence[str]], str]) -> Line:
    claim = advice.claim
    assert claim is not None
    kinds = kind_list(claim.clears or claim.softens)
    if advice.verdict == "ok":
        return [("   " + say("claim_ok", kinds=kinds), "ok")]
    if advice.verdict == "soft_ok":
        return [("   " + say("claim_soft_ok", kinds=kinds), "ok")]
    if advice.verdict == "bad":
        return [("   " + say("claim_bad", kinds=kinds), "warning")]
    if advice.verdict == "traded":
        new = kind_list(advice.new_kinds)
        key = "claim_traded" if claim.clears else "claim_soft_traded"
        return [("   " + say(key, kinds=kinds, new=new), "warning")]
    key = "expect_clears" if claim.clears else "expect_softens"
    return [("   " + say(key, kinds=kinds), "muted")]

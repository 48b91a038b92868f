"""The finding-kind registry agrees with everything keyed by a kind.

Adding a kind means: write the rule, add its entry to ``gradtop.diagnosis.kinds``, add
its ranking of fixes, its en/zh names and its row in docs/diagnosis.md. Each test here
names the one that was forgotten. What a rule can raise is read from its source (the
``Signal("kind", ...)`` it builds, the levels it assigns, the causes it names), so a
rule that raises a kind the registry does not know fails here before any run shows it.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

import gradtop.diagnosis
from gradtop.diagnosis import Finding, Severity, Thresholds
from gradtop.diagnosis.fixes import RANKINGS, fixes_for
from gradtop.diagnosis.kinds import BY_ID, FINDING_KINDS, KINDS, FindingKind
from gradtop.diagnosis.rules import FAMILIES, RULES, rule_named
from gradtop.diagnosis.view import roles_for
from gradtop.teaching import texts
from gradtop.ui.layers import KIND_STATUS, status_for_finding
from tests.diagnosis.synth import header, mlp_specs

DOC = Path(__file__).parents[2] / "docs" / "diagnosis.md"
LEVELS = {"INFO": Severity.INFO, "WARNING": Severity.WARNING, "CRITICAL": Severity.CRITICAL}


# --------------------------------------------------------------------- reading the rules


@dataclass
class Raised:
    """What one rule's code can produce, read from its body and the module's helpers
    it calls (directly or through other helpers)."""

    kinds: set[str] = field(default_factory=set)
    severities: set[Severity] = field(default_factory=set)
    causes: set[str] = field(default_factory=set)


def _strings(node: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _callee(call: ast.Call) -> str:
    """The name a call is made by (``Signal(...)``, ``_helper(...)``); "" for ``a.b(...)``."""
    return call.func.id if isinstance(call.func, ast.Name) else ""


def _functions(module: ModuleType) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(inspect.getsource(module))
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def raised_by(path: str) -> Raised:
    family, _, name = path.partition(".")
    defs = _functions(FAMILIES[family])
    out, todo, seen = Raised(), [name], set()
    while todo:
        fn = defs[todo.pop()]
        if fn.name in seen:
            continue
        seen.add(fn.name)
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                callee = _callee(node)
                if callee in defs:
                    todo.append(callee)
                if callee == "Signal":
                    kind = node.args[0] if node.args else None
                    assert isinstance(kind, ast.Constant) and isinstance(kind.value, str), (
                        f"{path}: write the kind of a Signal as a literal, so it can be checked"
                    )
                    out.kinds.add(kind.value)
                if callee == "levels" and len(node.args) > 1:
                    out.severities |= _levels(node.args[1])
                if callee == "fixes_for_view" and len(node.args) > 2:
                    out.causes |= _strings(node.args[2])
            elif isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Subscript) for t in node.targets):
                    out.severities |= _levels(node.value)
                if any(isinstance(t, ast.Name) and t.id == "cause" for t in node.targets):
                    out.causes |= _strings(node.value)
    out.causes.discard("")
    return out


def _levels(node: ast.AST) -> set[Severity]:
    return {LEVELS[node.id]} if isinstance(node, ast.Name) and node.id in LEVELS else set()


def _entries(path: str) -> list[FindingKind]:
    return [k for k in FINDING_KINDS if k.rule == path]


RULE_PATHS = list(dict.fromkeys(k.rule for k in FINDING_KINDS))


def test_the_registry_is_well_formed() -> None:
    assert len(set(KINDS)) == len(KINDS) == len(BY_ID)
    assert gradtop.diagnosis.KINDS == KINDS
    for k in FINDING_KINDS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", k.id), k.id
        assert k.severities and list(k.severities) == sorted(set(k.severities)), k.id
        assert len(set(k.causes)) == len(k.causes) and "" not in k.causes, k.id
        assert k.row is None or k.row.tone in ("error", "warning", "muted"), k.id


def test_rules_run_in_registry_order_and_each_once() -> None:
    assert [rule_named(p) for p in RULE_PATHS] == list(RULES)
    assert len(set(RULES)) == len(RULES)


@pytest.mark.parametrize("path", RULE_PATHS)
def test_every_kind_a_rule_raises_is_registered_with_its_severities_and_causes(
    path: str,
) -> None:
    raised = raised_by(path)
    entries = _entries(path)
    assert raised.kinds == {k.id for k in entries}, (
        f"{path} raises {sorted(raised.kinds)}; the registry says {[k.id for k in entries]}"
    )
    severities = {s for k in entries for s in k.severities}
    assert raised.severities == severities, f"{path} raises at {sorted(raised.severities)}"
    causes = {c for k in entries for c in k.causes}
    assert raised.causes == causes, f"{path} names the causes {sorted(raised.causes)}"


def test_no_rule_is_left_out_of_the_registry() -> None:
    """A rule function (public, in a family module) that no entry names never runs."""
    named = set(RULE_PATHS)
    for family, module in FAMILIES.items():
        for name, fn in _functions(module).items():
            raises = any(isinstance(n, ast.Call) and _callee(n) == "Signal" for n in ast.walk(fn))
            if not name.startswith("_") and raises:
                assert f"{family}.{name}" in named, f"{family}.{name} is in no registry entry"


def test_signals_are_only_built_by_rules() -> None:
    """Kinds are read from the rule families; a Signal built elsewhere would escape that."""
    package = Path(gradtop.diagnosis.__file__).parent
    for source in package.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _callee(n) == "Signal"]
        assert not calls, f"{source.name} builds a Signal outside gradtop/diagnosis/rules/"


# --------------------------------------------------------------------- what is keyed by a kind


def test_every_kind_with_fixes_has_a_ranking_and_every_ranking_a_kind() -> None:
    keys = {k.fixes for k in FINDING_KINDS if k.fixes}
    assert keys <= set(RANKINGS), f"no ranking in fixes.RANKINGS for {sorted(keys - set(RANKINGS))}"
    assert set(RANKINGS) <= keys, f"rankings no kind uses: {sorted(set(RANKINGS) - keys)}"


def test_every_kind_with_fixes_offers_some_to_a_plain_mlp() -> None:
    roles = roles_for(header(mlp_specs()), Thresholds())
    for k in FINDING_KINDS:
        if k.fixes:
            assert fixes_for(k.id, roles), k.id
    assert fixes_for("no_such_kind", roles) == ()


@pytest.mark.parametrize("lang", list(texts.LANGS))
def test_every_kind_with_texts_has_its_name_and_no_name_is_stale(lang: str) -> None:
    table = texts.lang_module(lang).KINDS
    keys = {k.texts for k in FINDING_KINDS if k.texts}
    assert keys <= set(table), f"{lang}: no name in texts KINDS for {sorted(keys - set(table))}"
    assert set(table) <= keys, f"{lang}: names no kind uses: {sorted(set(table) - keys)}"
    names = texts.kind_names(lang)
    assert list(names) == list(KINDS)
    for k in FINDING_KINDS:
        if k.texts:
            assert names[k.id] == table[k.texts] and table[k.texts].strip(), (lang, k.id)


def test_the_layer_table_shows_each_registered_word() -> None:
    assert set(KIND_STATUS) == {k.id for k in FINDING_KINDS if k.row is not None}
    for k in FINDING_KINDS:
        worst = max(k.severities)
        finding = Finding(k.id, worst, k.id, params=(0,), first_step=0, last_step=0)
        status = status_for_finding(finding)
        assert status.key == k.id
        if k.row is not None:
            assert (status.label, status.tone, status.rank) == (k.row.label, k.row.tone, k.row.rank)
        else:
            assert status.label.startswith("! "), k.id


# --------------------------------------------------------------------- the documentation


def _doc_rows() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("| kind | rule | severity | table word | causes | meaning |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return rows


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_docs_list_every_kind_in_order_as_the_registry_says() -> None:
    rows = _doc_rows()
    assert [_ticked(r[0])[0] for r in rows] == list(KINDS), "docs/diagnosis.md kind table"
    for row, k in zip(rows, FINDING_KINDS, strict=True):
        _, rule, severity, word, causes, meaning = row
        assert _ticked(rule) == [k.rule], k.id
        assert severity == " / ".join(s.name.lower() for s in k.severities), k.id
        assert _ticked(word) == ([k.row.label] if k.row else []), k.id
        assert _ticked(causes) == list(k.causes), k.id
        assert meaning, k.id


def test_the_scenarios_name_only_registered_kinds() -> None:
    """A misspelt kind in a scenario's ``expect`` would never be met, in ``allow`` never
    excuse anything: both would pass silently."""
    from gradtop.demos.scenarios import SCENARIOS  # torch-side: imported only here

    for name, s in SCENARIOS.items():
        named = {*s.expect, *s.expect_info, *s.allow}
        assert named <= set(KINDS), f"scenario {name}: {sorted(named - set(KINDS))}"

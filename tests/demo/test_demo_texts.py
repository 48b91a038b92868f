"""Every demo and fix has its teaching text in every language, and the catalogue is sound.

Pure: no training. The claims themselves are checked by training in test_demo_cli.py.
"""

from __future__ import annotations

import dataclasses
import re
import string

import pytest

from gradtop.demos.models import Recipe
from gradtop.demos.scenarios import SCENARIOS
from gradtop.diagnosis import FINDING_KINDS, KINDS
from gradtop.teaching import texts
from gradtop.teaching.lesson import DEMO_META, DEMOS, resolve
from gradtop.ui.lesson_view import DEMO_META as UI_DEMO_META

LANGS = list(texts.LANGS)
FIX_IDS = sorted({f.id for d in DEMOS.values() for f in d.fixes})
CJK = re.compile(r"[\u4e00-\u9fff]")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("lang", LANGS)
def test_every_demo_has_every_section(lang: str) -> None:
    for name in DEMOS:
        text = texts.lang_module(lang).SCENARIOS[name]
        for key in ("title", "line", *texts.SECTIONS):
            assert text.get(key, "").strip(), f"{lang}: demo {name} lacks {key}"


@pytest.mark.parametrize("lang", LANGS)
def test_every_fix_and_finding_kind_has_a_name(lang: str) -> None:
    module = texts.lang_module(lang)
    for fix_id in FIX_IDS:
        assert module.FIXES[fix_id]["label"].strip(), f"{lang}: fix {fix_id} has no label"
        assert module.FIXES[fix_id]["what"].strip(), f"{lang}: fix {fix_id} has no text"
    for kind in FINDING_KINDS:
        if kind.texts is not None:
            name = module.KINDS[kind.texts]
            assert name.strip(), f"{lang}: finding kind {kind.id} has no name"
    assert module.BASICS.strip()


def test_languages_have_the_same_keys_and_placeholders() -> None:
    en, zh = texts.LANGS["en"], texts.LANGS["zh"]
    assert set(en.UI) == set(zh.UI)
    for key, template in en.UI.items():
        assert _fields(template) == _fields(zh.UI[key]), key
    assert set(en.SCENARIOS) == set(zh.SCENARIOS) == set(DEMOS)
    assert set(en.FIXES) == set(zh.FIXES) == set(FIX_IDS)
    assert set(en.KINDS) == set(zh.KINDS)


def test_the_chinese_texts_are_chinese() -> None:
    zh = texts.LANGS["zh"]
    for name, text in zh.SCENARIOS.items():
        for key in texts.SECTIONS:
            assert CJK.search(text[key]), f"zh {name}.{key} has no Chinese"
    for fix_id, text in zh.FIXES.items():
        assert CJK.search(text["what"]), f"zh fix {fix_id} has no Chinese"
    # The maths is the same in both languages: the update rule and sigmoid's bound.
    for module in texts.LANGS.values():
        assert "x_{n+1} = x_n - λ∇F(x_n)" in module.BASICS and "0.25" in module.BASICS


def test_catalogue_matches_the_scenarios_and_recipes() -> None:
    recipe_fields = {f.name for f in dataclasses.fields(Recipe)}
    for demo in DEMOS.values():
        assert demo.scenario in SCENARIOS, demo.name
        base = SCENARIOS[demo.scenario].recipe
        keys = [f.key for f in demo.fixes]
        assert len(set(keys)) == len(keys) and all(k in "123456789" for k in keys)
        for fix in demo.fixes:
            assert set(fix.overrides) <= recipe_fields, fix
            for field, value in fix.overrides.items():
                assert getattr(base, field) != value, f"{demo.name}.{fix.id} changes nothing"
        ids = {f.id for f in demo.fixes}
        for claim in demo.claims:
            assert claim.fix in ids and claim.before <= ids and claim.fix not in claim.before
            for kind in (*claim.clears, *claim.softens):
                assert kind.partition(":")[0] in KINDS, kind
        assert set(demo.cures) <= ids
        for alias in demo.aliases:
            assert resolve(alias) is demo
    assert DEMO_META == UI_DEMO_META  # the UI finds the runs the lesson labels


def test_lr_changes_name_the_real_numbers() -> None:
    """``change`` strings are shown to students: they must say what really changes."""
    for demo in DEMOS.values():
        base = SCENARIOS[demo.scenario].recipe
        for fix in demo.fixes:
            if "lr" in fix.overrides:
                numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", fix.change)]
                assert numbers == [base.lr, fix.overrides["lr"]], fix.change


def test_wrap_counts_terminal_cells() -> None:
    zh = texts.scenario("zh", "vanishing")["why"]
    lines = texts.wrap(zh, 30)
    assert all(texts.cells(line) <= 30 for line in lines), lines
    assert "".join(line.replace(" ", "") for line in lines) == zh.replace(" ", "")
    assert not any(line.startswith(("，", "。", "：")) for line in lines)
    en = texts.wrap("one two three four five six", 9)
    assert en == ["one two", "three", "four five", "six"]
    assert texts.wrap("a\nb", 10) == ["a", "b"]


def test_kind_lists_read_naturally() -> None:
    assert texts.kind_list("en", ["vanishing", "dead_units"]) == "vanishing gradients, dead units"
    assert texts.kind_list("en", ["exploding:init"]) == "exploding gradients (init)"
    assert texts.kind_list("zh", ["vanishing", "dead_units"]) == "梯度消失、死亡单元"
    with pytest.raises(ValueError, match="unknown language"):
        texts.ui("fr", "sick")

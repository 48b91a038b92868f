"""Teaching texts of ``gradtop demo`` in English and Chinese, and a wrapper for both.

Pure (no torch, no Textual): the CLI prints these in headless mode and the lesson UI
shows them. Each language is a module with the same dicts (``BASICS``, ``SCENARIOS``,
``FIXES``, ``KINDS``, ``UI``); ``tests/demo`` checks that every demo and fix has its
text in every language, with the same ``{placeholders}``, and
``tests/diagnosis/test_kinds_registry.py`` that ``KINDS`` names exactly the texts keys
of the finding-kind registry (``gradtop.diagnosis.kinds``).
"""

from __future__ import annotations

import unicodedata
from types import ModuleType

from gradtop.diagnosis.kinds import KINDS, finding_kind
from gradtop.teaching.texts import en, zh

LANGS: dict[str, ModuleType] = {"en": en, "zh": zh}
SECTIONS = ("see", "why", "fix")
_NO_LINE_START = "，。、：；！？）」』”’》"


def lang_module(lang: str) -> ModuleType:
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGS)}")
    return LANGS[lang]


def ui(lang: str, key: str, **values: object) -> str:
    """A UI string, formatted; English when a language lacks it (the tests say none do)."""
    table: dict[str, str] = lang_module(lang).UI
    template = table.get(key, en.UI[key])
    return template.format(**values) if values else template


def scenario(lang: str, demo: str) -> dict[str, str]:
    return lang_module(lang).SCENARIOS.get(demo, en.SCENARIOS[demo])  # type: ignore[no-any-return]


def fix(lang: str, fix_id: str) -> dict[str, str]:
    return lang_module(lang).FIXES.get(fix_id, en.FIXES[fix_id])  # type: ignore[no-any-return]


def kind(lang: str, name: str) -> str:
    """The finding kind's name for people, under the texts key its registry entry names
    (a kind without texts, or unknown: the id with spaces)."""
    spec = finding_kind(name)
    key = name if spec is None else spec.texts
    table: dict[str, str] = lang_module(lang).KINDS
    plain = name.replace("_", " ")
    return table.get(key, plain) if key else plain


def kind_names(lang: str) -> dict[str, str]:
    """Every finding kind's name for people, by kind id, in the order findings are listed."""
    return {k: kind(lang, k) for k in KINDS}


def kind_list(lang: str, kinds: tuple[str, ...] | list[str]) -> str:
    """Finding kinds for people; ``exploding:init`` reads "exploding gradients (init)"."""
    names = []
    for k in kinds:
        name, _, cause = k.partition(":")
        names.append(kind(lang, name) + (f" ({cause})" if cause else ""))
    return ("、" if lang == "zh" else ", ").join(names)


def basics(lang: str) -> str:
    return lang_module(lang).BASICS  # type: ignore[no-any-return]


def cells(text: str) -> int:
    """Terminal cells ``text`` takes: East Asian wide and fullwidth characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Greedy wrap by terminal cells; breaks at spaces, and between any two wide characters.

    ``textwrap`` counts characters, which overflows a line of Chinese by half; and Chinese
    has no spaces to break at. Paragraphs (``\\n``) are kept.
    """
    width = max(width, 8)
    out: list[str] = []
    for paragraph in text.split("\n"):
        line, line_w = "", 0
        for token in _tokens(paragraph):
            piece, tw = token, cells(token)
            if line and line_w + tw > width:
                out.append(line.rstrip())
                piece = token.lstrip()
                line, line_w = "", 0
                tw = cells(piece)
            line += piece
            line_w += tw
        out.append(line.rstrip())
    return out


def _tokens(text: str) -> list[str]:
    """Words with their leading space, and every wide character on its own."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        wide = unicodedata.east_asian_width(ch) in "WF"
        if wide or ch == " ":
            if word:
                tokens.append(word)
            word = ""
            if wide and ch in _NO_LINE_START and tokens:
                tokens[-1] += ch  # Chinese punctuation never starts a line
                continue
            if wide:
                tokens.append(ch)
                continue
        word += ch
    if word:
        tokens.append(word)
    return tokens

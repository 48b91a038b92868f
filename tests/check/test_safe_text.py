"""safe_text: file-borne strings become inert, printable, bounded text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gradtop.text import REPLACEMENT, safe_text

UNSAFE = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x61C)]
    + ["\ud800", "\udfff"]
)


def test_escape_sequences_and_markup_come_out_literal() -> None:
    out = safe_text("\x1b]0;pwn\x07[bold]x[/]")
    assert out == f"{REPLACEMENT}]0;pwn{REPLACEMENT}[bold]x[/]"


def test_bidi_controls_cannot_reorder_text() -> None:
    assert safe_text("layer\u202e.weight\u2066") == f"layer{REPLACEMENT}.weight{REPLACEMENT}"


def test_ordinary_names_are_untouched() -> None:
    for name in ("layers.0.attn.q_proj.weight", "блок.1.вес", "层.权重", "emb 😀", "a[0]"):
        assert safe_text(name) == name


def test_long_names_are_capped_with_an_ellipsis() -> None:
    assert safe_text("x" * 5000) == "x" * 199 + "…"
    assert safe_text("abc", limit=2) == "a…" and len(safe_text("y" * 50, limit=10)) == 10


def test_lone_surrogates_become_printable() -> None:
    out = safe_text("a\ud800b")
    assert out == f"a{REPLACEMENT}b" and out.encode("utf-8")


@given(st.text(alphabet=st.sampled_from([*UNSAFE, "a", "é", "[", "]", " "]), max_size=300))
def test_no_unsafe_character_survives(text: str) -> None:
    out = safe_text(text, limit=1000)
    assert not set(out) & set(UNSAFE)
    assert len(out) == len(text)
    out.encode("utf-8")  # printable without raising


def test_non_strings_are_shown_as_text() -> None:
    assert safe_text(42) == "42" and safe_text(None) == "None"


def test_invisible_characters_are_shown_as_escapes() -> None:
    assert safe_text("a\u200bb") == "a\\u200bb"
    assert safe_text("x\ufeffy\u2060") == "x\\ufeffy\\u2060"
    assert safe_text("t\U000e0041") == "t\\U000e0041"
    assert safe_text("p\u2028q\u2029") == "p\\u2028q\\u2029"
    assert safe_text("a\u200b" * 500, limit=50).endswith("…")
    assert len(safe_text("a\u200b" * 500, limit=50)) == 50

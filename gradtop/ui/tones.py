"""Tone names used by the pure builders, mapped to Textual theme styles in one place."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.content import Content

TONE_STYLE: dict[str, str] = {
    "": "",
    "bold": "bold",
    "title": "bold $text-accent",
    "ok": "$text-success",
    "muted": "$text-muted",
    "info": "$text-primary",
    "code": "$text-secondary",
    "warning": "bold $text-warning",
    "error": "bold $text-error",
    "warning-reverse": "bold $text-warning on $warning-muted",
    "error-reverse": "bold $text-error on $error-muted",
}


def fragments_to_content(fragments: Iterable[tuple[str, str]]) -> Content:
    """Plain text with styles by tone: the text is never parsed as markup."""
    return Content.assemble(*((text, TONE_STYLE.get(tone, "")) for text, tone in fragments))


def lines_to_content(lines: Sequence[Sequence[tuple[str, str]]]) -> Content:
    return Content("\n").join(fragments_to_content(line) for line in lines)

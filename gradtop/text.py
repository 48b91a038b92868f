"""Make text from a log file safe to show in a terminal or a CI log.

Layer names, run ids and model names come from a file anyone can write. Printed raw, an
ESC byte starts a terminal control sequence (retitle the window, hide text, fake a
prompt), bidi controls reorder what a reader sees ("Trojan source"), and a lone
surrogate makes ``print`` raise. ``safe_text`` turns all of those into a visible
replacement character and caps the length, so the result is inert, printable data.
Invisible characters (zero-width spaces and joiners, U+2060, the BOM, tag characters,
line and paragraph separators, format characters in general) would let one layer name
pose as another; they are shown as their escape, ``\u200b``, so two names that look
alike on screen are told apart.

It does not escape Rich/Textual markup: that is the UI's job (build ``Text(s)`` or
``Content(s)``, never markup strings). Plain-text output such as ``gradtop check``
needs nothing more than this.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"
ELLIPSIS = "…"
DEFAULT_LIMIT = 200


def _unsafe_code_points() -> dict[int, str]:
    ranges = [
        (0x00, 0x1F),  # C0 controls, ESC (0x1B) and BEL (0x07) included
        (0x7F, 0x9F),  # DEL and the C1 controls (0x9B is a one-byte CSI on some terminals)
        (0x202A, 0x202E),  # bidi embeddings and overrides
        (0x2066, 0x2069),  # bidi isolates
        (0x200E, 0x200F),  # left-to-right / right-to-left marks
        (0x061C, 0x061C),  # Arabic letter mark
        (0xD800, 0xDFFF),  # lone surrogates: unencodable, printing them raises
    ]
    return {cp: REPLACEMENT for lo, hi in ranges for cp in range(lo, hi + 1)}


_TABLE = _unsafe_code_points()


def safe_text(s: object, limit: int = DEFAULT_LIMIT) -> str:
    """``s`` as inert, printable text of at most ``limit`` characters.

    Controls, bidi overrides and surrogates become U+FFFD; a longer string is cut and
    ends with an ellipsis, so a hostile 10 MB layer name cannot flood a screen.
    """
    text = s if isinstance(s, str) else str(s)
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    # Fast path: everything printable (isprintable() is False for every unsafe class).
    if text.isprintable():
        return text
    text = text.translate(_TABLE)
    if not text.isprintable():  # invisible characters are left: show their escapes
        text = "".join(c if c.isprintable() else _escape(c) for c in text)
        if len(text) > limit:
            text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def _escape(c: str) -> str:
    cp = ord(c)
    return f"\\u{cp:04x}" if cp <= 0xFFFF else f"\\U{cp:08x}"

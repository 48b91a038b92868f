"""Number, time and shape formatting for a terminal cell: short, fixed-width, never lying.

Kept free of Textual so every rule (NaN is never shown as a blank, missing is never shown
as zero, widths do not jitter as values change) is tested without an app.
"""

from __future__ import annotations

import math

from rich.cells import cell_len, get_character_cell_size

MISSING = "—"


def fmt_num(value: float | None, digits: int = 2) -> str:
    """Scientific notation (gradient norms span 20 decades); NaN/Inf spelt out."""
    if value is None:
        return MISSING
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{digits}e}"


def fmt_loss(value: float | None) -> str:
    """Losses read better in plain notation when they are in a human range."""
    if value is None or not math.isfinite(value):
        return fmt_num(value)
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        return fmt_num(value)
    return f"{value:.4g}"


def fmt_frac(value: float | None) -> str:
    """A fraction in [0, 1] as a percentage with a fixed width."""
    if value is None:
        return MISSING
    if not math.isfinite(value):
        return fmt_num(value)
    return f"{100 * value:.0f}%"


def fmt_duration(seconds: float | None) -> str:
    """Compact age: 0.4s, 12s, 3m05s, 2h03m, 4d02h."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, sec = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def fmt_rate(per_second: float | None) -> str:
    if per_second is None or not math.isfinite(per_second) or per_second <= 0:
        return "? steps/s"
    if per_second >= 100:
        return f"{per_second:.0f} steps/s"
    if per_second >= 1:
        return f"{per_second:.1f} steps/s"
    return f"{per_second:.2f} steps/s"


def fmt_shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def fmt_count(n: int) -> str:
    """Thousands separated, so 1234567 reads at a glance."""
    return f"{n:,}"


def fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover - loop always returns


def ellipsize(text: str, width: int) -> str:
    """Fit ``text`` in ``width`` terminal cells, cutting from the left with an ellipsis.

    The end of a layer path (``…blocks.11.attn.qkv``) says the most. Widths are cells, not
    characters, so double-width names never push the next column out of line.
    """
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    kept: list[str] = []
    used = 1  # the ellipsis
    for ch in reversed(text):
        w = get_character_cell_size(ch)
        if used + w > width:
            break
        kept.append(ch)
        used += w
    return "…" + "".join(reversed(kept))

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


def shorten_name(name: str, width: int) -> str:
    """A dotted layer name in ``width`` cells, keeping what tells layers apart.

    Cutting from the left makes ``encoder.layers.0.self_attn.in_proj_weight`` and
    ``encoder.layers.11.self_attn.in_proj_weight`` both ``…lf_attn.in_proj_weight``. What
    differs between layers is the index and the last components, so whole components
    are dropped instead, least telling first, and each run of dropped ones becomes one
    ``…``: ``layers.11…in_proj_weight``, ``h.11…c_proj.weight``. A name without an index
    keeps its end (``ellipsize``), as before.
    """
    if width <= 0:
        return ""
    if cell_len(name) <= width:
        return name
    parts = name.split(".")
    numeric = [p.isdigit() for p in parts[:-1]]
    if True not in numeric or "" in parts:
        return ellipsize(name, width)
    first_index, last = numeric.index(True), len(parts) - 1

    def rank(i: int) -> int:
        """How telling part ``i`` is: higher is kept longer."""
        if i == first_index:
            return 60  # the layer number
        if i == last - 1:
            return 50  # attn in attn.weight, c_proj in c_proj.weight
        if numeric[i]:
            return 40  # a nested index: the 0 in blocks.3.0
        if numeric[i + 1]:
            return 30  # the name of an index: h in h.11, layers in layers.11
        return 20 if i > first_index else 10  # the middle, then the shared prefix

    def fits(kept: list[bool]) -> bool:
        return cell_len(_join_kept(parts, kept)) <= width

    kept = [True] * len(parts)
    order = sorted((i for i in range(last) if i != first_index), key=lambda i: (rank(i), i))
    for i in order:  # ties: leftmost first
        kept[i] = False
        if fits(kept):
            break
    for i in reversed(order):  # dropping a long part may leave room for a short one
        if not kept[i]:
            kept[i] = True
            kept[i] = fits(kept)
    if fits(kept):
        return _join_kept(parts, kept)
    # Only the index and the last part, and still too long: cut the last from the left.
    head = _join_kept(parts, [i == first_index for i in range(last)] + [False])
    room = width - cell_len(head)
    if room >= 6:
        return head + ellipsize(parts[last], room + 1)[1:]
    return ellipsize(name, width)


def _join_kept(parts: list[str], kept: list[bool]) -> str:
    """The kept parts joined by dots, each run of dropped ones shown as one ``…``."""
    out = ""
    for i, (part, keep) in enumerate(zip(parts, kept, strict=True)):
        if keep:
            out += ("." if out and not out.endswith("…") else "") + part
        elif i == 0 or kept[i - 1]:
            out += "…"
    return out

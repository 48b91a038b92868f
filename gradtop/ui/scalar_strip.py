"""The line of user scalars under the loss plot: each ``log(**scalars)`` series' newest
value and a sparkline of its run, in the order the run first logged them.

Pure. The values are ``RunHistory.user_scalars()`` (what ``gradtop check`` prints), so
the dashboard and ``check`` never disagree; names come from the file, so they go through
``safe_text``. What does not fit is counted, never silently dropped.
"""

from __future__ import annotations

from gradtop.history import RunHistory
from gradtop.text import safe_text
from gradtop.ui.format import fmt_loss
from gradtop.ui.loss_summary import resample
from gradtop.ui.series import scalar_series
from gradtop.ui.sparkline import linear_sparkline

Fragment = tuple[str, str]
SPARK = 10  # cells of each scalar's sparkline
HINT = "  v plots one"
GAP = "   "


def scalar_names(run: RunHistory | None) -> list[str]:
    """The scalars ``v`` cycles through, first-logged first."""
    return [] if run is None else list(run.user_scalars())


def scalar_strip(run: RunHistory | None, width: int, shown: str | None = None) -> list[Fragment]:
    """[] without user scalars (the strip is then hidden); else as many as fit ``width``
    cells, then "+N more (v)"; ``shown``, the one the loss plot draws, is marked."""
    newest = {} if run is None else run.user_scalars()
    if run is None or not newest:
        return []
    items: list[list[Fragment]] = []
    for name, value in newest.items():
        series, _smooth = scalar_series(run, name)
        glyphs = linear_sparkline(resample(series.values, SPARK), SPARK)
        tone = "bold reverse" if name == shown else "bold"
        items.append([(safe_text(name, 40), tone), (f" {fmt_loss(value)} ", ""), (glyphs, "info")])

    def cells(frags: list[Fragment]) -> int:
        return sum(len(t) for t, _ in frags)

    out: list[Fragment] = []
    for i, item in enumerate(items):
        rest = len(items) - i - 1
        more = f"{GAP}+{rest} more (v)" if rest else ""
        if cells(out) + (len(GAP) if out else 0) + cells(item) + len(more) > width:
            if not out:  # not even one with its count: say what there is
                return [(f"{len(items)} scalars logged (v shows each)", "muted")]
            out.append((f"{GAP}+{len(items) - i} more (v)", "muted"))
            return out
        if out:
            out.append((GAP, ""))
        out.extend(item)
    if cells(out) + len(HINT) <= width:
        out.append((HINT, "muted"))
    return out

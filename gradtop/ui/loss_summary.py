"""What the compact layout's one-line loss says: value, sparkline, trend, lr, NaN/Inf.

At 80x24 there is no room for the loss plot, but the loss is the first thing a user
checks. Pure (numpy and strings) so what the line claims (the trend's percentage and
span, the non-finite step) is tested against the numbers; ``loss_line.LossLine`` only
shows it. Every claim is measured: the trend compares the smoothed loss (the EMA the
plot draws) now with the same curve a stated number of steps back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gradtop.text import safe_text
from gradtop.ui.format import fmt_count, fmt_loss
from gradtop.ui.series import Series
from gradtop.ui.sparkline import auto_range, linear_sparkline, log_sparkline

Fragment = tuple[str, str]
TREND_POINTS = 50  # points of the smoothed loss the trend looks back over
FLAT = 0.01  # a relative change below this reads as flat
MIN_SPARK = 8


@dataclass(frozen=True)
class LossNow:
    """Where the loss stands, for every place that names it (plot title, loss line)."""

    newest: str | None  # the newest finite loss, formatted; None before the first
    nonfinite_since: int | None  # NaN/Inf on every logged step since this one: the loss now
    nonfinite_at: int | None  # the first NaN/Inf, when finite values came after it
    nonfinite_more: bool  # more than one NaN/Inf step was logged


def loss_now(loss: Series) -> LossNow:
    """After a NaN/Inf the last finite value is history, not the current loss: say which."""
    bad = loss.bad_steps
    last = float(loss.steps[-1]) if len(loss) else -math.inf
    newest = fmt_loss(float(loss.values[-1])) if len(loss) else None
    if bad.size and float(bad.max()) > last:
        return LossNow(newest, int(bad[bad > last].min()), None, bad.size > 1)
    return LossNow(newest, None, int(bad[0]) if bad.size else None, bad.size > 1)


def resample(values: np.ndarray, width: int) -> np.ndarray:
    """The whole run in at most ``width`` points, each the mean of its span of steps."""
    if width <= 0 or values.size == 0:
        return np.zeros(0)
    if values.size <= width:
        return values
    return np.array([chunk.mean() for chunk in np.array_split(values, width)])


def trend(loss: Series, smooth: np.ndarray) -> tuple[str, str]:
    """("↓ 12% in 50 steps", tone) from the smoothed loss; ("", "") with too few points."""
    n = min(len(smooth), TREND_POINTS + 1)
    if n < 3:
        return "", ""
    now, then = float(smooth[-1]), float(smooth[-n])
    span = int(loss.steps[-1] - loss.steps[-n])
    if span <= 0 or not (math.isfinite(now) and math.isfinite(then)):
        return "", ""
    steps = f"in {fmt_count(span)} steps"
    if then > 0:
        change = (now - then) / then
        if abs(change) < FLAT:
            return f"→ flat {steps}", "muted"
        arrow, tone = ("↓", "ok") if change < 0 else ("↑", "warning")
        return f"{arrow} {abs(change):.0%} {steps}", tone
    if now == then:
        return f"→ flat {steps}", "muted"
    return (f"↓ {steps}", "ok") if now < then else (f"↑ {steps}", "warning")


def loss_line(
    loss: Series,
    smooth: np.ndarray,
    lr: Series,
    width: int,
    *,
    log: bool,
    steps: int,
    name: str = "loss",
    hint: str = "",
) -> list[Fragment]:
    """The fragments of the line, fitted to ``width`` cells (``hint``, lr, then trend, go
    first). ``hint``: e.g. "v: 2 scalars", how to reach what this layout has no room for.

    ``name``: another scalar shown the same way (``v``); its trend has no good direction
    (accuracy should rise), so it gets no ok/warning tone."""
    label = safe_text(name, 40) + " "
    now = loss_now(loss)
    if now.newest is None:
        if now.nonfinite_since is not None:
            return [(label, "bold"), (f"✖ NaN/Inf since step {now.nonfinite_since}", "error")]
        word = "waiting for the first step" if steps == 0 else "not logged (log.log(loss=...))"
        if name != "loss" and steps:
            word = "no value yet"
        return [(label, "bold"), (word, "muted")]
    tail: list[list[Fragment]] = []
    if now.nonfinite_since is not None:
        head: list[Fragment] = [
            (label, "bold"),
            (f"✖ NaN/Inf since step {now.nonfinite_since}", "error"),
            (f", last finite {now.newest} ", "muted"),
        ]
    else:
        head = [(label, "bold"), (now.newest, "bold"), (" ", "")]
        if now.nonfinite_at is not None:
            tail.append([(f"  ✖ NaN/Inf at step {now.nonfinite_at}", "error")])
    text, tone = trend(loss, smooth)
    if name != "loss" and tone != "muted":
        tone = "info"
    if text:
        tail.append([("  " + text, tone)])
    if len(lr):
        tail.append([(f"  lr {float(lr.values[-1]):.2g}", "muted")])
    if log:
        tail.append([("  [log]", "info")])
    if hint:
        tail.append([("  " + hint, "muted")])

    def cells(frags: list[Fragment]) -> int:
        return sum(len(t) for t, _ in frags)

    # Drop the least needed parts until the sparkline keeps MIN_SPARK cells: lr, then trend.
    while tail and cells(head) + sum(cells(p) for p in tail) + MIN_SPARK > width:
        droppable = [p for p in tail if hint and p[0][0] == "  " + hint]
        droppable = (
            droppable
            or [p for p in tail if p[0][0].startswith("  lr ")]
            or [p for p in tail if not p[0][0].startswith(("  ✖", "  [log]"))]
        )
        if not droppable:
            break
        tail.remove(droppable[0])
    if cells(head) + MIN_SPARK > width and head[-1][1] == "muted":
        head[-1] = (" ", "")  # narrow: "last finite" goes before the NaN/Inf word would
    spark_w = max(0, width - cells(head) - sum(cells(p) for p in tail))
    points = resample(loss.values, spark_w)
    if log:
        scale = auto_range(points)
        glyphs = log_sparkline(points, width=len(points), scale=scale)
    else:
        glyphs = linear_sparkline(points, len(points))
    return [*head, (glyphs, "info"), *(f for p in tail for f in p)]

"""The compact layout's loss line widget (what it says: ``loss_summary``)."""

from __future__ import annotations

import numpy as np

from gradtop.history import LOSS, RunHistory
from gradtop.ui.loss_summary import loss_line
from gradtop.ui.quiet_static import QuietStatic
from gradtop.ui.scalar_strip import scalar_names
from gradtop.ui.series import EMPTY, Series, lr_series, scalar_series
from gradtop.ui.tones import fragments_to_content


class LossLine(QuietStatic):
    """Shown only in the compact layout (see gradtop.tcss); ``l`` toggles its log scale."""

    DEFAULT_CSS = """
    LossLine { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.log_scale = False
        self._loss: Series = EMPTY
        self._smooth = np.zeros(0)
        self._lr: Series = EMPTY
        self._steps = 0
        self._name = LOSS
        self._hint = ""

    def take(self, run: RunHistory | None, name: str | None = None) -> None:
        """Copy what the line needs out of the run (call with the model lock held);
        ``name``: a scalar of ``log(**scalars)`` to show instead of the loss (``v``)."""
        self._name = name or LOSS
        if run is None:
            self._loss, self._smooth, self._lr, self._steps = EMPTY, np.zeros(0), EMPTY, 0
        else:
            self._loss, self._smooth = scalar_series(run, self._name)
            self._lr = lr_series(run) if self._name == LOSS else EMPTY
            self._steps = run.steps
        # 80x24 has no strip of scalars: the line says they exist and how to see them.
        if self._name != LOSS:
            self._hint = "v: next"
        else:
            n = len(scalar_names(run))
            self._hint = f"v: {n} scalar{'s' if n > 1 else ''}" if n else ""
        self.redraw()

    def set_log_scale(self, on: bool) -> None:
        self.log_scale = on
        self.redraw()

    def redraw(self) -> None:
        width = max(20, self.size.width - 2)
        frags = loss_line(
            self._loss,
            self._smooth,
            self._lr,
            width,
            log=self.log_scale,
            steps=self._steps,
            name=self._name,
            hint=self._hint,
        )
        self.show(fragments_to_content(frags))

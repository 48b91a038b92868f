"""Every message the reader worker sends the app, named for what already happened.

State messages (the newest status wins) coalesce with ``can_replace`` so a burst of
writes cannot flood the queue; a model hand-over carries data and never coalesces.
Each names its ``source``, the file it is about (``FollowOptions.path``): a run list
follows many files with one worker each, and one file's news must not replace another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from gradtop.reader import ReaderStatus
    from gradtop.ui.model import WatchModel


@dataclass
class ModelReplaced(Message, bubble=False):
    """A freshly read model is ready to be shown (newest records first, then the backfill)."""

    model: WatchModel
    phase: str  # "latest" (newest records only) or "complete" (whole file read)


@dataclass
class ModelChanged(Message, bubble=False):
    """The shown model took in new records or the reader's status changed."""

    status: ReaderStatus | None
    source: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ModelChanged) and message.source == self.source


@dataclass
class BackfillProgressed(Message, bubble=False):
    """The full read of the file advanced to ``offset`` of ``size`` bytes."""

    offset: int
    size: int
    source: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BackfillProgressed) and message.source == self.source


@dataclass
class WakeupStarted(Message, bubble=False):
    """Following began; ``mode`` is "native" or "polling" and ``reason`` says why polling."""

    mode: str
    reason: str
    source: str = ""


@dataclass
class ReaderFailed(Message, bubble=False):
    """The worker hit an unexpected error; the app shows it instead of crashing."""

    error: str
    source: str = ""

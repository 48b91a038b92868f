"""Whether a file grows while the view is paused (and so not reading it).

A pause stops the reader, so the newest record read ages and the run would soon read
"stalled" though the writer is busy. The writer's liveness must not depend on whether
the view follows: while paused, an ``os.stat`` per header redraw (about twice a second,
no read) says whether the file still grows, and since when it stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class FileProbe:
    """Sizes of ``path`` seen since a pause began (``start``), on the app's clock."""

    path: str
    start_size: int | None = None  # at the pause (None: the file was not there)
    size: int | None = None  # at the latest look
    changed_at: float | None = None  # app clock when the size was last seen to change

    @classmethod
    def start(cls, path: str) -> FileProbe:
        size = _size(path)
        return cls(path, size, size)

    def look(self, now: float) -> None:
        size = _size(self.path)
        if size != self.size:
            self.size, self.changed_at = size, now

    @property
    def grown(self) -> int | None:
        """Bytes added since the pause; None when unknown or the file shrank or went."""
        if self.size is None or self.start_size is None or self.size < self.start_size:
            return None
        return self.size - self.start_size

    @property
    def replaced(self) -> bool:
        """Shrunk or gone since the pause: truncated, rotated or deleted."""
        return self.start_size is not None and (self.size is None or self.size < self.start_size)


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None

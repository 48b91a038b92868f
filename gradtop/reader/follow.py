"""Follow a file: a FileReader driven by a Wakeup, yielding whenever something changed.

This is the loop behind ``gradtop check --follow`` and the UI's reader worker. While
back-filling (not at the end of the file yet) it reads on without waiting, in bounded
batches; at the end it waits for a hint or a tick, then reads again. Events are only
hints: every wake-up reads to the end, whatever woke it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from gradtop.reader.file_reader import FileReader
from gradtop.reader.file_source import FileSource
from gradtop.reader.pace import READ_BYTES, TICK
from gradtop.reader.status import ReadBatch, ReaderStatus

DEFAULT_TICK = TICK
DEFAULT_BATCH_BYTES = READ_BYTES


class Follower:
    """Owns a FileReader and a Wakeup; iterate ``batches()`` from one thread."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        poll: bool | None = None,
        tick: float = DEFAULT_TICK,
        max_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        self.source = FileSource(path, poll=poll, tick=tick)
        self.reader = FileReader(self.source)
        self.wakeup = self.source.wakeup
        self.max_bytes = max_bytes
        self._stop = threading.Event()

    def batches(self, stop: threading.Event | None = None) -> Iterator[ReadBatch]:
        """Yield a batch whenever records arrive or the status changes, until stopped."""
        last: ReaderStatus | None = None
        while not self._stopped(stop):
            batch = self.reader.read(self.max_bytes)
            if batch.records or batch.status != last:
                last = batch.status
                yield batch
            if batch.status.at_eof and not self._stopped(stop):
                self.wakeup.wait()

    def stop(self) -> None:
        """Make ``batches()`` return at its next check (safe to call from another thread)."""
        self._stop.set()
        self.wakeup.wake()

    def close(self) -> None:
        self._stop.set()
        self.wakeup.close()
        self.reader.close()

    def _stopped(self, stop: threading.Event | None) -> bool:
        return self._stop.is_set() or (stop is not None and stop.is_set())

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def follow(
    path: str | os.PathLike[str],
    *,
    poll: bool | None = None,
    stop: threading.Event | None = None,
    tick: float = DEFAULT_TICK,
) -> Iterator[ReadBatch]:
    """Yield a batch whenever new data (or a status change) arrives, until ``stop`` is set.

    After setting ``stop`` from another thread the generator returns within one tick.
    """
    follower = Follower(path, poll=poll, tick=tick)
    try:
        yield from follower.batches(stop)
    finally:
        follower.close()

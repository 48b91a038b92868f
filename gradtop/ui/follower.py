"""The reader worker's body: newest records first, then the whole file, then follow.

Runs in a thread (``@work(thread=True)``), never on the event loop. It owns the reading
and the diagnosis; the app only ever sees a finished model (``ModelReplaced``) or a nudge
that the shown model grew (``ModelChanged``, coalesced). Every file fault is the reader's
to count; anything unexpected is caught here and shown, so the viewer never dies.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from gradtop.reader import FileReader, ReaderStatus, Wakeup, read_latest
from gradtop.reader.status import ERROR
from gradtop.ui.messages import (
    BackfillProgressed,
    ModelChanged,
    ModelReplaced,
    ReaderFailed,
    WakeupStarted,
)
from gradtop.ui.model import WatchModel

# Bytes per read call: bounds the time the model lock is held and keeps the app
# responsive while a large file is being caught up with.
READ_CHUNK = 1 << 20
LATEST_STEPS = 2000
# Seconds between diagnoses while following. The Diagnoser replays every new row, so
# batching loses nothing; it only bounds the viewer's CPU on wide models.
DIAGNOSE_EVERY = 1.0


@dataclass
class FollowStats:
    """Counters the app (and tests) can read: how often the worker looked at the file."""

    reads: int = 0
    paused_waits: int = 0


@dataclass
class FollowOptions:
    path: str
    poll: bool | None = None
    tick: float = 0.5
    read_chunk: int = READ_CHUNK
    diagnose_every: float = DIAGNOSE_EVERY
    latest_steps: int = LATEST_STEPS


def follow_into_app(
    options: FollowOptions,
    make_model: Callable[[], WatchModel],
    post: Callable[[Message], object],
    stop: threading.Event,
    resume: threading.Event,
    *,
    stats: FollowStats | None = None,
) -> None:
    """Read ``options.path`` until ``stop`` is set; reading waits while ``resume`` is clear."""
    try:
        _Follower(options, make_model, post, stop, stats or FollowStats()).run(resume)
    except Exception as exc:  # shown in the header; the worker must not kill the app
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        post(ReaderFailed(f"reader stopped: {last}"))


class _Follower:
    def __init__(
        self,
        options: FollowOptions,
        make_model: Callable[[], WatchModel],
        post: Callable[[Message], object],
        stop: threading.Event,
        stats: FollowStats,
    ) -> None:
        self.options = options
        self.make_model = make_model
        self.post = post
        self.stop = stop
        self.stats = stats

    def run(self, resume: threading.Event) -> None:
        options, post, stop = self.options, self.post, self.stop
        # 1. The newest records, found from the end of the file: a first frame in well
        #    under a second even when the file is gigabytes long.
        latest = read_latest(options.path, max_steps=options.latest_steps)
        if latest.records:
            quick = self.make_model()
            quick.add(latest.records)
            quick.diagnose()
            post(ModelReplaced(quick, "latest"))
        post(ModelChanged(latest.status))

        # 2. The whole file into a fresh model nobody else sees yet, then hand it over.
        reader = FileReader(options.path)
        try:
            model = self._backfill(reader)
            post(ModelReplaced(model, "complete"))
            post(ModelChanged(reader.status))
            # 3. Follow: wait for a change hint or a tick, then read to the end in chunks.
            wakeup = Wakeup(options.path, poll=options.poll, tick=options.tick)
            try:
                post(WakeupStarted(wakeup.mode, wakeup.reason))
                last: ReaderStatus | None = reader.status
                diagnosed_at = time.monotonic()
                while not stop.is_set():
                    wakeup.wait(timeout=options.tick)
                    if stop.is_set():
                        break
                    if not resume.is_set():
                        self.stats.paused_waits += 1
                        resume.wait(timeout=options.tick)
                        continue
                    last = self._catch_up(reader, model, last)
                    now = time.monotonic()
                    if model.diagnosis_due and now - diagnosed_at >= options.diagnose_every:
                        diagnosed_at = now
                        with model.lock:
                            model.diagnose()
                        post(ModelChanged(last))
            finally:
                wakeup.close()
        finally:
            reader.close()

    def _backfill(self, reader: FileReader) -> WatchModel:
        """The whole file into a fresh model; done only at the end of the file (or an error).

        A read that yields no records is no sign of the end: a 5 MiB garbage line or a
        header over one read's worth of bytes spans several reads, and stopping there
        would hand over a "complete" model that is missing most of the file.
        """
        model = self.make_model()
        while not self.stop.is_set():
            batch = reader.read(max_bytes=self.options.read_chunk)
            model.add(batch.records)
            status = batch.status
            self.post(BackfillProgressed(status.offset, status.size))
            if status.at_eof or status.state == ERROR:
                break
        model.diagnose()
        return model

    def _catch_up(
        self, reader: FileReader, model: WatchModel, last: ReaderStatus | None
    ) -> ReaderStatus:
        """Read to the end of the file in bounded chunks, nudging the app after each."""
        while True:
            batch = reader.read(max_bytes=self.options.read_chunk)
            self.stats.reads += 1
            if batch.records:
                with model.lock:
                    model.add(batch.records)
            if batch.records or batch.status != last:
                self.post(ModelChanged(batch.status))
            last = batch.status
            # As in the back-fill: a read without records (a long garbage line) is not the end.
            if batch.status.at_eof or batch.status.state == ERROR or self.stop.is_set():
                return batch.status

"""The reader worker's body: newest records first, then the whole file, then follow.

Runs in a thread (``@work(thread=True)``), never on the event loop. It owns the reading
and the diagnosis; the app only ever sees a finished model (``ModelReplaced``) or a nudge
that the shown model grew (``ModelChanged``, coalesced). Every file fault is the reader's
to count; anything unexpected is caught here and shown, so the viewer never dies.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from textual.message import Message

from gradtop.reader import (
    READ_BYTES,
    TICK,
    FileReader,
    FollowStats,
    Source,
    follow,
    is_remote,
    open_source,
    read_latest,
)
from gradtop.reader.status import ERROR
from gradtop.ui.messages import (
    BackfillProgressed,
    ModelChanged,
    ModelReplaced,
    ReaderFailed,
    WakeupStarted,
)
from gradtop.ui.model import WatchModel

LATEST_STEPS = 2000
# Seconds between findings refreshes for the screen while following. Not a diagnosis
# cadence (that is the Session's, in logged steps): a redraw rate that bounds the viewer's
# CPU on wide models; the Diagnoser replays every new row, so waiting loses nothing.
REFRESH_FINDINGS_EVERY = 1.0


@dataclass
class FollowOptions:
    path: str
    poll: bool | str | None = None  # a string polls and says why (wakeup.Poll)
    tick: float = TICK
    # Bytes per read: bounds the time the model lock is held and keeps the app
    # responsive while a large file is being caught up with.
    read_chunk: int = READ_BYTES
    refresh_findings_every: float = REFRESH_FINDINGS_EVERY
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
        post(ReaderFailed(f"reader stopped: {last}", options.path))


def _wake_on_stop(stop: threading.Event, done: threading.Event, source: Source) -> None:
    """A stop ends the source's wait at once: an ssh link being set up can take seconds
    (until ``ConnectTimeout``), and quitting must not wait for it."""
    stop.wait()  # a daemon thread: blocked until the app stops, no wake-ups before
    if not done.is_set():
        source.wake()


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
        options, post = self.options, self.post
        # 1. The newest records, found from the end of the file: a first frame in well
        #    under a second even when the file is gigabytes long. (Local files only:
        #    a file over ssh is streamed from the start, only once.)
        if not is_remote(options.path):
            latest = read_latest(options.path, max_steps=options.latest_steps)
            if latest.records:
                quick = self.make_model()
                quick.add(latest.records)
                quick.diagnose()
                post(ModelReplaced(quick, "latest"))
            post(ModelChanged(latest.status, options.path))

        # 2. The whole file into a fresh model nobody else sees yet, then hand it over.
        reader = FileReader(open_source(options.path, poll=options.poll, tick=options.tick))
        done = threading.Event()
        waker = threading.Thread(
            target=_wake_on_stop, args=(self.stop, done, reader.source), daemon=True
        )
        waker.start()
        try:
            if is_remote(options.path):  # "connecting to HOST" while ssh sets the link up
                post(ModelChanged(reader.status, options.path))
            model = self._backfill(reader)
            post(ModelReplaced(model, "complete"))
            post(ModelChanged(reader.status, options.path))
            # 3. Follow, in the shared loop: read to the end in chunks, nudging the app
            #    after each; findings refreshed at most every ``refresh_findings_every`` s.
            post(WakeupStarted(reader.source.mode, reader.source.reason, options.path))
            self._follow(reader, model, resume)
        finally:
            done.set()
            reader.close()

    def _backfill(self, reader: FileReader) -> WatchModel:
        """The whole file into a fresh model; done only at the end of the file (or an error),
        never at a read without records (``read_to_end``): that would hand over a
        "complete" model missing most of the file."""
        model = self.make_model()
        for batch in reader.read_to_end(self.options.read_chunk):
            model.add(batch.records)
            status = batch.status
            self.post(BackfillProgressed(status.offset, status.size, self.options.path))
            if status.state == ERROR or self.stop.is_set():
                break
        model.diagnose()
        return model

    def _follow(self, reader: FileReader, model: WatchModel, resume: threading.Event) -> None:
        """Until stopped; nothing is read while ``resume`` is clear (the app's pause)."""
        options = self.options
        turns = follow(
            reader,
            stop=self.stop,
            resume=resume,
            tick=options.tick,
            max_bytes=options.read_chunk,
            report_every=options.refresh_findings_every,
            stats=self.stats,
        )
        for turn in turns:
            batch = turn.batch
            if batch.records:
                with model.lock:
                    model.add(batch.records)
            if turn.changed:
                self.post(ModelChanged(batch.status, self.options.path))
            if turn.caught_up and model.diagnosis_due and turn.report_now():
                with model.lock:
                    model.diagnose()
                self.post(ModelChanged(batch.status, self.options.path))

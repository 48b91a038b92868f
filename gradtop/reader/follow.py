"""The follow loop: read a FileReader's source as it grows, wait when caught up, repeat.

The one loop behind ``gradtop check --follow``, ``gradtop watch`` and the demo. Each
turn reads one bounded batch; while back-filling (not at the end yet) it reads on
without waiting, and at the end it waits on the source (a hint or a tick), then reads
again. Events are only hints: every wake-up reads, whatever woke it.

What each consumer used to time for itself is here once:

* a rate limit for reports (``report_every``): a consumer with something to report asks
  ``turn.report_now()``; a refusal makes the loop wake when the report is due, even if
  no data comes;
* ``idle_exit``: seconds without new data, after which the loop yields a last turn
  with ``idle`` set and ends;
* pause: while ``resume`` is clear nothing is read; the loop sleeps on the event (a
  paused wait per tick, ``stats.paused_waits``), never spinning;
* ``stop``: set from any thread, then ``reader.source.wake()`` to end a wait at once
  (otherwise the loop ends within a tick).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from gradtop.reader.file_reader import FileReader
from gradtop.reader.pace import READ_BYTES, TICK
from gradtop.reader.status import ReadBatch


@dataclass
class FollowStats:
    """How often the loop looked: for a UI's health line, and for tests (no timing)."""

    reads: int = 0
    paused_waits: int = 0


class _ReportClock:
    """At most one report per ``every`` seconds; remembers a refused one to wake for it."""

    def __init__(self, every: float | None) -> None:
        self.every = every
        self.last = -math.inf
        self.held = False  # a report was refused this turn: wake when it is due

    def ask(self, now: float) -> bool:
        if self.every is None or now - self.last >= self.every:
            self.last, self.held = now, False
            return True
        self.held = True
        return False

    def wait_left(self, now: float) -> float:
        if not self.held or self.every is None:
            return math.inf
        return self.every - (now - self.last)


@dataclass
class Turn:
    """One batch of the loop and what it means for the consumer.

    ``caught_up``: the batch ended at the end of the source (the loop waits next).
    ``changed``: records arrived or the status differs from the previous turn's.
    ``idle``: ``idle_exit`` seconds passed without new data; this is the last turn.
    """

    batch: ReadBatch
    caught_up: bool
    changed: bool
    idle: bool
    _clock: _ReportClock = field(repr=False)
    # The rate limit counts from the reads, so reports keep the pace of the data.
    _read_at: float = field(repr=False)

    def report_now(self) -> bool:
        """Ask to report: True (and the rate limit restarts) when one is allowed now.

        Ask only with something to report: a False answer means "held", and the loop
        wakes when the report becomes due.
        """
        return self._clock.ask(self._read_at)


def follow(
    reader: FileReader,
    *,
    stop: threading.Event | None = None,
    resume: threading.Event | None = None,
    tick: float = TICK,
    max_bytes: int = READ_BYTES,
    report_every: float | None = None,
    idle_exit: float | None = None,
    stats: FollowStats | None = None,
) -> Iterator[Turn]:
    """Yield a ``Turn`` per read until ``stop`` is set, idle-exit is reached, or the
    consumer breaks. The caller owns ``reader`` (and closes it)."""
    stats = stats if stats is not None else FollowStats()
    clock = _ReportClock(report_every)
    source = reader.source
    prev = reader.status
    last_data = time.monotonic()
    while stop is None or not stop.is_set():
        if resume is not None and not resume.is_set():
            stats.paused_waits += 1
            resume.wait(tick)
            last_data = time.monotonic()  # a pause is not idleness
            continue
        batch = reader.read(max_bytes)
        stats.reads += 1
        status = batch.status
        now = time.monotonic()
        if batch.records or status.offset != prev.offset:
            last_data = now
        changed = bool(batch.records) or status != prev
        prev = status
        idle_left = math.inf if idle_exit is None else idle_exit - (now - last_data)
        idle = idle_left <= 0
        clock.held = False  # only a refusal during this turn shortens this turn's wait
        yield Turn(batch, status.at_eof, changed, idle, clock, now)
        if idle:
            return
        if status.at_eof and (stop is None or not stop.is_set()):
            timeout = min(tick, idle_left, clock.wait_left(now))
            source.wait(max(timeout, 0.0))

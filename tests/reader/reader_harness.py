"""Follow a file in a background thread and let a test wait for conditions with deadlines.

The following thread notifies a Condition after every batch, so a test waits exactly
until what it expects has been read (or fails after a generous deadline); there is no
sleeping and hoping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from gradtop.reader import FileReader, FileSource, ReaderStatus, follow
from gradtop.records import End, Header, Record, Step

DEADLINE = 20.0  # seconds; only ever reached when a test is about to fail

Key = tuple[str, str, int]


def key(record: Record) -> Key:
    """(kind, run_id, seq): what identifies a record the writer wrote."""
    if isinstance(record, Header):
        return ("header", record.run_id, 0)
    if isinstance(record, Step):
        return ("step", record.run_id, record.seq)
    assert isinstance(record, End)
    return ("end", record.run_id, record.seq)


def header_key(run: str) -> Key:
    return ("header", run, 0)


def step_keys(run: str, start: int, count: int) -> list[Key]:
    return [("step", run, s) for s in range(start, start + count)]


class Collector:
    """Runs the follow loop in a thread, collecting records and the latest status."""

    def __init__(self, path: Path, *, poll: bool, tick: float = 0.1) -> None:
        self.reader = FileReader(FileSource(path, poll=poll, tick=tick))
        self.tick = tick
        self.records: list[Record] = []
        self.status: ReaderStatus = self.reader.status
        self.states: list[str] = []
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for turn in follow(self.reader, stop=self._stop, tick=self.tick):
                if not turn.changed:
                    continue
                batch = turn.batch
                with self._cond:
                    self.records.extend(batch.records)
                    self.status = batch.status
                    if not self.states or self.states[-1] != batch.status.state:
                        self.states.append(batch.status.state)
                    self._cond.notify_all()
        except BaseException as exc:  # surfaced by wait_for, never swallowed
            with self._cond:
                self.error = exc
                self._cond.notify_all()

    def keys(self) -> list[Key]:
        with self._cond:
            return [key(r) for r in self.records]

    def wait_for(self, what: Callable[[Collector], bool], deadline: float = DEADLINE) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: self.error is not None or what(self), deadline)
        if self.error is not None:
            raise self.error
        assert ok, f"timed out; records={len(self.records)} status={self.status}"

    def wait_records(self, n: int) -> None:
        self.wait_for(lambda c: len(c.records) >= n)

    def close(self) -> None:
        self._stop.set()
        self.reader.source.wake()
        self._thread.join(timeout=10)
        self.reader.close()

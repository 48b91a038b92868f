"""The background writer: encoding and file I/O never happen on the training thread.

The training thread hands over jobs through a bounded queue and never waits: when the
queue is full the job is dropped and counted (the ``end`` record reports the count).
Handing over is a ``deque.append``: no lock, and no wake-up of the writer per step (a
wake-up is a context switch, about 1 ms a step on a loaded 2-CPU machine, measured
with cProfile in issue 13). The writer wakes every ``interval`` seconds, or at once
when ``batch`` records wait, and then writes everything queued. ``close()`` wakes it
and writes everything too.

What a ``kill -9`` can lose is what is queued and not yet written: the records of the
last ``interval`` seconds, and at most ``batch`` of them once the writer keeps up (at
most ``maxsize`` when it has fallen behind, e.g. a slow disk); never a half-written
line in the middle of the file. The defaults: 0.5 s and 32 records.

The writer thread owns the file descriptor and follows docs/format.md's file rules:

* one ``os.write`` per record on an ``O_APPEND`` descriptor, looping on short writes,
  so concurrent readers and a ``kill -9`` only ever see whole lines plus at most one
  trailing fragment;
* a ``\\n`` first when the file does not end with one (a previous writer died
  mid-record, or a write of ours failed half-way), so the fragment stays on its own line;
* the header again, first, whenever the file had to be (re)opened: a file that was
  deleted or replaced by name (log rotation, ``rm``) is reopened by name and is readable
  on its own;
* I/O errors (ENOSPC, EACCES, EIO, ...) warn once and count dropped records; they never
  raise into training, and writing resumes by itself when the problem goes away.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from gradtop.records import MAX_LINE_BYTES, End, encode_record


class GradtopWarning(RuntimeWarning):
    """A problem in gradtop's own logging; training is unaffected."""


@dataclass
class WarnOnce:
    """One warning per kind per logger: a full disk must not flood a training log."""

    seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, kind: str, message: str) -> None:
        with self.lock:
            if kind in self.seen:
                return
            self.seen.add(kind)
        try:
            warnings.warn(f"gradtop: {message}", GradtopWarning, stacklevel=3)
        except Exception:  # warnings configured as errors must still not reach training
            print(f"gradtop: {message}", file=sys.stderr)


# A job turns into bytes on the writer thread (waiting for its device copy, finalising
# statistics, encoding); None means "nothing to write".
Job = Callable[[], bytes | None]


@dataclass(frozen=True)
class EndJob:
    """The run's last record; its ``dropped`` is only known once everything else ran."""

    run_id: str
    seq: int
    time: float
    steps: int
    reason: str


_STOP = object()
_OPEN_NOW = object()


class RecordWriter:
    """Owns the file and a daemon thread; ``submit`` is the only call on the hot path."""

    def __init__(
        self,
        path: str,
        header: bytes,
        warn: WarnOnce,
        *,
        fsync: bool = False,
        maxsize: int = 256,
        interval: float = 0.5,
        batch: int = 32,
    ) -> None:
        self.path = path
        self.header = header
        self.warn = warn
        self.fsync = fsync
        self.dropped_full = 0  # written by the training thread only
        self.dropped_io = 0  # written by the writer thread only
        self.lost_at_close = 0  # records close() gave up waiting for (training thread)
        # Step jobs queued (training thread) and finished, written or not (writer thread):
        # what a close() that times out has to report as lost.
        self._accepted = 0
        self._finished = 0
        self._end_finished = False  # writer thread only
        self._fd: int | None = None
        self._ino: tuple[int, int] | None = None
        self._regular = False
        self._need_newline = False
        self._header_done = False
        # Appended by the training thread, popped by the writer: deque's append and
        # popleft are atomic, so neither side takes a lock for a record.
        self._items: deque[object] = deque()
        self._maxsize = max(1, int(maxsize))
        self._batch = max(1, min(int(batch), self._maxsize))
        self.interval = float(interval)
        self._wake = threading.Event()
        self.wakeups = 0  # writer thread only: how often it woke (tests read it)
        self._thread = threading.Thread(target=self._run, name="gradtop-writer", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- training thread

    def submit(self, job: Job) -> bool:
        """Queue a record; wakes the writer only when a batch is full (no lock otherwise)."""
        items = self._items
        if len(items) >= self._maxsize:
            self.dropped_full += 1
            return False
        items.append(job)
        self._accepted += 1
        if len(items) >= self._batch and not self._wake.is_set():
            self._wake.set()
        return True

    def open_now(self) -> None:
        """Open the file (and write the header) first thing, so path problems show early."""
        self._items.append(_OPEN_NOW)
        self._wake.set()

    def close(self, end: EndJob | None, timeout: float = 10.0) -> None:
        """Write ``end`` after everything queued, then stop; waits at most ``timeout`` s.

        The bound is for files that never take a write: a FIFO nobody reads (opening it
        blocks), a hung network file system. Then the records still waiting are lost,
        counted in :attr:`lost_at_close` and in the warning.
        """
        deadline = time.monotonic() + timeout
        if end is not None:
            self._items.append(end)
        self._items.append(_STOP)
        self._wake.set()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._give_up(timeout, end is not None)

    def _give_up(self, timeout: float, with_end: bool) -> None:
        lost = self._accepted - self._finished
        self.lost_at_close += lost
        what = f"{lost} step record(s)"
        if with_end and not self._end_finished:
            what += " and the end record"
        self.warn(
            "close",
            f"writer for {self.path} did not finish within close_timeout={timeout:g} s "
            f"(a FIFO nobody reads? a hung file system?); {what} were not written",
        )

    # -------------------------------------------------------------- writer thread

    def _run(self) -> None:
        items = self._items
        while True:
            self._wake.wait(self.interval)
            # Cleared before draining: a batch that fills from now on wakes us again.
            self._wake.clear()
            self.wakeups += 1
            while items:
                item = items.popleft()
                if item is _STOP:
                    self._close_fd()
                    return
                try:
                    self._handle(item)
                finally:
                    if isinstance(item, EndJob):
                        self._end_finished = True
                    elif item is not _OPEN_NOW:
                        self._finished += 1

    def _handle(self, item: object) -> None:
        try:
            data = None if item is _OPEN_NOW else self._render(item)
        except Exception as exc:  # a bug of ours: count, warn once, keep going
            self.dropped_io += 1
            self.warn("internal", f"could not encode a record ({type(exc).__name__}: {exc})")
            return
        try:
            if data is None:
                self._ensure_open()  # "open now", or a job with nothing to write
            else:
                self._write_record(data)
        except Exception as exc:  # never let the writer thread die
            self.dropped_io += 1
            self.warn("internal", f"could not write a record ({type(exc).__name__}: {exc})")

    def _render(self, item: object) -> bytes | None:
        if isinstance(item, EndJob):
            end = End(
                run_id=item.run_id,
                seq=item.seq,
                time=item.time,
                steps=item.steps,
                reason=item.reason,
                dropped=self.dropped_full + self.dropped_io,
            )
            return encode_record(end.to_json())
        return item()  # type: ignore[operator]

    def _write_record(self, data: bytes) -> None:
        if len(data) > MAX_LINE_BYTES:
            # Still written (jq and pandas read it), but gradtop's reader skips it as
            # "overlong": say so here, where the cause is, rather than only in the viewer.
            self.warn(
                "overlong",
                f"a record of {len(data):,} bytes exceeds the {MAX_LINE_BYTES:,}-byte line "
                "limit of gradtop's reader, which will skip it; log fewer parameters "
                "(e.g. only some modules) or leave hist off",
            )
        if not self._ensure_open() or not self._write(data):
            self.dropped_io += 1

    def _ensure_open(self) -> bool:
        """An open descriptor whose file starts our run with the header; False if not."""
        if self._fd is not None and self._replaced():
            self.warn("reopen", f"{self.path} was deleted or replaced; reopened it by name")
            self._close_fd()
        if self._fd is None and not self._open():
            return False
        if not self._header_done:
            self._header_done = self._write(self.header)
        return self._header_done

    def _open(self) -> bool:
        try:
            parent = os.path.dirname(self.path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            self._io_error(exc)
            return False
        self._fd = fd
        self._header_done = False
        try:
            st = os.fstat(fd)
            self._regular = stat.S_ISREG(st.st_mode)
            self._ino = (st.st_dev, st.st_ino)
            # A previous writer killed mid-record left a fragment: keep it on its own line.
            fragment = self._regular and st.st_size > 0 and not _ends_in_newline(self.path)
            self._need_newline = fragment
        except OSError as exc:
            self._io_error(exc)
        return True

    def _replaced(self) -> bool:
        """True when our descriptor no longer is the file at ``path`` (rm, rotation)."""
        if not self._regular or self._fd is None:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return (st.st_dev, st.st_ino) != self._ino

    def _write(self, data: bytes) -> bool:
        """One os.write per record (looping only on short writes); False on failure."""
        assert self._fd is not None
        prefixed = self._need_newline
        if prefixed:
            data = b"\n" + data
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                n = os.write(self._fd, view[written:])
                if n <= 0:
                    raise OSError(errno.EIO, "write returned 0")
                written += n
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            # Part of a line may have landed: the next record starts on a fresh line.
            if written > (1 if prefixed else 0):
                self._need_newline = True
            elif prefixed and written == 1:
                self._need_newline = False  # only our separating newline landed
            self._io_error(exc)
            if exc.errno in (errno.EBADF, errno.ESTALE):
                self._close_fd()
            return False
        self._need_newline = False
        return True

    def _io_error(self, exc: OSError) -> None:
        self.warn(
            "io",
            f"cannot write {self.path} ({exc.strerror or exc}); training continues, "
            "records are dropped and counted until writing works again",
        )

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _ends_in_newline(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"
    except OSError:  # unreadable (write-only permissions): assume the worst, add a newline
        return False

"""FileSource: the bytes appended to a local file since the last look, whatever happened to it.

It behaves like ``tail -F`` (coreutils), hardened the way log shippers are:

* Truncation (copytruncate): the size dropped below what was read, confirmed by reading
  at the old end (a stale ``stat`` on a network filesystem must not cause a re-read),
  or bytes already read changed: the first KiB, or the 64 bytes just before the offset
  (truncated and regrown past the old offset between two looks, which a size check
  alone misses). Either way: ``Restart(TRUNCATED)``, then from 0 again.
* Rotation or replacement (rename + recreate, delete + recreate): the path now names
  another inode. The old descriptor is read to its end first, then
  ``Restart(REPLACED)`` and the new file from 0, so nothing written before the switch
  is lost.
* Deletion: the open descriptor is still read (a writer may still append to the
  unlinked file) with state "deleted", until a new file appears at the path.
* A missing file or missing parent directory is state "waiting", never an error.

Waiting is a ``Wakeup`` (file events as hints plus a tick), created on the first
``wait``: a one-shot ``gradtop check`` never waits, so it never imports watchdog.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gradtop.reader.pace import CHUNK_BYTES, TICK
from gradtop.reader.source import REPLACED, TRUNCATED, Restart
from gradtop.reader.status import DELETED, ERROR, FOLLOWING, WAITING

if TYPE_CHECKING:  # the watcher (and watchdog) load on the first wait, not on import
    from gradtop.reader.wakeup import Wakeup

FINGERPRINT_BYTES = 1024  # like Filebeat's file identity: the first KiB of content
TAIL_BYTES = 64  # and the bytes just before the offset: a rewritten header can match
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_GONE = (FileNotFoundError, NotADirectoryError)
# A descriptor that will never work again (NFS stale handle): reopen by name next time.
_STALE_ERRNOS = {errno.EBADF, errno.ENXIO, getattr(errno, "ESTALE", errno.EBADF)}


def pread(fd: int, n: int, offset: int) -> bytes:
    """Positional read; seek + read where the platform lacks ``os.pread`` (Windows)."""
    if hasattr(os, "pread"):
        return os.pread(fd, n, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, n)


class FileSource:
    """A local file followed by name (a ``Source``). Never raises on file problems.

    ``poll``: True polls (``--poll``), False insists on events, None decides by the
    filesystem. ``tick``: seconds a ``wait`` lasts without a hint.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        poll: bool | str | None = None,
        tick: float = TICK,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.path = os.fspath(path)
        self.poll = poll
        self.tick = tick
        self._chunk = max(1, chunk_bytes)
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None  # (st_dev, st_ino) of the file read last
        self._pos = 0  # bytes read from the current file
        self._fingerprint = b""  # the first min(pos, FINGERPRINT_BYTES) bytes of it
        self._tail = b""  # the last min(pos, TAIL_BYTES) bytes read from it
        self._restart: str | None = None  # an identity change not yielded yet
        self._state = WAITING
        self._size = 0
        self._at_eof = False
        self._message = ""
        self._wakeup: Wakeup | None = None
        # The first wait must not block: a read came before the watch started (what
        # changed since raised no event), or a wake() came before there was a watch.
        self._wake_first = False
        self._closed = False
        self._wait_lock = threading.Lock()

    # ------------------------------------------------------------------ Source

    @property
    def name(self) -> str:
        return self.path

    @property
    def state(self) -> str:
        return self._state

    @property
    def message(self) -> str:
        return self._message

    @property
    def size(self) -> int:
        return self._size

    @property
    def offset(self) -> int:
        return self._pos

    @property
    def at_eof(self) -> bool:
        return self._at_eof

    @property
    def mode(self) -> str:
        """Asking starts the watcher: whoever asks is about to follow the file."""
        return self.wakeup.mode

    @property
    def reason(self) -> str:
        return self.wakeup.reason

    @property
    def wakeup(self) -> Wakeup:
        """The file watcher, started on first use (tests read its counters)."""
        with self._wait_lock:
            if self._wakeup is None:
                from gradtop.reader.wakeup import Wakeup

                self._wakeup = Wakeup(self.path, poll=self.poll, tick=self.tick)
                if self._wake_first:
                    self._wakeup.wake()
                if self._closed:
                    self._wakeup.close()
            return self._wakeup

    def wait(self, timeout: float | None = None) -> bool:
        return self.wakeup.wait(timeout)

    def wake(self) -> None:
        with self._wait_lock:
            if self._wakeup is None:  # nothing to wake yet: the first wait must not block
                self._wake_first = True
                return
            wakeup = self._wakeup
        wakeup.wake()

    def read(self, max_bytes: int | None = None) -> Iterator[bytes | Restart]:
        budget = max_bytes if max_bytes is not None and max_bytes > 0 else None
        self._at_eof = False
        self._wake_first = True
        try:
            yield from self._read(budget)
        except OSError as exc:  # EIO, ESTALE, ...: report it and try again next call
            self._state = ERROR
            self._message = f"read error: {exc.strerror or exc}"
            self._at_eof = True
            if self._fd is not None and exc.errno in _STALE_ERRNOS:
                self._close_fd()

    def close(self) -> None:
        with self._wait_lock:
            self._closed = True
            wakeup = self._wakeup
        if wakeup is not None:
            wakeup.close()
        self._close_fd()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def _read(self, budget: int | None) -> Iterator[bytes | Restart]:
        if self._fd is None:
            opened = self._open()
            if self._restart is not None:
                yield self._take_restart()
            if not opened:
                self._at_eof = True
                return
        while True:
            self._check_truncation()
            if self._restart is not None:
                yield self._take_restart()
            fd, spent = self._fd, 0
            assert fd is not None
            while budget is None or spent < budget:
                want = self._chunk if budget is None else min(self._chunk, budget - spent)
                data = pread(fd, want, self._pos)
                if not data:
                    break
                if self._pos < FINGERPRINT_BYTES and self._pos == len(self._fingerprint):
                    self._fingerprint += data[: FINGERPRINT_BYTES - self._pos]
                if len(data) >= TAIL_BYTES:
                    self._tail = data[-TAIL_BYTES:]
                else:
                    self._tail = (self._tail + data)[-TAIL_BYTES:]
                self._pos += len(data)
                spent += len(data)
                yield data
            else:
                return  # budget used up; the caller comes back for more
            if budget is not None:
                budget = max(budget - spent, 1)
            # At the end of this file: has the path moved on to another file?
            switched = self._follow_name()
            if self._restart is not None:
                yield self._take_restart()
            if not switched:
                self._at_eof = True
                return

    def _take_restart(self) -> Restart:
        kind, self._restart = self._restart, None
        assert kind is not None
        return Restart(kind)

    # ------------------------------------------------------------------ file identity

    def _open(self) -> bool:
        """Open the path; a different inode than before means a new file, read from 0."""
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except _GONE:
            self._state = WAITING if self._ident is None else DELETED
            return False
        except OSError as exc:
            return self._fail(f"cannot open: {exc.strerror or exc}")
        try:
            st = os.fstat(fd)
        except OSError as exc:
            os.close(fd)
            return self._fail(f"cannot stat: {exc.strerror or exc}")
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            return self._fail(f"cannot read: {kind}")
        ident = (st.st_dev, st.st_ino)
        if ident != self._ident:
            if self._ident is not None:
                self._message = (
                    "file appeared again: following it"
                    if self._state == DELETED
                    else "file replaced: following the new file"
                )
                self._restart_position(REPLACED)
            self._ident = ident
        if self._state == ERROR:
            self._message = "file readable again"
        self._fd = fd
        self._size = st.st_size
        self._state = FOLLOWING
        return True

    def _follow_name(self) -> bool:
        """At the end of the open file: switch if the path names another file now.

        Returns True when a new file was opened (the caller reads it at once).
        """
        try:
            st = os.stat(self.path)
        except _GONE:
            if self._state != DELETED:
                self._state = DELETED
                self._message = "file deleted: waiting for it to reappear"
            return False
        except OSError:
            return False  # e.g. EACCES on a parent directory: keep reading what is open
        if (st.st_dev, st.st_ino) == self._ident:
            if self._state == DELETED:  # the same inode linked back (rare, but not a new file)
                self._state = FOLLOWING
            return False
        self._close_fd()
        return self._open()

    def _check_truncation(self) -> None:
        assert self._fd is not None
        fd = self._fd
        size = os.fstat(fd).st_size
        self._size = size
        if size < self._pos:
            # A stale size (network filesystems) must not cause a re-read: the bytes just
            # before our offset must really be gone before truncation is declared.
            if not pread(fd, 1, self._pos - 1):
                self._truncated("file truncated: reading from the start")
            return
        # Truncated and regrown past our offset between two looks: the size says nothing,
        # but bytes we have already read changed (at the start, or just before the offset
        # when the same header was written again).
        head, tail = self._fingerprint, self._tail
        if (head and pread(fd, len(head), 0) != head) or (
            tail and pread(fd, len(tail), self._pos - len(tail)) != tail
        ):
            self._truncated("file truncated and rewritten: reading from the start")

    def _truncated(self, message: str) -> None:
        self._message = message
        self._restart_position(TRUNCATED)

    def _restart_position(self, kind: str) -> None:
        self._restart = kind
        self._pos = 0
        self._fingerprint = b""
        self._tail = b""

    def _fail(self, message: str) -> bool:
        self._state = ERROR
        self._message = message
        return False

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None

"""FileReader: the records appended to a file since the last look, whatever the file went through.

It behaves like ``tail -F`` (coreutils), hardened the way log shippers are:

* Only ``\\n``-terminated lines are parsed; a half-written line waits for its newline.
* Truncation (copytruncate): the size dropped below what was read, confirmed by reading
  at the old end (a stale ``stat`` on a network filesystem must not cause a re-read),
  or bytes already read changed: the first KiB, or the 64 bytes just before the offset
  (truncated and regrown past the old offset between two looks, which a size check
  alone misses). Either way: read from 0 again.
* Rotation or replacement (rename + recreate, delete + recreate): the path now names
  another inode. The old descriptor is read to its end first, then the new file is
  followed from 0, so nothing written before the switch is lost.
* Deletion: the open descriptor is still read (a writer may still append to the
  unlinked file) with state "deleted", until a new file appears at the path.
* A missing file or missing parent directory is state "waiting", never an error.

Every read returns what is new; nothing is kept per line, so memory does not grow with
the file. ``read(max_bytes)`` bounds one call's work so that a UI worker stays
responsive while it back-fills a large file.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter

from gradtop.reader.decode import RecordDecoder
from gradtop.reader.lines import LineSplitter
from gradtop.reader.status import (
    DELETED,
    ERROR,
    FOLLOWING,
    WAITING,
    ReadBatch,
    ReaderStatus,
)
from gradtop.records import MAX_LINE_BYTES, Record

CHUNK_BYTES = 1 << 20
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


class FileReader:
    """Synchronous and pure: each ``read()`` returns the complete, valid records appended since
    the previous call. Never raises on file problems; it counts them in ``status``.

    Not thread-safe: one thread (e.g. a UI worker) owns a reader.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.path = os.fspath(path)
        self._chunk = max(1, chunk_bytes)
        self._splitter = LineSplitter(max_line_bytes)
        self._decoder = RecordDecoder(max_line_bytes)
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None  # (st_dev, st_ino) of the file read last
        self._pos = 0  # bytes read from the current file
        self._fingerprint = b""  # the first min(pos, FINGERPRINT_BYTES) bytes of it
        self._tail = b""  # the last min(pos, TAIL_BYTES) bytes read from it
        self._state = WAITING
        self._records = 0
        self._incomplete = 0
        self._truncations = 0
        self._rotations = 0
        self._size = 0
        self._at_eof = False
        self._message = ""

    # ------------------------------------------------------------------ public

    def read(self, max_bytes: int | None = None) -> ReadBatch:
        """Records completed since the last call, reading at most about ``max_bytes`` bytes."""
        out: list[Record] = []
        budget = max_bytes if max_bytes is not None and max_bytes > 0 else None
        try:
            self._read(out, budget)
        except OSError as exc:  # EIO, ESTALE, ...: report it and try again next call
            self._state = ERROR
            self._message = f"read error: {exc.strerror or exc}"
            self._at_eof = True
            if self._fd is not None and exc.errno in _STALE_ERRNOS:
                self._close()
        self._records += len(out)
        return ReadBatch(out, self.status)

    @property
    def status(self) -> ReaderStatus:
        skipped = Counter(self._decoder.skipped)
        skipped["overlong"] += self._splitter.overlong
        skipped["incomplete"] += self._incomplete
        return ReaderStatus(
            path=self.path,
            state=self._state,
            records=self._records,
            skipped={k: v for k, v in skipped.items() if v},
            truncations=self._truncations,
            rotations=self._rotations,
            offset=self._pos - self._splitter.pending,
            size=self._size,
            at_eof=self._at_eof,
            message=self._message,
            version_error=self._decoder.version_error,
            partial=self._splitter.pending,
        )

    def close(self) -> None:
        self._close()

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def _read(self, out: list[Record], budget: int | None) -> None:
        self._at_eof = False
        if self._fd is None and not self._open():
            self._at_eof = True
            return
        while True:
            self._check_truncation()
            spent, at_eof = self._read_to_eof(out, budget)
            if not at_eof:
                return  # budget used up; the caller comes back for more
            if budget is not None:
                budget = max(budget - spent, 1)
            # At the end of this file: has the path moved on to another file?
            if not self._follow_name():
                self._at_eof = True
                return

    def _read_to_eof(self, out: list[Record], budget: int | None) -> tuple[int, bool]:
        assert self._fd is not None
        fd, spent = self._fd, 0
        decode, append = self._decoder.decode, out.append
        while budget is None or spent < budget:
            want = self._chunk if budget is None else min(self._chunk, budget - spent)
            data = pread(fd, want, self._pos)
            if not data:
                return spent, True
            if self._pos < FINGERPRINT_BYTES and self._pos == len(self._fingerprint):
                self._fingerprint += data[: FINGERPRINT_BYTES - self._pos]
            if len(data) >= TAIL_BYTES:
                self._tail = data[-TAIL_BYTES:]
            else:
                self._tail = (self._tail + data)[-TAIL_BYTES:]
            self._pos += len(data)
            spent += len(data)
            lines = self._splitter.feed(data)
            nul = self._splitter.nul_lines
            for i, line in enumerate(lines):
                had_nul = bool(nul) and i in nul
                if line or had_nul:
                    record = decode(line, had_nul)
                    if record is not None:
                        append(record)
        return spent, False

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
                self._rotations += 1
                self._message = (
                    "file appeared again: following it"
                    if self._state == DELETED
                    else "file replaced: following the new file"
                )
            self._restart_position()
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
        self._close()
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
        self._truncations += 1
        self._message = message
        self._restart_position()

    def _restart_position(self) -> None:
        if self._splitter.reset():
            self._incomplete += 1
        self._pos = 0
        self._fingerprint = b""
        self._tail = b""

    def _fail(self, message: str) -> bool:
        self._state = ERROR
        self._message = message
        return False

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None

"""Bytes, as they arrive from a growing file, into complete lines.

Only a line that ends with ``\\n`` is complete: a writer may be in the middle of one
(``os.write`` of a large record can land in pieces for a reader), so the unfinished
tail is held until its newline arrives. Two hostile inputs are handled here because
they are about bytes, not records:

* NUL bytes, which appear where a copytruncate left a stale writer's offset behind (a
  sparse hole) or where a crash left unwritten blocks. They are dropped and each run is
  counted once, so the record that follows a hole is still read.
* An overlong line. Holding it would let one line grow memory without bound, so once
  the unfinished tail passes the cap it is dropped, counted, and everything up to the
  next newline is discarded as it arrives.

Memory is bounded by the cap plus one chunk, whatever the file's length.
"""

from __future__ import annotations

import re

from gradtop.records import MAX_LINE_BYTES

NUL_RUN = re.compile(rb"\x00+")


class LineSplitter:
    """Incremental splitter: ``feed`` chunks in file order, get the lines they complete."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self.nul_runs = 0
        self.overlong = 0
        self._pending = b""
        self._discarding = False
        self._in_nul_run = False  # a NUL run that spans two chunks is counted once

    @property
    def pending(self) -> int:
        """Bytes of the unfinished last line being held (0 while discarding)."""
        return len(self._pending)

    @property
    def discarding(self) -> bool:
        return self._discarding

    def reset(self) -> int:
        """Forget the unfinished tail (the file was truncated or replaced).

        Returns how many bytes of a half-written line were dropped (0 if none).
        """
        dropped = len(self._pending)
        self._pending = b""
        self._discarding = False
        self._in_nul_run = False
        return dropped

    def feed(self, data: bytes) -> list[bytes]:
        """The complete lines (without ``\\n``) that ``data`` finishes, oldest first.

        A returned line may still be longer than ``max_line`` when it completed within
        one chunk; the decoder checks the length before parsing.
        """
        if not data:
            return []
        if b"\0" in data:
            data = self._drop_nuls(data)
        else:
            self._in_nul_run = False
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return []
            data = data[newline + 1 :]
            self._discarding = False
        if self._pending:
            data = self._pending + data
        lines = data.split(b"\n")
        tail = lines.pop()
        if len(tail) > self.max_line:
            self._pending = b""
            self._discarding = True
            self.overlong += 1
        else:
            self._pending = tail
        return lines

    def _drop_nuls(self, data: bytes) -> bytes:
        runs = sum(1 for _ in NUL_RUN.finditer(data))
        if self._in_nul_run and data[0] == 0:
            runs -= 1
        self.nul_runs += runs
        self._in_nul_run = data[-1] == 0
        return NUL_RUN.sub(b"", data)

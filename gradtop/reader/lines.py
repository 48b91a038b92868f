"""Bytes, as they arrive from a growing file, into complete lines.

Only a line that ends with ``\\n`` is complete: a writer may be in the middle of one
(``os.write`` of a large record can land in pieces for a reader), so the unfinished
tail is held until its newline arrives. Two hostile inputs are handled here because
they are about bytes, not records:

* NUL bytes, which appear where a copytruncate left a stale writer's offset behind (a
  sparse hole) or where a crash left unwritten blocks. They are dropped, so the record
  that follows a hole is still read, and the lines they were in are marked: the decoder
  counts such a line as a ``nul`` skip only if it is unusable, and then only once.
* An overlong line. Holding it would let one line grow memory without bound, so once
  the unfinished tail passes the cap it is dropped, counted, and everything up to the
  next newline is discarded as it arrives.

Memory is bounded by the cap plus one chunk, whatever the file's length.
"""

from __future__ import annotations

from gradtop.records import MAX_LINE_BYTES


class LineSplitter:
    """Incremental splitter: ``feed`` chunks in file order, get the lines they complete."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self.overlong = 0
        self.nul_lines: list[int] = []
        self._pending = b""
        self._pending_nul = False  # NULs were dropped from the unfinished tail
        self._discarding = False

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
        self._pending_nul = False
        self._discarding = False
        return dropped

    def feed(self, data: bytes) -> list[bytes]:
        """The complete lines (without ``\\n``) that ``data`` finishes, oldest first.

        A returned line may still be longer than ``max_line`` when it completed within
        one chunk; the decoder checks the length before parsing. Afterwards
        :attr:`nul_lines` holds the positions (in the returned list) of the lines NUL
        bytes were dropped from: a line is skipped, or not, once, whatever it held.
        """
        self.nul_lines = []
        if not data:
            return []
        pieces = data.split(b"\n")
        if self._discarding:
            if len(pieces) == 1:
                return []
            pieces = pieces[1:]
            self._discarding = False
        any_nul = b"\0" in data
        lines: list[bytes] = []
        last = len(pieces) - 1
        for i, raw in enumerate(pieces):
            had_nul = any_nul and b"\0" in raw
            line = raw.replace(b"\0", b"") if had_nul else raw
            if i == 0:
                line = self._pending + line
                had_nul = had_nul or self._pending_nul
            if i < last:
                if had_nul:
                    self.nul_lines.append(len(lines))
                lines.append(line)
            elif len(line) > self.max_line:
                self._pending, self._pending_nul = b"", False
                self._discarding = True
                self.overlong += 1
            else:
                self._pending, self._pending_nul = line, had_nul
        return lines

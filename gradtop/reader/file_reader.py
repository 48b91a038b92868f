"""FileReader: the record layer. Bytes from a Source into complete, valid records and a status.

* Only ``\\n``-terminated lines are parsed; a half-written line waits for its newline
  (lines.py), and is dropped, counted as ``incomplete``, when the source restarts
  (truncation, another file) before it is finished.
* Each line is decoded and checked against its run's header (decode.py); every problem
  is counted by reason, never raised.

Where the bytes come from, and what happened to the file, is the Source's business
(file_source.py for a local file): a remote stream or a pipe is another Source, read by
this same class. Every read returns what is new; nothing is kept per line, so memory
does not grow with the file. ``read(max_bytes)`` bounds one call's work so that a UI
worker stays responsive while it back-fills a large file.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

from gradtop.reader.decode import RecordDecoder
from gradtop.reader.file_source import FileSource
from gradtop.reader.lines import LineSplitter
from gradtop.reader.pace import CHUNK_BYTES, READ_BYTES
from gradtop.reader.source import REPLACED, Restart, Source
from gradtop.reader.status import ReadBatch, ReaderStatus
from gradtop.records import MAX_LINE_BYTES, Record


class FileReader:
    """Synchronous: each ``read()`` returns the complete, valid records the source has
    delivered since the previous call. Never raises on file problems; it counts them in
    ``status``.

    ``source`` is a path (a ``FileSource`` is made for it, reading ``chunk_bytes`` per
    system call) or any ``Source``; the reader owns it and closes it. Named for the
    common case. Not thread-safe: one thread (e.g. a UI worker) owns a reader.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | Source,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        if isinstance(source, str | os.PathLike):
            source = FileSource(source, chunk_bytes=chunk_bytes)
        self.source: Source = source
        self._splitter = LineSplitter(max_line_bytes)
        self._decoder = RecordDecoder(max_line_bytes)
        self._records = 0
        self._incomplete = 0
        self._truncations = 0
        self._rotations = 0

    @property
    def path(self) -> str:
        return self.source.name

    # ------------------------------------------------------------------ public

    def read(self, max_bytes: int | None = None) -> ReadBatch:
        """Records completed since the last call, reading at most about ``max_bytes`` bytes."""
        out: list[Record] = []
        append, decode, splitter = out.append, self._decoder.decode, self._splitter
        for piece in self.source.read(max_bytes):
            if isinstance(piece, Restart):  # the stream starts again at 0
                if splitter.reset():
                    self._incomplete += 1
                if piece.kind == REPLACED:
                    self._rotations += 1
                else:
                    self._truncations += 1
                continue
            lines = splitter.feed(piece)
            nul = splitter.nul_lines
            for i, line in enumerate(lines):
                had_nul = bool(nul) and i in nul
                if line or had_nul:
                    record = decode(line, had_nul)
                    if record is not None:
                        append(record)
        self._records += len(out)
        return ReadBatch(out, self.status)

    def read_to_end(self, max_bytes: int = READ_BYTES) -> Iterator[ReadBatch]:
        """Bounded batches up to the end of what is there now; the last one is at EOF.

        A batch without records is no sign of the end: a long garbage line or a header
        wider than one read spans several reads, so only the status says when to stop.
        """
        while True:
            batch = self.read(max_bytes)
            yield batch
            if batch.status.at_eof:
                return

    @property
    def status(self) -> ReaderStatus:
        skipped = Counter(self._decoder.skipped)
        skipped["overlong"] += self._splitter.overlong
        skipped["incomplete"] += self._incomplete
        source = self.source
        return ReaderStatus(
            path=source.name,
            state=source.state,
            records=self._records,
            skipped={k: v for k, v in skipped.items() if v},
            truncations=self._truncations,
            rotations=self._rotations,
            offset=source.offset - self._splitter.pending,
            size=source.size,
            at_eof=source.at_eof,
            message=source.message,
            version_error=self._decoder.version_error,
            partial=self._splitter.pending,
        )

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

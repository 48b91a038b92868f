"""What a reader reports: the records it decoded and the state of the file it follows.

Both are frozen snapshots so that a UI worker thread can hand them to the UI thread
without sharing mutable state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from gradtop.records import Record

WAITING = "waiting"  # no file at the path yet (or its parent directory is missing)
FOLLOWING = "following"
DELETED = "deleted"  # the file was unlinked; still read through the open descriptor
ERROR = "error"  # the path exists but cannot be read (permissions, a directory, I/O error)
STATES = (WAITING, FOLLOWING, DELETED, ERROR)

# Skip reasons, in the order a summary lists them.
SKIP_REASONS = (
    "invalid_json",
    "schema",
    "version",
    "orphan",
    "overlong",
    "nul",
    "encoding",
    "incomplete",
)


@dataclass(frozen=True)
class ReaderStatus:
    """Where a reader stands; every problem with the file shows up here, never as an exception.

    ``skipped`` counts lines (or NUL runs, or abandoned half-lines) by reason:
    ``invalid_json``, ``schema``, ``version`` (a run refused for its newer major format),
    ``orphan`` (a record whose run header was never seen), ``overlong``, ``nul`` (one per
    run of NUL bytes, e.g. from copytruncate with a stale writer), ``encoding`` (not
    UTF-8) and ``incomplete`` (a half-written last line dropped because the file was
    truncated or replaced before its newline arrived).
    """

    path: str
    state: str
    records: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    truncations: int = 0
    rotations: int = 0
    offset: int = 0  # bytes of complete lines consumed in the current file
    size: int = 0  # the current file's size at the last look
    at_eof: bool = False
    message: str = ""  # the latest notice, e.g. "file truncated: reading from the start"
    version_error: str = ""  # non-empty when a newer major format version was refused
    partial: int = 0  # bytes of a half-written last line waiting for its newline

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


@dataclass(frozen=True)
class ReadBatch:
    """The complete, valid records found by one read, in file order, plus the status after it."""

    records: list[Record]
    status: ReaderStatus

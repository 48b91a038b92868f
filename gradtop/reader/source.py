"""Where the bytes of a log come from: the one thing a new transport has to provide.

A ``Source`` knows bytes and waiting, nothing about lines or records. ``FileReader``
(the record layer: line splitting, decoding, skip counts) reads any Source, and the
follow loop (follow.py) waits on it, so a stream from a remote host or a pipe is one new
class here, with no change to the record layer, to ``check`` or to the viewer.

What a Source must say about identity: when the bytes that follow no longer continue
the bytes before them (the file was truncated, or the path now names another file), it
yields a ``Restart`` first, so that the record layer drops a half-line instead of
gluing it to the start of the new stream. A stream that can never restart (a pipe)
simply never yields one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

TRUNCATED = "truncated"  # the same file, cut short (copytruncate) or rewritten: from 0 again
REPLACED = "replaced"  # another file now (rotation, delete + recreate): from its 0


@dataclass(frozen=True, slots=True)
class Restart:
    """The bytes after this one start a new stream at offset 0; ``kind`` says why."""

    kind: str  # TRUNCATED or REPLACED


@runtime_checkable
class Source(Protocol):
    """Byte batches plus identity changes, its state, and how to wait for more.

    ``read`` never raises for the source's own problems: it ends the batch and reports
    them in ``state`` and ``message`` (the states of ``gradtop.reader.status``). One
    thread reads and waits; ``wake`` and ``close`` may be called from any thread.
    """

    @property
    def name(self) -> str:
        """What the user named (a path); shown in every status."""
        ...

    @property
    def state(self) -> str:
        """WAITING, FOLLOWING, DELETED or ERROR (gradtop.reader.status)."""
        ...

    @property
    def message(self) -> str:
        """The latest notice, e.g. "file truncated: reading from the start"."""
        ...

    @property
    def size(self) -> int:
        """Bytes in the current stream at the last look (0 when unknown)."""
        ...

    @property
    def offset(self) -> int:
        """Bytes yielded from the current stream (since its last ``Restart``)."""
        ...

    @property
    def at_eof(self) -> bool:
        """The last ``read`` reached the end of what is there (the caller may wait)."""
        ...

    @property
    def mode(self) -> str:
        """How ``wait`` learns of new bytes: "native" (events) or "polling"."""
        ...

    @property
    def reason(self) -> str:
        """Why it polls, when it does ("" otherwise)."""
        ...

    def read(self, max_bytes: int | None = None) -> Iterator[bytes | Restart]:
        """New bytes, in order, about ``max_bytes`` at most (None: to the end)."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Until new bytes may be there (True: a hint) or ``timeout`` (default a tick)."""
        ...

    def wake(self) -> None:
        """End the current or next ``wait`` at once (e.g. to stop from another thread)."""
        ...

    def close(self) -> None: ...

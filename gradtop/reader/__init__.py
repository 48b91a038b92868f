"""Reading a gradtop log that is being written, rotated, truncated or mangled.

No torch, no Textual. The pieces, each in its own module:

* ``FileReader`` (file_reader.py): synchronous; each ``read(max_bytes)`` returns the
  complete, valid records appended since the last call and a ``ReaderStatus``. It never
  raises on file problems; it counts them.
* ``Wakeup`` (wakeup.py): file events as hints plus a tick; polling on network
  filesystems, on ``--poll`` and on inotify limits; a dead observer is replaced.
* ``follow`` / ``Follower`` (follow.py): the two together, yielding on every change.
* ``read_latest`` (latest.py): the newest run's header and newest steps of a big file,
  read backwards, so a viewer can show something at once and back-fill later.

Refinements of the API contract (all additive): ``ReaderStatus.partial`` (bytes of a
half-written last line), the skip reason ``incomplete`` (such a half-line dropped by a
truncation or a file switch), ``FileReader(max_line_bytes=, chunk_bytes=)``,
``Wakeup(on_hint=)`` plus its ``wake()``, ``restarts``, ``hints``, ``ticks``,
``observer`` and ``watched``, and the ``Follower`` class behind ``follow``.

Feed the records to ``gradtop.history.History.extend``; FileReader has already checked
each step against its run's parameter count.
"""

from __future__ import annotations

from gradtop.reader.file_reader import FileReader
from gradtop.reader.follow import Follower, follow
from gradtop.reader.latest import read_latest
from gradtop.reader.status import ReadBatch, ReaderStatus
from gradtop.reader.wakeup import Wakeup

__all__ = [
    "FileReader",
    "Follower",
    "ReadBatch",
    "ReaderStatus",
    "Wakeup",
    "follow",
    "read_latest",
]

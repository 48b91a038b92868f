"""Reading a gradtop log that is being written, rotated, truncated or mangled.

No torch, no Textual. Bytes, records and waiting are separate layers, each in its own
module:

* ``Source`` (source.py): byte batches plus identity changes (``Restart``), a state,
  and how to wait for more. ``FileSource`` (file_source.py) is a local file followed by
  name like ``tail -F``; ``SshSource`` (ssh_source.py) is a file on another host,
  streamed over the user's ssh. ``open_source(FILE)`` picks one for what the user typed.
* ``FileReader`` (file_reader.py): the record layer over a Source (or a path). Each
  ``read(max_bytes)`` returns the complete, valid records delivered since the last call
  and a ``ReaderStatus``; ``read_to_end`` reads what is there now in bounded batches.
  It never raises on file problems; it counts them.
* ``Wakeup`` (wakeup.py): file events as hints plus a tick; polling on network
  filesystems, on ``--poll`` and on inotify limits; a dead observer is replaced.
  FileSource starts one on its first wait, so watchdog is imported only by a follower.
* ``follow`` (follow.py): the one follow loop, behind ``check --follow``, ``watch`` and
  the demo: a ``Turn`` per batch, with the rate limit, idle exit and pause in one place.
* ``read_latest`` (latest.py): the newest run's header and newest steps of a big file,
  read backwards, so a viewer can show something at once and back-fill later.
* ``READ_BYTES``, ``TICK`` (pace.py): how much every loop reads at once, how often it looks.

Feed the records to ``gradtop.history.History.extend``; FileReader has already checked
each step against its run's parameter count.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from gradtop.reader.file_reader import FileReader
from gradtop.reader.file_source import FileSource
from gradtop.reader.follow import FollowStats, Turn, follow
from gradtop.reader.latest import read_latest
from gradtop.reader.pace import READ_BYTES, TICK
from gradtop.reader.source import REPLACED, TRUNCATED, Restart, Source
from gradtop.reader.ssh_source import SshSource, parse_remote
from gradtop.reader.status import ReadBatch, ReaderStatus

if TYPE_CHECKING:
    from gradtop.reader.wakeup import Wakeup

__all__ = [
    "READ_BYTES",
    "REPLACED",
    "TICK",
    "TRUNCATED",
    "FileReader",
    "FileSource",
    "FollowStats",
    "ReadBatch",
    "ReaderStatus",
    "Restart",
    "Source",
    "SshSource",
    "Turn",
    "Wakeup",
    "follow",
    "is_remote",
    "open_source",
    "read_latest",
]


def open_source(
    spec: str | os.PathLike[str],
    *,
    poll: bool | str | None = None,
    tick: float = TICK,
    follow: bool = True,
) -> Source:
    """The Source for a FILE argument: ``[user@]host:path`` over ssh, else a local file.

    Which is which: ``ssh_source.parse_remote`` (a local file that exists wins; ``./a:b``
    is local). ``follow=False`` is a one-shot read: a failed link is final, not retried.
    ``poll`` only concerns a local file (the host is always asked every ``tick``).
    """
    text = os.fspath(spec)
    remote = parse_remote(text)
    if remote is None:
        return FileSource(text, poll=poll, tick=tick)
    return SshSource(remote, tick=tick, follow=follow)


def is_remote(spec: str | os.PathLike[str]) -> bool:
    """Whether ``open_source`` would stream ``spec`` over ssh."""
    return parse_remote(os.fspath(spec)) is not None


def __getattr__(name: str) -> Any:
    """``Wakeup`` imports watchdog, which a one-shot ``gradtop check`` never needs."""
    if name == "Wakeup":
        from gradtop.reader.wakeup import Wakeup

        return Wakeup
    raise AttributeError(f"module 'gradtop.reader' has no attribute {name!r}")

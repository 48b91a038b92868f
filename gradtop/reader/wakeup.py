"""When to look at the file again: file events as hints, plus a regular tick.

Events are only hints. inotify coalesces, overflows (``IN_Q_OVERFLOW`` is never handled
by watchdog), says nothing on network filesystems, and an exception in a handler kills
the observer thread silently (watchdog #427, #793). So the reader reads to the end on
every hint AND on every tick, and this class:

* watches the nearest existing ancestor directory (the file, or even its parent
  directory, may not exist yet) and moves the watch closer as directories appear;
* polls (tick only) on network filesystems, on ``--poll``, and when inotify runs out of
  watches or instances (ENOSPC/EMFILE), saying why in ``reason``;
* checks on every wait that the observer and its emitters are alive, and replaces them
  if not;
* runs a handler that catches everything and only sets an event (and calls the
  optional ``on_hint``, e.g. a Textual ``post_message``, which is thread-safe).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from gradtop.reader.filesystems import filesystem_type, is_remote, nearest_existing_dir
from gradtop.reader.pace import TICK

NATIVE = "native"
POLLING = "polling"
MAX_RESTARTS = 20  # a watcher that dies this often is not worth restarting: poll

# Our own opens and reads must not wake us, so IN_OPEN / IN_ACCESS are left out.
_EVENTS: list[type[FileSystemEvent]] = [
    FileModifiedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
_LIMIT_REASONS = {
    errno.ENOSPC: "inotify watch limit reached",
    errno.EMFILE: "inotify instance limit reached",
}


class _HintHandler(FileSystemEventHandler):
    """Runs in the observer thread: must never raise, or the observer dies."""

    def __init__(self, wakeup: Wakeup) -> None:
        super().__init__()
        self._wakeup = wakeup

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._wakeup._on_event(event)
        except Exception:  # a hint is worth less than a live observer
            self._wakeup._hinted.set()


# True polls (``--poll``); a string polls and is the reason shown ("run list: ...");
# False insists on file events; None decides by the filesystem.
Poll = bool | str | None


class Wakeup:
    """File-change hints plus a tick. ``mode`` is "native" or "polling"; ``reason`` says why."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        poll: Poll = None,
        tick: float = TICK,
        on_hint: Callable[[], object] | None = None,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.tick = tick
        self.mode = NATIVE
        self.reason = ""
        self.restarts = 0  # observers found dead and replaced
        self.hints = 0  # relevant file events received
        self.ticks = 0  # waits that ended without a hint
        self._on_hint = on_hint
        self._hinted = threading.Event()
        self._lock = threading.Lock()
        self._observer: BaseObserver | None = None
        self._watched = ""
        self._handler = _HintHandler(self)
        self._closed = False
        if poll:
            self._use_polling(poll if isinstance(poll, str) else "--poll")
            return
        if poll is None:
            fstype = filesystem_type(nearest_existing_dir(self.path))
            if fstype is not None and is_remote(fstype):
                self._use_polling(f"{fstype} filesystem: file events do not cross the network")
                return
        self._start_observer()

    @property
    def observer(self) -> BaseObserver | None:
        """The watchdog observer in use (None when polling); exposed for health checks."""
        return self._observer

    @property
    def watched(self) -> str:
        """The directory being watched ("" when polling)."""
        return self._watched

    def wait(self, timeout: float | None = None) -> bool:
        """Return on a hint (True) or after one tick (False); ``timeout`` overrides the tick.

        A new or replaced watch counts as a hint: whatever happened before it started
        produced no event, so the caller must read once more right away.
        """
        self._maintain()
        hinted = self._hinted.wait(self.tick if timeout is None else timeout)
        self._hinted.clear()
        if not hinted:
            self.ticks += 1
        return hinted

    def wake(self) -> None:
        """End the current ``wait`` now (e.g. from another thread that wants to stop)."""
        self._hinted.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stop_observer()
        self._hinted.set()

    def __enter__(self) -> Wakeup:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ observer

    def _on_event(self, event: FileSystemEvent) -> None:
        if not (self._relevant(event.src_path) or self._relevant(event.dest_path)):
            return
        self.hints += 1
        self._hinted.set()
        if self._on_hint is not None:
            with contextlib.suppress(Exception):  # the caller's callback must not kill us
                self._on_hint()

    def _relevant(self, raw: str | bytes) -> bool:
        if not raw:
            return False
        p = os.fsdecode(raw)
        return p == self.path or self.path.startswith(p.rstrip(os.sep) + os.sep)

    def _maintain(self) -> None:
        """Replace a dead observer; move the watch when a nearer ancestor appears."""
        if self.mode != NATIVE:
            return
        with self._lock:
            if self._closed:
                return
            observer = self._observer
            alive = (
                observer is not None
                and observer.is_alive()
                and bool(observer.emitters)
                and all(e.is_alive() for e in observer.emitters)
            )
            target = nearest_existing_dir(self.path)
            if alive and target == self._watched:
                return
            if not alive:
                self.restarts += 1
            self._stop_observer()
            if self.restarts > MAX_RESTARTS:
                self._use_polling("the file watcher keeps failing")
                return
        if self._start_observer():
            self._hinted.set()

    def _start_observer(self) -> bool:
        target = nearest_existing_dir(self.path)
        observer: BaseObserver | None = None
        try:
            observer = Observer()
            observer.schedule(self._handler, target, recursive=False, event_filter=_EVENTS)
            observer.daemon = True
            observer.start()
        except OSError as exc:
            _stop_quietly(observer)
            self._use_polling(_LIMIT_REASONS.get(exc.errno or 0, f"file events unavailable: {exc}"))
            return False
        except Exception as exc:  # any watcher failure means: poll instead
            _stop_quietly(observer)
            self._use_polling(f"file events unavailable: {exc}")
            return False
        with self._lock:
            if self._closed:
                _stop_quietly(observer)
                return False
            self._observer = observer
            self._watched = target
            self.mode = NATIVE
        return True

    def _stop_observer(self) -> None:
        observer, self._observer, self._watched = self._observer, None, ""
        _stop_quietly(observer)

    def _use_polling(self, reason: str) -> None:
        self.mode = POLLING
        self.reason = reason


def _stop_quietly(observer: BaseObserver | None) -> None:
    if observer is None:
        return
    try:
        observer.stop()
        if observer.is_alive() and observer is not threading.current_thread():
            observer.join(timeout=2.0)
    except Exception:  # best effort: it is being replaced or closed
        pass

"""Is the process that wrote a run's header still running? (Only answerable on its host.)

The run header records the writer's ``host`` (``socket.gethostname()``, as the Logger
writes it) and ``pid``. Where the host is this machine, the pid says at once whether the
writer is gone: a viewer need not wait out the stall limit to say "dead". A pid can be
reused by a later process, so on Linux a process that started after the header was
written is not the writer (``/proc/PID/stat`` start time against the boot time). Other
hosts, pid 0 (not recorded) and anything the system will not tell give None: unknown,
and the caller falls back to judging by the records' age.

``WriterProbe`` is the probe ``gradtop.session.liveness`` takes (``writer_alive``); it
remembers a dead writer (a pid that is gone stays gone) so a list of many finished-but-
unclosed runs does not read ``/proc`` on every redraw. Containers that share a hostname
but not a pid namespace would fool it; a header from one is rare enough to accept.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

# /proc's boot time is whole seconds and a start time is in clock ticks: a process that
# wrote its header within this many seconds of starting must not look like a later one.
START_SLACK_SECONDS = 2.0


def process_alive(pid: int, started_before: float | None = None) -> bool | None:
    """Whether process ``pid`` exists on this machine (None: cannot tell).

    ``started_before``: a Unix time the process must have been running at (the header's
    time); a process of that pid that started later is another one, so the writer is
    gone. A zombie (exited, not yet reaped) is dead."""
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return None
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc (macOS): the signal said it exists
    state, start = stat
    if state in ("Z", "X"):
        return False
    if started_before is None or start is None:
        return True
    return start <= started_before + START_SLACK_SECONDS  # a later start: another process


def _proc_stat(pid: int) -> tuple[str, float | None] | None:
    """(state letter, start time as a Unix time or None) from /proc, None without /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ("X", None) if Path("/proc/self/stat").exists() else None
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces or ")": split after the last.
    fields = text.rsplit(")", 1)[-1].split()
    if len(fields) < 20:
        return None
    boot = _boot_time()
    if boot is None:
        return fields[0], None
    try:
        start = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return fields[0], None
    return fields[0], start


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


class WriterProbe:
    """``(host, pid, header_time) -> alive?`` for writers on this machine; None elsewhere."""

    def __init__(self, hostname: str | None = None) -> None:
        self.hostname = socket.gethostname() if hostname is None else hostname
        self._dead: set[tuple[int, float]] = set()

    def __call__(self, host: str, pid: int, header_time: float) -> bool | None:
        if not host or host != self.hostname or pid <= 0:
            return None
        key = (pid, header_time)
        if key in self._dead:
            return False
        alive = process_alive(pid, header_time)
        if alive is False:
            self._dead.add(key)
        return alive

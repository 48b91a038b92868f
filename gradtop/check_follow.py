"""``gradtop check --follow``: keep reading as the file grows and report what changed.

For a job log or a CI step that runs next to training. Reports are rate-limited to
about one a second (a logger writing 1000 steps/s must not flood the log); text mode
prints one line per change, ``--json`` one full summary object per change. It ends on
Ctrl-C (cleanly, no traceback) or after ``--idle-exit`` seconds without new data, then
prints the final summary (text) and exits with the same codes as a one-shot check.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

from gradtop.check import (
    EXIT_UNREADABLE,
    READ_BYTES,
    CheckOptions,
    CheckSession,
    Echo,
    exit_code,
    to_json_line,
    why_unreadable,
)
from gradtop.check_text import describe_changes, format_summary, safe
from gradtop.reader import Follower, ReaderStatus
from gradtop.reader.status import ERROR

REPORT_EVERY = 1.0  # seconds: at most about one report per second


def follow_check(options: CheckOptions, echo: Echo, echo_err: Echo) -> int:
    session = CheckSession.for_options(options)
    follower = Follower(options.path, poll=options.poll, tick=options.tick)
    watch = {"mode": follower.wakeup.mode, "reason": follower.wakeup.reason}
    if watch["mode"] == "polling" and not options.poll:  # say why, unless asked to poll
        echo_err(f"gradtop check: polling for changes ({safe(watch['reason'], 200)})")
    status: ReaderStatus = follower.reader.status
    shown: dict[str, Any] | None = None  # the last summary reported
    pending: dict[str, Any] | None = None  # a newer one, waiting for the rate limit
    last_report = -math.inf
    last_data = time.monotonic()
    fatal = False
    try:
        while True:
            batch = follower.reader.read(READ_BYTES)
            session.feed(batch.records)
            grew = batch.records or batch.status.offset != status.offset
            status = batch.status
            # A directory will never become a log: waiting for it would loop forever.
            # (Other errors, such as permissions or I/O, may clear: those are retried.)
            if status.state == ERROR and os.path.isdir(options.path):
                fatal = True
                break
            now = time.monotonic()
            if grew:
                last_data = now
            summary = session.summary(status)
            summary["watch"] = watch
            if summary != (pending or shown):
                pending = summary
            if pending is not None and now - last_report >= REPORT_EVERY:
                _report(shown, pending, options, echo)
                shown, pending, last_report = pending, None, now
            idle_left = math.inf
            if options.idle_exit is not None:
                idle_left = options.idle_exit - (now - last_data)
                if idle_left <= 0:
                    break
            if status.at_eof:
                timeout = min(options.tick, idle_left)
                if pending is not None:
                    timeout = min(timeout, REPORT_EVERY - (now - last_report))
                follower.wakeup.wait(max(timeout, 0.0))
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a user ends --follow: report and exit normally
    finally:
        follower.close()
    if fatal:
        echo_err(f"gradtop check: {why_unreadable(session, status)}")
        return EXIT_UNREADABLE
    if pending is not None:
        _report(shown, pending, options, echo)
        shown = pending
    reason = why_unreadable(session, status)
    if reason is not None:
        echo_err(f"gradtop check: {reason}")
        return EXIT_UNREADABLE
    final = shown or session.summary(status)
    if not options.as_json:
        echo(format_summary(final, options.color))
    return exit_code(final)


def _report(
    prev: Mapping[str, Any] | None, cur: Mapping[str, Any], options: CheckOptions, echo: Echo
) -> None:
    if options.as_json:
        echo(to_json_line(dict(cur)))
        return
    for line in describe_changes(prev, cur, options.color):
        echo(line)

"""``gradtop check --follow``: keep reading as the file grows and report what changed.

For a job log or a CI step that runs next to training. Reports are rate-limited to
about one a second (a logger writing 1000 steps/s must not flood the log); text mode
prints one line per change, ``--json`` one full summary object per change. It ends on
Ctrl-C (cleanly, no traceback) or after ``--idle-exit`` seconds without new data, then
prints the final summary (text) and exits with the same codes as a one-shot check.
"""

from __future__ import annotations

import os

from gradtop.check import (
    EXIT_UNREADABLE,
    Check,
    CheckOptions,
    Echo,
    exit_code,
    to_json_line,
    why_unreadable,
)
from gradtop.check_summary import CheckSummary, WatchMode
from gradtop.check_text import describe_changes, format_summary, safe
from gradtop.reader import FileReader, ReaderStatus, follow, open_source
from gradtop.reader.status import ERROR

REPORT_EVERY = 1.0  # seconds: at most about one report per second


def follow_check(options: CheckOptions, echo: Echo, echo_err: Echo) -> int:
    check = Check.for_options(options)
    reader = FileReader(open_source(options.path, poll=options.poll, tick=options.tick))
    watch = WatchMode(reader.source.mode, reader.source.reason)
    if watch.mode == "polling" and not options.poll:  # say why, unless asked to poll
        echo_err(f"gradtop check: polling for changes ({safe(watch.reason, 200)})")
    status: ReaderStatus = reader.status
    shown: CheckSummary | None = None  # the last summary reported
    pending: CheckSummary | None = None  # a newer one, waiting for the rate limit
    fatal = False
    turns = follow(
        reader, tick=options.tick, report_every=REPORT_EVERY, idle_exit=options.idle_exit
    )
    try:
        for turn in turns:
            check.feed(turn.batch.records)
            status = turn.batch.status
            # A directory will never become a log: waiting for it would loop forever.
            # (Other errors, such as permissions or I/O, may clear: those are retried.)
            if status.state == ERROR and os.path.isdir(options.path):
                fatal = True
                break
            summary = check.summary(status, watch)
            if summary != (pending or shown):
                pending = summary
            if pending is not None and turn.report_now():
                _report(shown, pending, options, echo)
                shown, pending = pending, None
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a user ends --follow: report and exit normally
    finally:
        reader.close()
    if fatal:
        echo_err(f"gradtop check: {why_unreadable(check, status)}")
        return EXIT_UNREADABLE
    if pending is not None:
        _report(shown, pending, options, echo)
        shown = pending
    reason = why_unreadable(check, status)
    if reason is not None:
        echo_err(f"gradtop check: {reason}")
        return EXIT_UNREADABLE
    final = shown or check.summary(status)
    if not options.as_json:
        echo(format_summary(final, options.color))
    return exit_code(final)


def _report(
    prev: CheckSummary | None, cur: CheckSummary, options: CheckOptions, echo: Echo
) -> None:
    if options.as_json:
        echo(to_json_line(cur))
        return
    for line in describe_changes(prev, cur, options.color):
        echo(line)

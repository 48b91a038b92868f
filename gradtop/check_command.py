"""The ``gradtop check`` command: validate the options, then a one-shot read, ``--follow``,
or the comparison of two files.

Its own module so that the one-shot check (``gradtop.check``), the follow loop
(``gradtop.check_follow``) and the comparison (``gradtop.check_compare``), which build on
it, do not import each other.
"""

from __future__ import annotations

from gradtop.check import EXIT_UNREADABLE, FAIL_ON, CheckOptions, Echo, check_once
from gradtop.check_compare import compare_files
from gradtop.check_follow import follow_check
from gradtop.diagnosis import Thresholds


def usage_error(options: CheckOptions) -> str | None:
    """Why these options cannot run, in one line; None when they can."""
    try:
        Thresholds.from_overrides(options.thresholds)
    except ValueError as exc:
        return str(exc)
    if options.fail_on not in FAIL_ON:
        return f"--fail-on must be one of {', '.join(FAIL_ON)}"
    if options.idle_exit is not None and not options.follow:
        return "--idle-exit needs --follow (a one-shot check ends at the end of the file)"
    if options.others:
        if len(options.others) > 1:
            return "compares two files (the newest run of each), not more"
        if options.follow:
            return "--follow reads one FILE; comparing two is a one-shot check"
        if options.run_id is not None:
            return "--run picks a run in one FILE; comparing two takes the newest run of each"
    return None


def run_check(options: CheckOptions, echo: Echo, echo_err: Echo) -> int:
    """Run ``gradtop check`` and return its exit code; output goes through the echo functions."""
    error = usage_error(options)
    if error is not None:
        echo_err(f"gradtop check: {error}")
        return EXIT_UNREADABLE
    if options.follow:
        return follow_check(options, echo, echo_err)
    if options.others:
        return compare_files(options, echo, echo_err)
    return check_once(options, echo, echo_err)

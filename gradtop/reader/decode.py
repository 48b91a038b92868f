"""Complete lines into validated records, run by run.

A step record's arrays must match its run's parameter count, which only that run's
header tells, so the decoder remembers each run's count (for a bounded number of runs)
across truncations and rotations: after a copytruncate the header is gone from the
file, yet the same writer keeps appending steps of the same run.

Every problem is counted by reason and the line is dropped; nothing here raises.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from gradtop.records import (
    HEADER,
    MAX_LINE_BYTES,
    STEP,
    Header,
    Record,
    RecordError,
    end_from_json,
    header_from_json,
    parse_line,
    record_kind,
    step_from_json,
)

MAX_TRACKED_RUNS = 256


class RecordDecoder:
    """Decode lines with ``gradtop.records``, tracking run headers; count what is skipped."""

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self.max_line = max_line
        self.skipped: Counter[str] = Counter()
        self.version_error = ""
        self._n_params: OrderedDict[str, int] = OrderedDict()
        self._refused: OrderedDict[str, None] = OrderedDict()  # runs of a newer major format

    def n_params(self, run_id: str) -> int | None:
        return self._n_params.get(run_id)

    def decode(self, line: bytes, had_nul: bool = False) -> Record | None:
        """The record on ``line``, or None when it was skipped (and counted) or blank.

        ``had_nul``: NUL bytes were dropped from the line (a hole, garbage); if it is
        still unusable it counts once, as ``nul``, its first problem.
        """
        if had_nul and not line:
            self.skipped["nul"] += 1
            return None
        if len(line) > self.max_line:
            self.skipped["nul" if had_nul else "overlong"] += 1
            return None
        try:
            obj = parse_line(line)
            kind = record_kind(obj)
            if kind.name == HEADER:
                return self._header(obj, kind.error)
            if kind.error is not None:
                raise kind.error
            run_id = obj.get("run_id")
            n = self._n_params.get(run_id) if isinstance(run_id, str) else None
            if n is None:  # a whole record, of a run this reader has no header for
                self._skip_unknown_run(run_id)
                return None
            return step_from_json(obj, n) if kind.name == STEP else end_from_json(obj)
        except RecordError as exc:
            reason = skip_reason(exc, line)
            if reason:
                self.skipped["nul" if had_nul else reason] += 1
        except Exception:  # a hostile line must never reach the user as a traceback
            # e.g. OverflowError from a 400-digit integer in a legacy (bare NaN) line.
            self.skipped["nul" if had_nul else "schema"] += 1
        return None

    def _header(self, obj: dict, error: RecordError | None) -> Header:
        """A run opens; a header of a newer major format refuses its run's records."""
        if error is not None:
            run_id = obj.get("run_id")
            if error.reason == "version" and isinstance(run_id, str):
                self._refused[run_id] = None
                self._trim(self._refused)
                self._n_params.pop(run_id, None)
                self.version_error = error.detail
            raise error
        header = header_from_json(obj)
        self._refused.pop(header.run_id, None)
        self._n_params.pop(header.run_id, None)
        self._n_params[header.run_id] = len(header.params)
        self._trim(self._n_params)
        return header

    def _skip_unknown_run(self, run_id: object) -> None:
        if isinstance(run_id, str) and run_id in self._refused:
            self.skipped["version"] += 1
        elif isinstance(run_id, str):
            self.skipped["orphan"] += 1
        else:
            self.skipped["schema"] += 1

    @staticmethod
    def _trim(table: OrderedDict) -> None:
        while len(table) > MAX_TRACKED_RUNS:
            table.popitem(last=False)


def skip_reason(exc: RecordError, line: bytes) -> str:
    """The skip reason to count: invalid JSON that is not UTF-8 is an ``encoding`` problem."""
    if exc.reason != "invalid_json":
        return exc.reason
    if not line.strip():
        return ""  # a blank line carries nothing; JSON Lines readers skip it silently
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "encoding"
    return "invalid_json"

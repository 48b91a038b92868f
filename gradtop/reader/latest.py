"""Newest first: the last run's header and newest steps of a big file, read backwards.

Reading a 1 GB log from the start before showing anything would keep a user staring at
an empty screen. ``read_latest`` reads backwards from the end in chunks, collects the
newest ``max_steps`` step records of the newest run, and finds that run's header: often
the file's first line (one run per file), otherwise by scanning further back for lines
that can hold a header only. Memory is bounded by one chunk, one line and the steps
kept; the time depends on the steps kept, not on the file's length (except for a
multi-run file whose last run is huge, where the header search is a byte scan).

The UI shows this at once, then back-fills the full history with a FileReader.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Iterator
from typing import Any

from gradtop.reader.decode import skip_reason
from gradtop.reader.file_source import pread
from gradtop.reader.pace import CHUNK_BYTES
from gradtop.reader.status import ERROR, FOLLOWING, WAITING, ReadBatch, ReaderStatus
from gradtop.records import (
    END,
    HEADER,
    MAX_LINE_BYTES,
    Header,
    Record,
    RecordError,
    end_from_json,
    header_from_json,
    parse_line,
    record_kind,
    step_from_json,
)

DEFAULT_MAX_STEPS = 2000
_HEADER_NEEDLE = b'"header"'  # every header line holds it, whatever the JSON spacing


class _BackwardLines:
    """Complete lines of ``[0, end)`` newest first; ``end`` is the offset of a newline.

    Setting ``needle`` skips lines (and whole chunks) that do not contain it, which turns
    the search for a far-away header into a byte scan.
    """

    def __init__(self, fd: int, end: int, chunk: int, max_line: int) -> None:
        self.fd, self.pos, self.chunk, self.max_line = fd, end, chunk, max_line
        self.needle: bytes | None = None
        self.overlong = 0

    def __iter__(self) -> Iterator[bytes]:
        frag = b""  # the end of a line that started before ``pos``
        discarding = False  # inside an overlong line: drop bytes back to its start
        while self.pos > 0:
            start = max(0, self.pos - self.chunk)
            block = pread(self.fd, self.pos - start, start)
            self.pos = start
            if discarding:
                newline = block.rfind(b"\n")
                if newline < 0:
                    continue
                block, discarding = block[:newline], False
            data = block + frag
            if self.needle is not None and self.needle not in data:
                newline = data.find(b"\n")
                parts = [data] if newline < 0 else [data[:newline]]
            else:
                parts = data.split(b"\n")
            frag = parts[0] if start > 0 else b""
            for line in reversed(parts[1:] if start > 0 else parts):
                if self.needle is None or self.needle in line:
                    yield line
            if len(frag) > self.max_line:
                self.overlong += 1
                frag, discarding = b"", True


def _last_newline(fd: int, size: int, chunk: int) -> int:
    """Offset of the file's last ``\\n`` (-1 if none); a half-written tail is ignored."""
    pos = size
    while pos > 0:
        start = max(0, pos - chunk)
        newline = pread(fd, pos - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline
        pos = start
    return -1


def read_latest(
    path: str | os.PathLike[str],
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    chunk_bytes: int = CHUNK_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ReadBatch:
    """The newest run's header plus up to ``max_steps`` of its newest steps (and its end record).

    Never raises on file problems: a missing file gives state "waiting", an unreadable one
    "error", a newer major version ``version_error``; skipped lines are counted.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (FileNotFoundError, NotADirectoryError):
        return ReadBatch([], ReaderStatus(name, WAITING, at_eof=True))
    except OSError as exc:
        return ReadBatch([], ReaderStatus(name, ERROR, message=f"cannot open: {exc.strerror}"))
    try:
        return _read_latest(fd, name, max(0, max_steps), max(1, chunk_bytes), max_line_bytes)
    except OSError as exc:
        return ReadBatch([], ReaderStatus(name, ERROR, message=f"read error: {exc.strerror}"))
    finally:
        os.close(fd)


def _read_latest(fd: int, name: str, max_steps: int, chunk: int, max_line: int) -> ReadBatch:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        return ReadBatch([], ReaderStatus(name, ERROR, message="cannot read: not a regular file"))
    size = st.st_size
    end = _last_newline(fd, size, chunk)
    lines = _BackwardLines(fd, max(end, 0), chunk, max_line)
    skipped: Counter[str] = Counter()
    target: str | None = None
    header_obj: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = []  # newest first
    end_obj: dict[str, Any] | None = None
    for line in lines:
        obj = _parse(line, max_line, skipped)
        if obj is None:
            continue
        run_id, kind = obj.get("run_id"), record_kind(obj).name
        if not isinstance(run_id, str) or not kind:
            skipped["schema"] += 1
            continue
        if target is None:
            target = run_id
        if run_id != target:
            continue  # an interleaved record of another run: not part of the answer
        if kind == HEADER:
            header_obj = obj
            break
        if kind == END:
            if end_obj is None and not steps:
                end_obj = obj
        elif len(steps) < max_steps:
            steps.append(obj)
        if len(steps) >= max_steps and lines.needle is None:
            header_obj = _first_line_header(fd, target, max_line)
            if header_obj is not None:
                break
            lines.needle = _HEADER_NEEDLE  # from here on, only look for the header
    skipped["overlong"] += lines.overlong
    records, version_error = _decode(header_obj, steps, end_obj, skipped)
    status = ReaderStatus(
        path=name,
        state=FOLLOWING,
        records=len(records),
        skipped={k: v for k, v in skipped.items() if v},
        offset=end + 1,
        size=size,
        at_eof=True,
        version_error=version_error,
        partial=size - (end + 1),
    )
    return ReadBatch(records, status)


def _parse(line: bytes, max_line: int, skipped: Counter[str]) -> dict[str, Any] | None:
    """As FileReader does: NULs are dropped (the record after a hole is kept), and a line
    that is still unusable counts once, under ``nul`` when it held any."""
    had_nul = b"\0" in line
    if had_nul:
        line = line.replace(b"\0", b"")
        if not line:
            skipped["nul"] += 1
            return None
    if len(line) > max_line:
        skipped["nul" if had_nul else "overlong"] += 1
        return None
    try:
        return parse_line(line)
    except RecordError as exc:
        reason = skip_reason(exc, line)
        if reason:
            skipped["nul" if had_nul else reason] += 1
    except Exception:  # hostile input is counted, never raised
        skipped["nul" if had_nul else "schema"] += 1
    return None


def _first_line_header(fd: int, run_id: str, max_line: int) -> dict[str, Any] | None:
    """The common case of one run per file: its header is the first line."""
    head = pread(fd, max_line + 1, 0)
    newline = head.find(b"\n")
    if newline < 0:
        return None
    line = head[:newline].lstrip(b"\0")
    if _HEADER_NEEDLE not in line:
        return None
    try:
        obj = parse_line(line)
    except Exception:
        return None
    if record_kind(obj).name == HEADER and obj.get("run_id") == run_id:
        return obj
    return None


def _decode(
    header_obj: dict[str, Any] | None,
    steps: list[dict[str, Any]],
    end_obj: dict[str, Any] | None,
    skipped: Counter[str],
) -> tuple[list[Record], str]:
    """Validate what was collected against the header; oldest first, as in the file."""
    orphans = len(steps) + (end_obj is not None)
    if header_obj is None:
        skipped["orphan"] += orphans
        return [], ""
    try:
        error = record_kind(header_obj).error  # another format, or a newer major version
        if error is not None:
            raise error
        header: Header = header_from_json(header_obj)
    except RecordError as exc:
        skipped[exc.reason] += 1
        skipped["version" if exc.reason == "version" else "orphan"] += orphans
        return [], exc.detail if exc.reason == "version" else ""
    records: list[Record] = [header]
    n = len(header.params)
    for obj in reversed(steps):
        _append_valid(records, obj, n, skipped)
    if end_obj is not None:
        _append_valid(records, end_obj, None, skipped)
    return records, ""


def _append_valid(
    records: list[Record], obj: dict[str, Any], n: int | None, skipped: Counter[str]
) -> None:
    try:
        records.append(step_from_json(obj, n) if n is not None else end_from_json(obj))
    except RecordError as exc:
        skipped[exc.reason] += 1
    except Exception:  # e.g. OverflowError: counted like any unusable value
        skipped["schema"] += 1

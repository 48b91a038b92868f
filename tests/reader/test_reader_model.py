"""Vector-style model check: random writes, faults and reads against a model of the file.

Hypothesis drives a writer (one ``os.write`` per record on an ``O_APPEND`` descriptor,
as the Logger does) through Write / WritePartial / NewRun / Garbage / Truncate / Rotate /
Delete, and a FileReader through reads of random sizes. The model knows which file the
reader has open and how far it got, so after every read it predicts exactly which
records the reader must have returned (in order) and every skip by reason. The one
count left out is ``incomplete`` (a torn line dropped at a truncation or a file switch):
whether torn bytes were still buffered depends on the read sizes, so it is only bounded
by the number of truncations, rotations and deletions.

Every line carries a unique counter, as real records carry run ids and sequence numbers;
that is what lets the first-bytes fingerprint tell a regrown file from the old one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from gradtop.reader import FileReader
from tests.reader.gradwriter import header_line, step_line
from tests.reader.reader_harness import Key, key

MAX_LINE = 2048


@dataclass
class Item:
    """One line in a file, and what a reader must make of it."""

    record: Key | None = None  # a header or a step, if it is a record
    run: str = ""
    reasons: tuple[str, ...] = ()  # skips it causes by itself (e.g. "nul" before a record)


@dataclass
class File:
    items: list[Item] = field(default_factory=list)
    torn: bool = False  # ends with part of a record whose writer gave up on it


class ReaderModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="gradtop-model-"))
        self.path = self.dir / "run.jsonl"
        self.counter = 0
        self.fd: int | None = None
        self.current: File | None = None  # the file at the path (the writer's file)
        self.run, self.n = "r0", 2  # no header for r0: its steps are orphans
        self.partial: tuple[bytes, Key] | None = None  # unwritten rest of a torn record
        self.rotated = 0
        self.reader: FileReader | None = None
        self.reader_file: File | None = None
        self.reader_idx = 0
        self.known: set[str] = set()
        self.refused: set[str] = set()
        self.expected: list[Key] = []
        self.skips: Counter[str] = Counter()
        self.resets = 0  # truncations, rotations, deletions: each may drop one torn line
        self.got: list[Key] = []

    def teardown(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.fd is not None:
            os.close(self.fd)
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize(chunk=st.sampled_from([7, 64, 333, 4096, 1 << 20]))
    def start(self, chunk: int) -> None:
        self.reader = FileReader(self.path, max_line_bytes=MAX_LINE, chunk_bytes=chunk)

    # ------------------------------------------------------------------ writer side

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def _write(self, data: bytes) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            if self.current is None:
                self.current = File()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def _finish_partial(self) -> None:
        """The same writer carries on: the rest of the torn record completes it."""
        if self.partial is not None:
            rest, record = self.partial
            self.partial = None
            self._write(rest)
            assert self.current is not None
            self.current.items[-1] = Item(record, record[1])
            self.current.torn = False

    def _end_torn_line(self) -> None:
        """A writer that starts over ends the torn line first: it becomes one bad line."""
        if self.partial is not None:
            self.partial = None
            self._write(b"\n")
            assert self.current is not None
            self.current.items[-1] = Item(reasons=("invalid_json",))
            self.current.torn = False

    def _abandon(self) -> None:
        self.resets += 1
        if self.partial is not None:
            self.partial = None
            if self.current is not None:
                self.current.items.pop()

    def _append_item(self, item: Item) -> None:
        assert self.current is not None
        self.current.items.append(item)

    @rule(count=st.integers(1, 4))
    def write(self, count: int) -> None:
        self._finish_partial()
        for _ in range(count):
            seq = self._next()
            self._write(step_line(self.run, seq, self.n))
            self._append_item(Item(("step", self.run, seq), self.run))

    @precondition(lambda self: self.partial is None)
    @rule(cut=st.integers(1, 200))
    def write_partial(self, cut: int) -> None:
        seq = self._next()
        line = step_line(self.run, seq, self.n)
        cut = min(cut, len(line) - 2)  # never the closing brace: a torn line is never valid
        self._write(line[:cut])
        self.partial = (line[cut:], ("step", self.run, seq))
        assert self.current is not None
        self.current.items.append(Item())  # placeholder until completed or abandoned
        self.current.torn = True

    @rule(n=st.integers(1, 3), future=st.booleans())
    def new_run(self, n: int, future: bool) -> None:
        self._finish_partial()
        self.run, self.n = f"run{self._next()}", n
        version = "2.0" if future else "1.0"
        self._write(header_line(self.run, n, version=version))
        self._append_item(Item(("header", self.run, 0), self.run, ("version",) if future else ()))

    @rule(kind=st.sampled_from(["text", "schema", "encoding", "nul", "overlong"]))
    def garbage(self, kind: int) -> None:
        self._end_torn_line()
        u = self._next()
        if kind == "nul":  # a sparse hole, then a record: read, and no line skipped
            self._write(b"\0" * 50 + step_line(self.run, u, self.n))
            self._append_item(Item(("step", self.run, u), self.run))
            return
        line, reason = {
            "text": (f"garbage {u}".encode(), "invalid_json"),
            "schema": (f'{{"kind":"nope","n":{u}}}'.encode(), "schema"),
            "encoding": (b"\xff\xfe{" + str(u).encode(), "encoding"),
            "overlong": (str(u).encode() + b"o" * (MAX_LINE + 500), "overlong"),
        }[kind]
        self._write(line + b"\n")
        self._append_item(Item(reasons=(reason,)))

    @rule(regrow=st.sampled_from([0, 0, 5, 40]))
    def truncate(self, regrow: int) -> None:
        """copytruncate (the writer keeps its descriptor), maybe with a burst of steps
        right after it: regrown past the reader's offset before the reader looks."""
        if not self.path.exists():
            return
        self._abandon()
        os.truncate(self.path, 0)
        assert self.current is not None
        self.current.items.clear()
        self.current.torn = False
        if self.reader_file is self.current:
            self.reader_idx = 0
        if regrow:
            self.write(regrow)

    @rule()
    def rotate(self) -> None:
        if not self.path.exists():
            return
        self._abandon_keeping_torn_bytes()
        self.rotated += 1
        os.rename(self.path, self.dir / f"run.jsonl.{self.rotated}")
        self._close_writer()

    @rule()
    def delete(self) -> None:
        if not self.path.exists():
            return
        self._abandon_keeping_torn_bytes()
        os.unlink(self.path)
        self._close_writer()

    def _abandon_keeping_torn_bytes(self) -> None:
        """The torn bytes stay at the end of the old file; no record will complete them."""
        self.resets += 1
        self.partial = None

    def _close_writer(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.current = None

    # ------------------------------------------------------------------ reader side

    @rule(max_bytes=st.sampled_from([None, 1, 100, 5000]))
    def read(self, max_bytes: int | None) -> None:
        assert self.reader is not None
        while True:
            batch = self.reader.read(max_bytes)
            self.got += [key(r) for r in batch.records]
            if batch.status.at_eof:
                break
        self._model_read()

    def _model_read(self) -> None:
        if self.reader_file is None:
            if self.current is None:
                return
            self.reader_file, self.reader_idx = self.current, 0
        self._consume()
        if self.current is not None and self.current is not self.reader_file:
            self.reader_file, self.reader_idx = self.current, 0
            self._consume()

    def _consume(self) -> None:
        f = self.reader_file
        assert f is not None
        end = len(f.items) - (1 if f.torn else 0)
        for item in f.items[self.reader_idx : end]:
            self.skips.update(item.reasons)
            if item.record is None:
                continue
            kind, run, _ = item.record
            if kind == "header":
                if "version" in item.reasons:
                    self.refused.add(run)
                else:
                    self.known.add(run)
                    self.expected.append(item.record)
            elif run in self.known:
                self.expected.append(item.record)
            else:
                self.skips["version" if run in self.refused else "orphan"] += 1
        self.reader_idx = max(self.reader_idx, end)

    @invariant()
    def reads_match_the_model(self) -> None:
        if self.reader is None:
            return
        assert self.got == self.expected
        skipped = dict(self.reader.status.skipped)
        incomplete = skipped.pop("incomplete", 0)
        assert skipped == {k: v for k, v in self.skips.items() if v}
        assert incomplete <= self.resets


ReaderModel.TestCase.settings = settings(
    max_examples=80, stateful_step_count=30, deadline=None, print_blob=True
)
TestReaderModel = ReaderModel.TestCase

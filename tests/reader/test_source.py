"""Any Source under the record layer and the follow loop, not only a local file.

``MemorySource`` stands in for tomorrow's pipe or remote stream: bytes arrive in pieces
that split lines anywhere, and a ``Restart`` says the stream began again. FileReader and
``follow`` read it unchanged, which is the promise source.py makes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import pairwise

from gradtop.reader import (
    REPLACED,
    TRUNCATED,
    FileReader,
    FollowStats,
    Restart,
    Source,
    follow,
)
from gradtop.reader.status import FOLLOWING
from tests.reader.gradwriter import header_line, step_line
from tests.reader.reader_harness import header_key, key, step_keys

N = 3


class MemorySource:
    """Pieces queued by the test; each ``read`` delivers what is queued, then is at EOF."""

    def __init__(self) -> None:
        self.pieces: list[bytes | Restart] = []
        self.offset = 0
        self.at_eof = False
        self.waits = 0
        self.closed = False
        self._woken = threading.Event()

    name = "memory"
    state = FOLLOWING
    message = ""
    mode = "polling"
    reason = "a test source"

    @property
    def size(self) -> int:
        return self.offset

    def read(self, max_bytes: int | None = None) -> Iterator[bytes | Restart]:
        self.at_eof = False
        while self.pieces:
            piece = self.pieces.pop(0)
            if isinstance(piece, Restart):
                self.offset = 0
            else:
                self.offset += len(piece)
            yield piece
        self.at_eof = True

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return self._woken.wait(0 if timeout is None else min(timeout, 0.01))

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self.closed = True


def _cut(data: bytes, *at: int) -> list[bytes | Restart]:
    return [data[a:b] for a, b in pairwise([0, *at, len(data)])]


def test_a_memory_source_is_a_source_and_the_record_layer_reads_it() -> None:
    source = MemorySource()
    assert isinstance(source, Source)
    data = header_line("r1", N) + b"".join(step_line("r1", s, N) for s in (1, 2))
    source.pieces = _cut(data, 7, len(data) - 5)  # lines split mid-way, twice
    with FileReader(source) as reader:
        batch = reader.read()
        assert [key(r) for r in batch.records] == [header_key("r1"), *step_keys("r1", 1, 2)]
        assert batch.status.path == "memory" and batch.status.at_eof
        assert batch.status.offset == len(data) and batch.status.partial == 0
    assert source.closed, "the reader owns its source"


def test_a_restart_drops_the_half_line_and_is_counted_by_kind() -> None:
    source = MemorySource()
    head = header_line("r1", N)
    half = step_line("r1", 1, N)[:10]
    source.pieces = [head, half, Restart(TRUNCATED), step_line("r1", 2, N)]
    reader = FileReader(source)
    batch = reader.read()
    assert [key(r) for r in batch.records] == [header_key("r1"), *step_keys("r1", 2, 1)]
    assert batch.status.truncations == 1 and batch.status.skipped == {"incomplete": 1}
    source.pieces = [Restart(REPLACED), header_line("r2", 2)]
    batch = reader.read()
    assert [key(r) for r in batch.records] == [header_key("r2")]
    assert batch.status.rotations == 1 and batch.status.truncations == 1


def test_follow_over_any_source_rate_limits_reports_and_ends_when_idle() -> None:
    source = MemorySource()
    source.pieces = [header_line("r1", N)]
    reader = FileReader(source)
    stats = FollowStats()
    answers: list[bool] = []
    records = 0
    turns = follow(reader, tick=0.01, report_every=3600.0, idle_exit=0.05, stats=stats)
    for turn in turns:
        records += len(turn.batch.records)
        answers.append(turn.report_now())  # something to report on every turn
        if len(answers) == 2:
            source.pieces = [step_line("r1", 1, N)]
    assert turn.idle and turn.caught_up  # the last turn: idle-exit reached
    assert records == 2 and stats.reads == len(answers) >= 3
    assert answers[0] and not any(answers[1:]), "one report an hour at most"
    assert source.waits >= 2

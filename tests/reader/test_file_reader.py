"""FileReader, driven read by read: exact records and exact skip counts at every step.

These tests control when the reader looks, so they can pin down the cases a follow loop
only hits by chance: truncate-and-regrow between two looks, a stale writer's NUL hole,
work bounded per call, hostile lines from reliability.md §6.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from gradtop.history import History
from gradtop.reader import FileReader
from gradtop.reader.lines import LineSplitter
from tests.reader.gradwriter import Writer, header_line, step_line
from tests.reader.reader_harness import header_key, key, step_keys

N = 3


def keys_of(reader: FileReader, max_bytes: int | None = None) -> list:
    return [key(r) for r in reader.read(max_bytes).records]


def append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def steps(run: str, start: int, count: int, n: int = N) -> bytes:
    return b"".join(step_line(run, s, n) for s in range(start, start + count))


def test_missing_file_and_missing_parent_are_waiting_not_errors(tmp_path: Path) -> None:
    reader = FileReader(tmp_path / "no" / "such" / "run.jsonl")
    batch = reader.read()
    assert batch.records == [] and batch.status.state == "waiting" and batch.status.at_eof


def test_partial_line_then_rest(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("r1", N))
    reader = FileReader(path)
    assert keys_of(reader) == [header_key("r1")]
    append(path, b'{"step":1,')
    batch = reader.read()
    assert batch.records == [] and batch.status.partial == len(b'{"step":1,')
    line = step_line("r1", 1, N)
    append(path, line)  # completes '{"step":1,' + a record: one broken line, then nothing
    assert keys_of(reader) == []
    assert reader.status.skipped == {"invalid_json": 1}


def test_truncate_and_regrow_between_two_looks_is_caught_by_the_fingerprint(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("r1", N) + steps("r1", 1, 5))
    reader = FileReader(path)
    assert len(keys_of(reader)) == 6
    old_size = path.stat().st_size
    append(path, steps("r1", 6, 2))  # written, then lost to the truncation before any look
    os.truncate(path, 0)
    append(path, header_line("r2", N) + steps("r2", 1, 30))
    assert path.stat().st_size > old_size  # regrown past the old offset: size alone misses it
    assert keys_of(reader) == [header_key("r2"), *step_keys("r2", 1, 30)]
    status = reader.status
    assert status.truncations == 1 and "truncated" in status.message
    assert status.skipped == {} and status.records == 37


def test_regrow_with_the_same_header_again_is_caught_before_the_offset(tmp_path: Path) -> None:
    """A writer that truncates and writes its (identical, > 1 KiB) header again."""
    path = tmp_path / "run.jsonl"
    head = header_line("r1", 40)
    assert len(head) > 4096
    append(path, head + steps("r1", 1, 3, n=40))
    reader = FileReader(path)
    assert len(keys_of(reader)) == 4
    os.truncate(path, 0)
    append(path, head + steps("r1", 100, 10, n=40))
    assert keys_of(reader) == [header_key("r1"), *step_keys("r1", 100, 10)]
    assert reader.status.truncations == 1 and reader.status.skipped == {}


def test_stale_writer_after_copytruncate_leaves_a_nul_hole(tmp_path: Path) -> None:
    """A writer without O_APPEND keeps its offset: the file restarts with a hole of NULs."""
    path = tmp_path / "run.jsonl"
    writer = Writer(path, append=False)
    try:
        writer.header("r1", N)
        writer.steps("r1", 1, 5, N)
        reader = FileReader(path)
        assert len(keys_of(reader)) == 6
        os.truncate(path, 0)
        writer.steps("r1", 6, 2, N)
    finally:
        writer.close()
    assert path.read_bytes().startswith(b"\0" * 100)
    assert keys_of(reader) == step_keys("r1", 6, 2)
    # The hole is dropped and the record after it read: no line was lost, none skipped.
    assert reader.status.skipped == {} and reader.status.truncations == 1


def test_truncation_needs_the_bytes_to_be_really_gone(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("r1", N) + steps("r1", 1, 3))
    reader = FileReader(path)
    keys_of(reader)
    os.truncate(path, 10)  # shorter: a real truncation, confirmed by reading at the old end
    append(path, b"\n")
    assert keys_of(reader) == []
    assert reader.status.truncations == 1 and reader.status.skipped == {"invalid_json": 1}


def test_read_max_bytes_bounds_each_call_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("r1", N) + steps("r1", 1, 200))
    size = path.stat().st_size
    reader = FileReader(path, chunk_bytes=4096)
    got, calls, offset = [], 0, 0
    while True:
        batch = reader.read(max_bytes=5000)
        calls += 1
        assert batch.status.offset + batch.status.partial - offset <= 5000
        offset = batch.status.offset + batch.status.partial
        got += [key(r) for r in batch.records]
        if batch.status.at_eof:
            break
    assert calls >= size // 5000
    assert got == [header_key("r1"), *step_keys("r1", 1, 200)]


def test_newer_major_version_is_refused_with_a_message_and_its_steps_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("future", N, version="2.0") + steps("future", 1, 4))
    append(path, header_line("r1", N, version="1.7") + steps("r1", 1, 2))
    reader = FileReader(path)
    assert keys_of(reader) == [header_key("r1"), *step_keys("r1", 1, 2)]
    status = reader.status
    assert status.skipped == {"version": 5}
    assert "2.0" in status.version_error and "upgrade" in status.version_error


def test_steps_before_any_header_are_orphans(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    append(path, steps("r1", 1, 3) + header_line("r1", N) + steps("r1", 4, 1))
    reader = FileReader(path)
    assert keys_of(reader) == [header_key("r1"), *step_keys("r1", 4, 1)]
    assert reader.status.skipped == {"orphan": 3}


def test_two_interleaved_runs_are_each_checked_against_their_own_header(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("a", 2) + header_line("b", 5))
    append(path, step_line("a", 1, 2) + step_line("b", 1, 5) + step_line("a", 2, 5))
    reader = FileReader(path)
    assert keys_of(reader) == [
        header_key("a"),
        header_key("b"),
        ("step", "a", 1),
        ("step", "b", 1),
    ]
    assert reader.status.skipped == {"schema": 1}  # a's step with b's parameter count


def test_hostile_lines_are_counted_never_raised(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    hostile = [  # (line, the reason it is skipped for; "" when it is not counted)
        (b"[" * 100_000, "invalid_json"),  # nesting past orjson's limit
        (b'{"kind":"step","run_id":"r1","step":' + b"9" * 5000 + b',"time":1}', "invalid_json"),
        (b'{"kind":"step","run_id":"r1","seq":9,"step":1e400,"time":1}', "invalid_json"),
        # Duplicate keys: the last wins, so this is a header without "format".
        (b'{"kind":"step","kind":"header","run_id":"r1","seq":1,"step":1,"time":1}', "schema"),
        (b'{"kind":"step","run_id":"\\ud800","seq":1,"step":1,"time":1}', "invalid_json"),
        (b"[1, 2, 3]", "schema"),
        (b'"just a string"', "schema"),
        # A legacy line (bare NaN) with a 400-digit loss: out of range, not a crash.
        (
            b'{"kind":"step","run_id":"r1","seq":1,"step":1,"time":NaN,"loss":' + b"9" * 400 + b"}",
            "schema",
        ),
        (b"   ", ""),
        (b"", ""),
    ]
    lines = b"\n".join(line for line, _ in hostile)
    append(path, header_line("r1", N) + lines + b"\n" + steps("r1", 1, 1))
    append(path, b"y" * (10 << 20) + b"\n" + steps("r1", 2, 1))
    reader = FileReader(path)
    got = []
    while True:
        batch = reader.read(max_bytes=1 << 20)
        got += [key(r) for r in batch.records]
        if batch.status.at_eof:
            break
    assert got == [header_key("r1"), *step_keys("r1", 1, 2)]
    want = Counter(reason for _, reason in hostile if reason)
    want["overlong"] += 1  # the 10 MiB line
    assert reader.status.skipped == want


def test_windows_line_endings_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("r1", N).replace(b"\n", b"\r\n") + steps("r1", 1, 2))
    assert keys_of(FileReader(path)) == [header_key("r1"), *step_keys("r1", 1, 2)]


def test_a_directory_is_an_error_state_with_a_message(tmp_path: Path) -> None:
    batch = FileReader(tmp_path).read()
    assert batch.status.state == "error" and "directory" in batch.status.message


def test_records_feed_history_with_matching_parameter_counts(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("r1", N) + steps("r1", 1, 50))
    history = History()
    history.extend(FileReader(path).read().records)
    run = history.current
    assert run is not None and run.steps == 50 and run.last_step == 50
    assert run.stats["grad_norm"].last().shape == (N,)


def test_splitter_memory_is_capped_while_an_overlong_line_streams_in() -> None:
    splitter = LineSplitter(max_line=1000)
    chunk = b"z" * 300
    for _ in range(100):  # 30 KB without a newline
        assert splitter.feed(chunk) == []
        assert splitter.pending <= 1000
    assert splitter.feed(b"zz\nok\n") == [b"ok"]
    assert splitter.overlong == 1


def test_nul_run_spanning_chunks_counts_once(tmp_path: Path) -> None:
    """Skips count lines: the record after a 5000-byte hole (five chunks) is read and not
    counted; the line of nothing but NULs is one skipped line."""
    path = tmp_path / "run.jsonl"
    append(path, header_line("r1", N) + b"\0" * 5000 + steps("r1", 1, 1) + b"\0\0\n")
    reader = FileReader(path, chunk_bytes=1000)
    assert keys_of(reader) == [header_key("r1"), *step_keys("r1", 1, 1)]
    assert reader.status.skipped == {"nul": 1}


def test_a_utf16_file_counts_one_skip_per_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    text = (header_line("r1", N) + steps("r1", 1, 41)).decode()
    path.write_bytes(text.encode("utf-16"))
    reader = FileReader(path)
    assert keys_of(reader) == []
    # Each line once: the header (a BOM that is not UTF-8's) as "nul", the 41 steps,
    # whole JSON once their NULs are dropped, as records of a run with no header.
    assert reader.status.skipped == {"nul": 1, "orphan": 41}


def test_read_to_end_goes_past_reads_without_records_and_stops_at_eof(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    append(path, header_line("r1", N) + b"y" * 5000 + b"\n" + steps("r1", 1, 3))
    with FileReader(path) as reader:
        batches = list(reader.read_to_end(max_bytes=1000))
        assert any(not b.records for b in batches[:-1]), "the garbage line spans empty reads"
        assert [b.status.at_eof for b in batches] == [False] * (len(batches) - 1) + [True]
        got = [key(r) for b in batches for r in b.records]
        assert got == [header_key("r1"), *step_keys("r1", 1, 3)]
        assert reader.status.skipped == {"invalid_json": 1}
        append(path, steps("r1", 4, 1))  # "the end" is the end of what is there now
        assert [key(r) for b in reader.read_to_end() for r in b.records] == step_keys("r1", 4, 1)

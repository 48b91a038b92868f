"""read_latest: the newest run's header and newest steps, read backwards, bounded."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gradtop.reader import FileReader, read_latest
from tests.reader.gradwriter import header, header_line, hostile_lines, step_line
from tests.reader.reader_harness import header_key, key, step_keys

N = 3


def write(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def steps(run: str, start: int, count: int, n: int = N) -> bytes:
    return b"".join(step_line(run, s, n) for s in range(start, start + count))


def test_one_run_header_on_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write(path, header_line("r1", N) + steps("r1", 1, 3000))
    batch = read_latest(path, max_steps=100)
    assert [key(r) for r in batch.records] == [header_key("r1"), *step_keys("r1", 2901, 100)]
    assert batch.status.records == 101 and batch.status.at_eof and batch.status.skipped == {}


def test_last_run_of_several_with_its_header_far_back(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write(path, header_line("old", N) + steps("old", 1, 50))
    write(path, header_line("new", 2) + steps("new", 1, 2000, n=2))
    batch = read_latest(path, max_steps=10, chunk_bytes=4096)
    assert [key(r) for r in batch.records] == [header_key("new"), *step_keys("new", 1991, 10)]
    assert len(batch.records[0].params) == 2 and batch.status.skipped == {}


def test_half_written_tail_garbage_and_an_end_record(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    end = b'{"kind":"end","run_id":"r1","seq":9,"time":2.0,"steps":5,"reason":"closed"}\n'
    write(path, header_line("r1", N) + steps("r1", 1, 3) + b"garbage\n" + steps("r1", 4, 2))
    write(path, end + step_line("r1", 99, N)[:20])
    batch = read_latest(path)
    kinds = [key(r) for r in batch.records]
    assert kinds == [header_key("r1"), *step_keys("r1", 1, 5), ("end", "r1", 9)]
    assert batch.status.skipped == {"invalid_json": 1} and batch.status.partial == 20


def test_same_answer_as_reading_forwards_for_any_chunk_size(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write(path, header_line("a", N) + steps("a", 1, 20) + b"\0\0\0" + header_line("b", N))
    write(path, steps("b", 1, 40) + b"x" * 3000 + b"\n" + steps("b", 41, 5))
    forward = [key(r) for r in FileReader(path, max_line_bytes=2000).read().records]
    newest_b = [k for k in forward if k[1] == "b"]

    @settings(max_examples=40, deadline=None)
    @given(chunk=st.integers(1, 5000), max_steps=st.integers(0, 60))
    def check(chunk: int, max_steps: int) -> None:
        batch = read_latest(path, max_steps=max_steps, chunk_bytes=chunk, max_line_bytes=2000)
        want = [newest_b[0], *newest_b[1:][-max_steps:]] if max_steps else [newest_b[0]]
        assert [key(r) for r in batch.records] == want
        assert batch.status.skipped.get("overlong", 0) <= 1

    check()


def test_missing_empty_and_headerless_files(tmp_path: Path) -> None:
    assert read_latest(tmp_path / "none.jsonl").status.state == "waiting"
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    assert read_latest(empty).records == []
    orphans = tmp_path / "orphans.jsonl"
    write(orphans, steps("r1", 1, 4))
    batch = read_latest(orphans)
    assert batch.records == [] and batch.status.skipped == {"orphan": 4}
    assert read_latest(tmp_path).status.state == "error"


def test_newer_major_version_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write(path, header_line("r9", N, version="3.1") + steps("r9", 1, 2))
    batch = read_latest(path)
    assert batch.records == [] and "3.1" in batch.status.version_error
    assert batch.status.skipped == {"version": 3}


def test_interleaved_writers_only_the_newest_run_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    write(path, header_line("a", N) + header_line("b", N))
    for s in range(1, 6):
        write(path, step_line("a", s, N) + step_line("b", s, N))
    batch = read_latest(path)
    assert [key(r) for r in batch.records] == [header_key("b"), *step_keys("b", 1, 5)]
    os.truncate(path, path.stat().st_size - 1)  # the newest line loses its newline
    batch = read_latest(path)
    assert [key(r) for r in batch.records] == [header_key("a"), *step_keys("a", 1, 5)]


def test_hostile_lines_are_counted_and_a_hostile_newest_header_is_no_crash(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"
    write(path, header_line("r1", N) + steps("r1", 1, 3) + b"".join(hostile_lines("r1", 4, N)))
    write(path, steps("r1", 4, 2))
    batch = read_latest(path)
    assert [key(r) for r in batch.records] == [header_key("r1"), *step_keys("r1", 1, 5)]
    # The five hostile steps of r1 are counted. The end record (followed by steps, so not
    # the run's last word) and the other runs' headers are no part of the answer.
    assert batch.status.skipped == {"schema": 5}
    bad = header("r2", N)
    bad["hist_edges"] = [None]  # once a TypeError out of read_latest
    write(path, json.dumps(bad).encode() + b"\n" + step_line("r2", 1, N))
    batch = read_latest(path)
    assert batch.records == [] and batch.status.skipped == {"schema": 1, "orphan": 1}

"""Fault injection against a real writer process, followed with file events and with polling.

Each scenario follows reliability.md §1: a separate process writes real records (one
``os.write`` each) while the file is truncated, renamed, deleted, created late, or fed
garbage. The assertion is exact: the records read are the complete, valid records
written (in order), and every skip is counted by reason. Every scenario runs twice, as
coreutils runs its tail tests: with the native observer and with polling only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gradtop.history import History
from tests.reader.gradwriter import Writer, step_line
from tests.reader.reader_harness import Collector, header_key, step_keys

N = 3  # parameters per run: small lines keep the tests fast

MODES = [pytest.param(False, id="native"), pytest.param(True, id="polling")]


@pytest.fixture(params=MODES)
def poll(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "run.jsonl"


@pytest.fixture
def writer(path: Path) -> Iterator[Writer]:
    w = Writer(path)
    yield w
    w.close()


@pytest.fixture
def collector(path: Path, poll: bool) -> Iterator[Collector]:
    c = Collector(path, poll=poll)
    yield c
    c.close()


def test_half_written_line_waits_for_its_newline(
    path: Path, writer: Writer, collector: Collector
) -> None:
    writer.header("r1", N)
    collector.wait_records(1)
    line = step_line("r1", 1, N)
    writer.raw(line[:10])  # '{"kind":"s' and nothing else yet
    collector.wait_for(lambda c: c.status.partial == 10)
    assert collector.keys() == [header_key("r1")]
    writer.raw(line[10:])
    collector.wait_records(2)
    assert collector.keys() == [header_key("r1"), *step_keys("r1", 1, 1)]
    assert collector.status.skipped == {} and collector.status.partial == 0


def test_copytruncate_then_regrow(path: Path, writer: Writer, collector: Collector) -> None:
    writer.header("r1", N)
    writer.steps("r1", 1, 5, N)
    collector.wait_records(6)
    os.truncate(path, 0)  # logrotate copytruncate; the writer keeps its O_APPEND descriptor
    writer.steps("r1", 6, 3, N)
    collector.wait_for(lambda c: len(c.records) >= 9 and c.status.truncations == 1)
    # The header went with the copy, yet the steps after it still belong to run r1.
    assert collector.keys() == [header_key("r1"), *step_keys("r1", 1, 8)]
    assert collector.status.skipped == {}


def test_rename_and_recreate_finishes_the_old_file_first(
    path: Path, writer: Writer, collector: Collector
) -> None:
    writer.header("r1", N)
    writer.steps("r1", 1, 3, N)
    collector.wait_records(4)
    os.rename(path, path.with_suffix(".jsonl.1"))
    writer.steps("r1", 4, 2, N)  # still lands in the renamed file
    writer.do("reopen")
    writer.header("r2", N)
    writer.steps("r2", 1, 3, N)
    collector.wait_records(10)
    assert collector.keys() == [
        header_key("r1"),
        *step_keys("r1", 1, 5),
        header_key("r2"),
        *step_keys("r2", 1, 3),
    ]
    assert collector.status.rotations == 1 and collector.status.state == "following"
    assert collector.status.skipped == {}


def test_a_writer_reopening_with_its_own_header_continues_the_run(
    path: Path, writer: Writer, collector: Collector
) -> None:
    """What the Logger does after a rotation: the same header (same run id) again, then on."""
    writer.header("r1", N)
    writer.steps("r1", 1, 100, N)
    collector.wait_records(101)
    os.rename(path, path.with_suffix(".jsonl.1"))
    writer.do("reopen")
    writer.header("r1", N)
    writer.steps("r1", 101, 3, N)
    collector.wait_records(105)
    assert collector.keys() == [
        header_key("r1"),
        *step_keys("r1", 1, 100),
        header_key("r1"),
        *step_keys("r1", 101, 3),
    ]
    assert collector.status.rotations == 1 and collector.status.skipped == {}
    history = History()
    history.extend(collector.records)
    run = history.runs["r1"]
    assert list(history.runs) == ["r1"] and history.continued == 1
    assert (run.steps, run.first_step, run.last_step) == (103, 1, 103)


def test_delete_reads_the_unlinked_file_then_waits_for_a_new_one(
    path: Path, writer: Writer, collector: Collector
) -> None:
    writer.header("r1", N)
    writer.steps("r1", 1, 2, N)
    collector.wait_records(3)
    os.unlink(path)
    writer.steps("r1", 3, 2, N)  # the writer's descriptor still points at the unlinked file
    collector.wait_for(lambda c: len(c.records) >= 5 and c.status.state == "deleted")
    writer.do("reopen")
    writer.header("r2", N)
    writer.steps("r2", 1, 1, N)
    collector.wait_for(lambda c: len(c.records) >= 7 and c.status.state == "following")
    assert collector.keys() == [
        header_key("r1"),
        *step_keys("r1", 1, 4),
        header_key("r2"),
        *step_keys("r2", 1, 1),
    ]
    assert collector.status.rotations == 1
    assert "deleted" in collector.states


def test_late_creation_with_missing_parent_directories(tmp_path: Path, poll: bool) -> None:
    path = tmp_path / "a" / "b" / "run.jsonl"
    collector = Collector(path, poll=poll)
    writer = Writer(path)
    try:
        collector.wait_for(lambda c: c.status.state == "waiting")
        path.parent.mkdir(parents=True)
        writer.header("r1", N)
        writer.steps("r1", 1, 4, N)
        collector.wait_records(5)
        assert collector.keys() == [header_key("r1"), *step_keys("r1", 1, 4)]
        assert collector.status.state == "following" and collector.status.skipped == {}
    finally:
        writer.close()
        collector.close()


def test_garbage_nul_runs_and_bad_bytes_are_counted_and_good_lines_kept(
    writer: Writer, collector: Collector
) -> None:
    writer.header("r1", N)
    writer.steps("r1", 1, 1, N)
    writer.raw(b"this is not json\n")
    writer.raw(b'{"kind":"nope","run_id":"r1"}\n')
    writer.steps("r1", 2, 1, N)
    writer.raw(b"\xff\xfe{\n")
    writer.raw(b"\xff\0garbage\0\0x\n")  # NULs and bad UTF-8: one line, one skip
    writer.raw(b"\0" * 4096 + step_line("r1", 3, N))  # a sparse hole, then a record: kept
    writer.raw(step_line("ghost", 1, N))  # a run whose header was never written
    writer.steps("r1", 4, 1, N)
    collector.wait_records(5)
    assert collector.keys() == [header_key("r1"), *step_keys("r1", 1, 4)]
    collector.wait_for(lambda c: c.status.at_eof)
    assert collector.status.skipped == {
        "invalid_json": 1,
        "schema": 1,
        "encoding": 1,
        "nul": 1,
        "orphan": 1,
    }


def test_a_5_mib_line_between_two_good_lines(writer: Writer, collector: Collector) -> None:
    writer.header("r1", N)
    writer.steps("r1", 1, 1, N)
    writer.do("blob", byte="x", size=5 << 20)
    writer.steps("r1", 2, 1, N)
    collector.wait_records(3)
    assert collector.keys() == [header_key("r1"), *step_keys("r1", 1, 2)]
    assert collector.status.skipped == {"overlong": 1}


def test_writer_killed_mid_record_then_restarted(path: Path, collector: Collector) -> None:
    first = Writer(path)
    first.header("r1", N)
    first.steps("r1", 1, 3, N)
    first.do("half", run="r1", seq=4, n=N, cut=25)
    first.kill()
    first.close()
    collector.wait_for(lambda c: len(c.records) >= 4 and c.status.partial == 25)
    second = Writer(path)
    try:
        second.do("repair")  # the Logger's rule: end a torn line before appending
        second.header("r2", N)
        second.steps("r2", 1, 2, N)
        collector.wait_records(7)
    finally:
        second.close()
    assert collector.keys() == [
        header_key("r1"),
        *step_keys("r1", 1, 3),
        header_key("r2"),
        *step_keys("r2", 1, 2),
    ]
    assert collector.status.skipped == {"invalid_json": 1} and collector.status.partial == 0


def test_ten_thousand_appends_in_a_burst(writer: Writer, collector: Collector) -> None:
    writer.header("r1", 1)
    writer.steps("r1", 1, 10_000, 1)
    collector.wait_records(10_001)
    keys = collector.keys()
    assert keys == [header_key("r1"), *step_keys("r1", 1, 10_000)]
    assert collector.status.skipped == {}

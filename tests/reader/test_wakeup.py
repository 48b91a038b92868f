"""Events are only hints: ticks deliver without them, and the observer cannot be killed for good.

reliability.md §2: inotify is silent on network filesystems, an exception in a handler
kills watchdog's observer thread, and kernel limits make it unavailable. These tests
drive each of those for real (a real observer, a real fd limit in a child process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gradtop.reader import FileReader, FileSource, FollowStats, Wakeup, follow
from gradtop.reader.filesystems import (
    filesystem_type,
    is_remote,
    nearest_existing_dir,
    parse_mounts,
)
from tests.reader.gradwriter import Writer

LONG_TICK = 60.0  # so that only a file event can end a wait quickly


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[Writer]:
    w = Writer(tmp_path / "run.jsonl")
    yield w
    w.close()


def _until(condition: Callable[[], bool], deadline: float = 10.0) -> None:
    """Wait until ``condition`` holds (another thread makes it so), or fail at the deadline."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def _wait_for_hint(wakeup: Wakeup, hints_before: int) -> None:
    """Wait (bounded by the long tick) until a hint newer than ``hints_before`` arrived."""
    while wakeup.hints <= hints_before:
        assert wakeup.wait(), "the wait ended by a tick, not by a file event"


def test_without_events_data_arrives_within_two_ticks(tmp_path: Path, writer: Writer) -> None:
    writer.header("r1", 2)
    source = FileSource(tmp_path / "run.jsonl", poll=True, tick=0.05)
    with FileReader(source) as reader:
        assert source.mode == "polling" and source.reason == "--poll"
        turns = (turn for turn in follow(reader, tick=0.05) if turn.changed)
        turn = next(turns)
        assert len(turn.batch.records) == 1 and turn.caught_up
        writer.steps("r1", 1, 5, 2)  # returns once the bytes are in the file
        ticks = source.wakeup.ticks
        turn = next(turns)
        assert len(turn.batch.records) == 5
        assert source.wakeup.ticks - ticks <= 2


def test_native_events_wake_the_reader_long_before_a_tick(tmp_path: Path, writer: Writer) -> None:
    writer.header("r1", 2)
    with Wakeup(tmp_path / "run.jsonl", poll=False, tick=LONG_TICK) as wakeup:
        assert wakeup.mode == "native" and wakeup.watched == str(tmp_path)
        writer.steps("r1", 1, 1, 2)
        _wait_for_hint(wakeup, 0)
        assert wakeup.ticks == 0


def test_a_raising_hint_callback_does_not_stop_later_updates(
    tmp_path: Path, writer: Writer
) -> None:
    calls = []

    def explode() -> None:
        calls.append(1)
        raise RuntimeError("a bug in the caller's callback")

    writer.header("r1", 2)
    with Wakeup(tmp_path / "run.jsonl", poll=False, tick=LONG_TICK, on_hint=explode) as wakeup:
        for i in range(3):
            before = wakeup.hints
            writer.steps("r1", i + 1, 1, 2)
            _wait_for_hint(wakeup, before)
        assert len(calls) >= 3
        assert wakeup.observer is not None and wakeup.observer.is_alive()
        assert wakeup.restarts == 0


def test_a_dead_observer_is_noticed_and_replaced(tmp_path: Path, writer: Writer) -> None:
    writer.header("r1", 2)
    with Wakeup(tmp_path / "run.jsonl", poll=False, tick=LONG_TICK) as wakeup:
        old = wakeup.observer
        assert old is not None
        old.stop()
        old.join(timeout=10)
        assert not old.is_alive()
        assert wakeup.wait(timeout=0)  # every wait checks the observer; a restart is a hint
        assert wakeup.restarts == 1 and wakeup.observer is not old
        assert wakeup.observer is not None and wakeup.observer.is_alive()
        before = wakeup.hints
        writer.steps("r1", 1, 1, 2)
        _wait_for_hint(wakeup, before)


def test_the_watch_moves_closer_as_missing_directories_appear(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "run.jsonl"
    with Wakeup(path, poll=False, tick=LONG_TICK) as wakeup:
        assert wakeup.watched == str(tmp_path)
        (tmp_path / "a").mkdir()
        # Woken by the creation event, or at once because the watch moved (which loses
        # events, so a moved watch is itself a hint): never by the long tick.
        assert wakeup.wait()
        wakeup.wait(timeout=0)
        assert wakeup.watched == str(tmp_path / "a")
        (tmp_path / "a" / "b").mkdir()
        assert wakeup.wait()
        wakeup.wait(timeout=0)
        assert wakeup.watched == str(tmp_path / "a" / "b") and wakeup.restarts == 0
        before = wakeup.hints
        (tmp_path / "a" / "b" / "run.jsonl").write_bytes(b"{}\n")
        _wait_for_hint(wakeup, before)


def test_events_for_other_files_in_the_directory_are_not_hints(tmp_path: Path) -> None:
    with Wakeup(tmp_path / "run.jsonl", poll=False, tick=LONG_TICK) as wakeup:
        for i in range(50):  # distinct files, so the observer cannot coalesce their events
            (tmp_path / f"checkpoint-{i}.pt").write_bytes(b"x")
        (tmp_path / "run.jsonl").write_bytes(b"{}\n")
        _wait_for_hint(wakeup, 0)
        # Events arrive in order, so all 150+ checkpoint events were handled before ours;
        # only the few about run.jsonl (create, modify, close) may have counted.
        assert 1 <= wakeup.hints <= 5


def test_out_of_file_descriptors_falls_back_to_polling(tmp_path: Path) -> None:
    """EMFILE at inotify_init, for real: a child process exhausts its own fd limit."""
    code = f"""
import os, resource
from gradtop.reader import Wakeup
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
fds = []
try:
    while True:
        fds.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
w = Wakeup({str(tmp_path / "run.jsonl")!r}, tick=0.01)
for fd in fds:
    os.close(fd)
w.wait()
print(w.mode, "|", w.reason)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "polling | inotify instance limit reached"


def test_remote_filesystems_are_detected_from_proc_mounts() -> None:
    mounts = parse_mounts(
        "/dev/vda / ext4 rw 0 0\n"
        "srv:/export /mnt/nfs nfs4 rw 0 0\n"
        "//srv/share /mnt/my\\040share cifs rw 0 0\n"
        "me@box: /home/me/remote fuse.sshfs rw 0 0\n"
        "myfs /mnt/host virtiofs rw 0 0\n"
        "vagrant /vagrant vboxsf rw 0 0\n"
    )
    assert filesystem_type("/mnt/nfs/run/run.jsonl", mounts) == "nfs4"
    assert filesystem_type("/mnt/my share/x", mounts) == "cifs"
    assert filesystem_type("/home/me/remote/a", mounts) == "fuse.sshfs"
    assert filesystem_type("/mnt/nfsnot/x", mounts) == "ext4"  # a prefix is not a parent
    assert filesystem_type("/mnt/host/runs/a.jsonl", mounts) == "virtiofs"
    assert filesystem_type("/vagrant/run.jsonl", mounts) == "vboxsf"
    remote = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "9p", "lustre", "gpfs")
    for fstype in (*remote, "virtiofs", "vboxsf", "vmhgfs", "prl_fs"):
        assert is_remote(fstype), fstype
    for fstype in ("ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "fuseblk"):
        assert not is_remote(fstype), fstype


def test_this_machines_filesystem_is_found(tmp_path: Path) -> None:
    if not os.path.exists("/proc/mounts"):
        pytest.skip("no /proc/mounts on this platform")
    assert filesystem_type(str(tmp_path)) is not None
    assert nearest_existing_dir(str(tmp_path / "x" / "y" / "z.jsonl")) == str(tmp_path)


def test_stop_from_another_thread_ends_follow_promptly(tmp_path: Path) -> None:
    reader = FileReader(FileSource(tmp_path / "run.jsonl", poll=True, tick=LONG_TICK))
    stop, done, stats = threading.Event(), threading.Event(), FollowStats()

    def run() -> None:
        for _ in follow(reader, stop=stop, tick=LONG_TICK, stats=stats):
            pass
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    # The first wait returns at once (a new watch is a hint); after the second read the
    # loop is in, or entering, a minute-long wait.
    _until(lambda: stats.reads >= 2)
    assert not done.is_set()
    stop.set()
    reader.source.wake()  # ends the long wait at once
    assert done.wait(timeout=10)
    reader.close()


def test_paused_follow_reads_nothing_until_resumed(tmp_path: Path, writer: Writer) -> None:
    writer.header("r1", 2)
    reader = FileReader(FileSource(tmp_path / "run.jsonl", poll=True, tick=0.05))
    stop, resume, stats = threading.Event(), threading.Event(), FollowStats()
    records: list[object] = []

    def run() -> None:
        for turn in follow(reader, stop=stop, resume=resume, tick=0.05, stats=stats):
            records.extend(turn.batch.records)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        _until(lambda: stats.paused_waits >= 3)  # paused from the start: one wait a tick
        assert stats.reads == 0 and records == []
        resume.set()
        _until(lambda: len(records) == 1)
        assert stats.reads >= 1
    finally:
        stop.set()
        resume.set()
        reader.source.wake()
        thread.join(timeout=10)
        reader.close()
    assert not thread.is_alive()
